load helper

MSG=("Subject: test" "" "hello")

# received N: the unfolded Received header of message N in alice's mbox.
received() {
	mbox_msg "$MAIL/alice" "$1" header Received | head -n 1
}

@test "a message to an mbox user is appended and Python's mailbox reads it back" {
	run -0 --separate-stderr send_to alice
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Subject)" = test ]
	[ "$(mbox_msg "$MAIL/alice" 1 body)" = hello ]
}

@test "stored mbox lines end in LF without CR" {
	run -0 --separate-stderr send_to alice -- "Subject: test" "" "one" "two" "" "three"
	smtp_ok 220 250 250 250 354 250 221
	no_cr "$MAIL/alice"
	mbox_msg "$MAIL/alice" 1 body >"$BATS_TEST_TMPDIR/body"
	printf 'one\ntwo\n\nthree\n' | cmp - "$BATS_TEST_TMPDIR/body"
}

@test "the mbox From_ line names the sender and an asctime date" {
	run -0 --separate-stderr send_to alice
	head -n 1 "$MAIL/alice" | grep -q '^From a@b\.example '
	from=$(mbox_msg "$MAIL/alice" 1 from)
	[[ $from == "a@b.example "* ]]
	python3 -S -c 'import sys, time; time.strptime(sys.argv[1], "%a %b %d %H:%M:%S %Y")' "${from#a@b.example }"
	smtp_ok
}

@test "the From_ line of a null-sender message says MAILER-DAEMON" {
	run -0 --separate-stderr smtp -- "HELO client.example" "MAIL FROM:<>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "${MSG[@]}" . QUIT
	smtp_ok 220 250 250 250 354 250 221
	head -n 1 "$MAIL/alice" | grep -q '^From MAILER-DAEMON '
	[ "$(mbox_msg "$MAIL/alice" 1 header Return-Path)" = "<>" ]
}

@test "Return-Path, Delivered-To and Received are added on top in this order" {
	run -0 --separate-stderr send_to alice
	names=$(mbox_msg "$MAIL/alice" 1 names)
	[ "$names" = $'Return-Path\nDelivered-To\nReceived\nSubject' ]
	[ "$(mbox_msg "$MAIL/alice" 1 header Return-Path)" = "<a@b.example>" ]
	[ "$(mbox_msg "$MAIL/alice" 1 header Delivered-To)" = "alice@mx.test.example" ]
	smtp_ok
}

@test "Received names the HELO name, TCPREMOTEIP, the host, SMTP, the id, the recipient and a date" {
	TCPREMOTEIP=192.0.2.7 run -0 --separate-stderr send_to alice
	smtp_ok 220 250 250 250 354 250 221
	rcvd=$(received 1)
	echo "Received: $rcvd" >&2
	re='^from client\.example \(\[192\.0\.2\.7\]\).* by mx\.test\.example( \([^)]*\))? with SMTP id [^ ;]+.*; (.+)$'
	[[ $rcvd =~ $re ]]
	python3 -S -c 'import email.utils, sys; email.utils.parsedate_to_datetime(sys.argv[1])' "${BASH_REMATCH[2]}"
	[[ $rcvd == *"for <alice@mx.test.example>"* ]]
}

@test "Received says ESMTP after EHLO" {
	TCPREMOTEIP=192.0.2.7 run -0 --separate-stderr smtp -- "EHLO client.example" \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" DATA "${MSG[@]}" . QUIT
	smtp_ok 220 250 250 250 354 250 221
	rcvd=$(received 1)
	echo "Received: $rcvd" >&2
	re='^from client\.example \(\[192\.0\.2\.7\]\).* by mx\.test\.example( \([^)]*\))? with ESMTP id [^ ;]+'
	[[ $rcvd =~ $re ]]
}

@test "the Received id is the one in the 250 reply" {
	run -0 --separate-stderr send_to alice
	parse_replies
	id=${REPLY_LINES[5]##* }
	rcvd=$(received 1)
	echo "id: $id Received: $rcvd" >&2
	[[ $rcvd == *" id $id"[\ \;]* ]]
	smtp_ok
}

@test "REMOTE_ADDR is the client address when TCPREMOTEIP is unset" {
	REMOTE_ADDR=198.51.100.9 run -0 --separate-stderr send_to alice
	rcvd=$(received 1)
	echo "Received: $rcvd" >&2
	[[ $rcvd == "from client.example ([198.51.100.9])"* ]]
	smtp_ok
}

@test "TCPREMOTEIP wins over REMOTE_ADDR" {
	TCPREMOTEIP=192.0.2.7 REMOTE_ADDR=198.51.100.9 run -0 --separate-stderr \
	    send_to alice
	rcvd=$(received 1)
	echo "Received: $rcvd" >&2
	[[ $rcvd == "from client.example ([192.0.2.7])"* ]]
	smtp_ok
}

@test "body lines matching >*From get one more > in the mbox (mboxrd)" {
	run -0 --separate-stderr send_to alice -- "Subject: quoting" "" "From x" ">From y" \
	    ">>From z" "Fromage" " From w" "From"
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	grep -qx '>From x' "$MAIL/alice"
	grep -qx '>>From y' "$MAIL/alice"
	grep -qx '>>>From z' "$MAIL/alice"
	grep -qx 'Fromage' "$MAIL/alice"
	grep -qx ' From w' "$MAIL/alice"
	[ "$(grep -c '^From ' "$MAIL/alice")" -eq 1 ]
	# Python's mbox reader does not undo the quoting.
	mbox_msg "$MAIL/alice" 1 body >"$BATS_TEST_TMPDIR/body"
	printf '>From x\n>>From y\n>>>From z\nFromage\n From w\nFrom\n' |
	    cmp - "$BATS_TEST_TMPDIR/body"
}

@test "each message ends with a blank line and two messages read back as two" {
	run -0 --separate-stderr smtp -- "HELO client.example" \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" DATA \
	    "Subject: one" "" "first" . \
	    "MAIL FROM:<c@d.example>" "RCPT TO:<alice@mx.test.example>" DATA \
	    "Subject: two" "" "second" "" . QUIT
	smtp_ok 220 250 250 250 354 250 250 250 354 250 221
	count_is 2 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Subject)" = one ]
	[ "$(mbox_msg "$MAIL/alice" 2 header Subject)" = two ]
	[ "$(mbox_msg "$MAIL/alice" 2 from | cut -d' ' -f1)" = c@d.example ]
	[ "$(tail -c 2 "$MAIL/alice" | od -An -c | tr -d ' ')" = '\n\n' ]
	# The line before the second From_ line is empty.
	n=$(grep -n '^From ' "$MAIL/alice" | sed -n 2p | cut -d: -f1)
	[ "$(sed -n "$((n - 1))p" "$MAIL/alice")" = "" ]
}

@test "delivery appends to an mbox and leaves the old messages alone" {
	printf 'From old@old.example Mon Jan  1 00:00:00 2024\nSubject: old\n\nold body\n\n' >"$MAIL/alice"
	cp "$MAIL/alice" "$BATS_TEST_TMPDIR/old"
	run -0 --separate-stderr send_to alice
	smtp_ok 220 250 250 250 354 250 221
	count_is 2 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Subject)" = old ]
	[ "$(mbox_msg "$MAIL/alice" 2 header Subject)" = test ]
	size=$(stat -c %s "$BATS_TEST_TMPDIR/old")
	head -c "$size" "$MAIL/alice" | cmp - "$BATS_TEST_TMPDIR/old"
	[ "$(stat -c %a "$MAIL/alice")" = 600 ]
}

@test "mail to postmaster creates DIR/postmaster as an mbox of mode 0600" {
	[ ! -e "$MAIL/postmaster" ]
	run -0 --separate-stderr smtp -- "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<Postmaster>" DATA "${MSG[@]}" . QUIT
	smtp_ok 220 250 250 250 354 250 221
	[ -f "$MAIL/postmaster" ] && [ ! -L "$MAIL/postmaster" ]
	[ "$(stat -c %a "$MAIL/postmaster")" = 600 ]
	count_is 1 mbox_count "$MAIL/postmaster"
	[ "$(mbox_msg "$MAIL/postmaster" 1 header Delivered-To)" = postmaster@mx.test.example ]
}

@test "a second message to postmaster is appended to the same mbox" {
	run -0 --separate-stderr smtp -- "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<postmaster>" DATA "${MSG[@]}" . "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<postmaster@mx.test.example>" DATA "${MSG[@]}" . QUIT
	smtp_ok 220 250 250 250 354 250 250 250 354 250 221
	count_is 2 mbox_count "$MAIL/postmaster"
}

@test "mail to ALICE@MX.TEST.EXAMPLE lands in alice's mbox" {
	run -0 --separate-stderr send_to ALICE@MX.TEST.EXAMPLE
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Delivered-To)" = alice@mx.test.example ]
}

@test "two recipients in one transaction both get a copy" {
	run -0 --separate-stderr smtp -- "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" "RCPT TO:<bob@mx.test.example>" \
	    DATA "${MSG[@]}" . QUIT
	smtp_ok 220 250 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	count_is 1 maildir_count "$MAIL/bob"
	[ "$(mbox_msg "$MAIL/alice" 1 header Delivered-To)" = alice@mx.test.example ]
	[ "$(maildir_msg "$MAIL/bob" 1 header Delivered-To)" = bob@mx.test.example ]
	[ "$(mbox_msg "$MAIL/alice" 1 body)" = hello ]
	[ "$(maildir_msg "$MAIL/bob" 1 body)" = hello ]
}

@test "a message with more than 100 Received headers is a loop: 554 5.4.6" {
	hdrs=()
	for i in $(seq 101); do
		hdrs+=("Received: from hop$i.example by hop$((i + 1)).example; Mon, 1 Jan 2024 00:00:00 +0000")
	done
	run -0 --separate-stderr send_to alice -- "${hdrs[@]}" "Subject: loop" "" "body"
	smtp_ok 220 250 250 250 354 554 221
	esc_is 6 5.4.6
	[ ! -s "$MAIL/alice" ]
}

@test "a message with 100 Received headers is not a loop" {
	hdrs=()
	for i in $(seq 100); do
		hdrs+=("Received: from hop$i.example by hop$((i + 1)).example; Mon, 1 Jan 2024 00:00:00 +0000")
	done
	run -0 --separate-stderr send_to alice -- "${hdrs[@]}" "Subject: many hops" "" "body"
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "Received lines in the body do not count as hops" {
	body=()
	for i in $(seq 120); do
		body+=("Received: from hop$i.example")
	done
	run -0 --separate-stderr send_to alice -- "Subject: quoted" "" "${body[@]}"
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "a message already Delivered-To alice is a loop for alice: 554 5.4.6" {
	run -0 --separate-stderr send_to alice -- "Delivered-To: alice@mx.test.example" \
	    "Subject: loop" "" "body"
	smtp_ok 220 250 250 250 354 554 221
	esc_is 6 5.4.6
	[ ! -s "$MAIL/alice" ]
}

@test "a Delivered-To for someone else is not a loop" {
	run -0 --separate-stderr send_to alice -- "Delivered-To: bob@mx.test.example" \
	    "Subject: forwarded" "" "body"
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "an mbox that is a symlink is not written through" {
	printf 'From x@y Mon Jan  1 00:00:00 2024\nSubject: target\n\nkeep\n\n' >"$BATS_TEST_TMPDIR/target"
	chmod 0600 "$BATS_TEST_TMPDIR/target"
	cp "$BATS_TEST_TMPDIR/target" "$BATS_TEST_TMPDIR/copy"
	rm "$MAIL/alice"
	ln -s "$BATS_TEST_TMPDIR/target" "$MAIL/alice"
	give_to_smtpd "$BATS_TEST_TMPDIR/target"
	chown -h "${SMTPD_USER:-$(id -u)}" "$MAIL/alice"
	run -0 --separate-stderr send_to alice
	parse_replies
	got=" ${REPLY_CODES[*]} "
	# Refused at RCPT (550) or after the data (451 or 550), never accepted.
	case $got in
	" 220 250 250 550 "*|" 220 250 250 250 354 451 221 "|" 220 250 250 250 354 550 221 ")
		;;
	*)
		echo "unexpected replies:$got" >&2
		show_output
		return 1
		;;
	esac
	cmp "$BATS_TEST_TMPDIR/target" "$BATS_TEST_TMPDIR/copy"
	[ -L "$MAIL/alice" ]
	smtp_ok
}

@test "an mbox that cannot be written gives 451 4.3.0 and stays unchanged" {
	# As root the suite runs smtpd with -u, so the mode applies.
	printf 'From x@y Mon Jan  1 00:00:00 2024\nSubject: old\n\nkeep\n\n' >"$MAIL/alice"
	cp "$MAIL/alice" "$BATS_TEST_TMPDIR/copy"
	chmod 000 "$MAIL/alice"
	run -0 --separate-stderr send_to alice
	smtp_ok 220 250 250 250 354 451 221
	esc_is 6 4.3.0
	chmod 600 "$MAIL/alice"
	cmp "$MAIL/alice" "$BATS_TEST_TMPDIR/copy"
}

@test "a mailbox that is a FIFO is refused quickly with 451 4.3.0" {
	rm "$MAIL/alice"
	mkfifo -m 0600 "$MAIL/alice"
	give_to_smtpd "$MAIL/alice"
	start=$SECONDS
	run -0 --separate-stderr send_to alice
	[ $((SECONDS - start)) -lt 5 ]
	smtp_ok 220 250 250 250 354 451 221
	esc_is 6 4.3.0
	[ -p "$MAIL/alice" ]
}

@test "a fresh dotlock held by someone else gives 451 after -w seconds and the mbox is unchanged" {
	: >"$MAIL/alice.lock"
	give_to_smtpd "$MAIL/alice.lock"
	start=$SECONDS
	run -0 --separate-stderr send_to alice -w 1
	[ $((SECONDS - start)) -lt 8 ]
	smtp_ok 220 250 250 250 354 451 221
	esc_is 6 4.*
	[ ! -s "$MAIL/alice" ]
	[ -e "$MAIL/alice.lock" ]
}

@test "a dotlock older than 5 minutes is stale and ignored" {
	touch -d '10 minutes ago' "$MAIL/alice.lock"
	give_to_smtpd "$MAIL/alice.lock"
	run -0 --separate-stderr send_to alice -w 1
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "an fcntl lock held by another process gives 451 4.3.0 after -w seconds" {
	printf '%s\r\n' "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "${MSG[@]}" . QUIT >"$BATS_TEST_TMPDIR/in"
	run -0 --separate-stderr python3 -S -c '
import fcntl, subprocess, sys
with open(sys.argv[1], "r+") as f:
    fcntl.lockf(f, fcntl.LOCK_EX)
    sys.exit(subprocess.run(sys.argv[2:]).returncode)
' "$MAIL/alice" timeout 10 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -w 1 \
	    <"$BATS_TEST_TMPDIR/in"
	smtp_ok 220 250 250 250 354 451 221
	esc_is 6 4.3.0
	[ ! -s "$MAIL/alice" ]
}

@test "delivery leaves no dotlock behind" {
	run -0 --separate-stderr send_to alice
	smtp_ok 220 250 250 250 354 250 221
	[ ! -e "$MAIL/alice.lock" ]
}

@test "a HELO name cannot open a comment in Received: and a bogus TCPREMOTEIP is ignored" {
	TCPREMOTEIP='192.0.2.1) (evil' run -0 --separate-stderr smtp -- "HELO a(b)c" \
		"MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" DATA x . QUIT
	codes_are 220 250 250 250 354 250 221
	run -0 mbox_msg "$MAIL/alice" 1 header Received
	[[ $output == "from a_b_c by mx.test.example"* ]]
	[[ $output != *evil* ]]
	TCPREMOTEIP=2001:db8::7 run -0 --separate-stderr smtp -- "HELO c" \
		"MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" DATA x . QUIT
	run -0 mbox_msg "$MAIL/alice" 2 header Received
	[[ $output == "from c ([IPv6:2001:db8::7]) by"* ]]
}
