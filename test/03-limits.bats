load helper

@test "a command line of exactly 512 octets with CRLF is accepted" {
	line="VRFY $(pad 505)"
	[ "${#line}" -eq 510 ]
	run -0 --separate-stderr smtp -- "HELO client" "$line" QUIT
	smtp_ok 220 250 252 221
}

@test "a command line of 513 octets is answered 500 5.5.2 and the session goes on" {
	line="VRFY $(pad 506)"
	run -0 --separate-stderr smtp -- "HELO client" "$line" NOOP QUIT
	smtp_ok 220 250 500 250 221
	esc_is 3 5.5.2
}

@test "a very long command line gets one 500 reply, not one per chunk" {
	line="NOOP $(pad 10000)"
	run -0 --separate-stderr smtp -- "HELO client" "$line" NOOP QUIT
	smtp_ok 220 250 500 250 221
	esc_is 3 5.5.2
}

@test "an overlong command leaves the transaction state unchanged" {
	# Over the 1056 octets a RCPT line may have with DSN parameters.
	long="RCPT TO:<$(pad 1100)@mx.test.example>"
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" "$long" \
	    "RCPT TO:<alice@mx.test.example>" DATA "Subject: t" "" "body" . QUIT
	smtp_ok 220 250 250 500 250 354 250 221
	esc_is 4 5.5.2
	count_is 1 mbox_count "$MAIL/alice"
}

@test "an overlong HELO does not count as a greeting" {
	long="HELO $(pad 600)"
	run -0 --separate-stderr smtp -- "$long" "MAIL FROM:<a@b.example>" QUIT
	smtp_ok 220 500 503 221
}

@test "the 20th bad command in a row is followed by 421 4.7.0 and the end of the session" {
	cmds=()
	for i in $(seq 20); do
		cmds+=("FROB $i")
	done
	run --separate-stderr smtp -- "${cmds[@]}" NOOP QUIT
	[ "$status" -ne 124 ]
	want=(220)
	for i in $(seq 20); do
		want+=(500)
	done
	smtp_ok "${want[@]}" 421
	esc_is 22 4.7.0
}

@test "500, 501, 503 and 555 replies all count as bad commands" {
	cmds=("EHLO client")
	for i in 1 2 3 4; do
		cmds+=("FROB" "MAIL FROM:<a@b.example> SIZE=abc" "RCPT TO:<alice@mx.test.example>" \
		    "MAIL FROM:<a@b.example> FOO=bar" "MAIL FROM:a@b.example>")
	done
	run --separate-stderr smtp -- "${cmds[@]}" NOOP QUIT
	[ "$status" -ne 124 ]
	want=(220 250)
	for i in 1 2 3 4; do
		want+=(500 501 503 555 501)
	done
	smtp_ok "${want[@]}" 421
	esc_is 23 4.7.0
}

@test "19 bad commands in a row are not yet too many" {
	cmds=()
	for i in $(seq 19); do
		cmds+=("FROB $i")
	done
	run -0 --separate-stderr smtp -- "${cmds[@]}" QUIT
	want=(220)
	for i in $(seq 19); do
		want+=(500)
	done
	smtp_ok "${want[@]}" 221
}

@test "a good command resets the bad-command counter" {
	cmds=()
	want=(220)
	for i in $(seq 19); do
		cmds+=("FROB $i")
		want+=(500)
	done
	cmds+=("HELO client")
	want+=(250)
	for i in $(seq 19); do
		cmds+=("FROB $i")
		want+=(500)
	done
	cmds+=(NOOP)
	want+=(250)
	for i in $(seq 19); do
		cmds+=("FROB $i")
		want+=(500)
	done
	run -0 --separate-stderr smtp -- "${cmds[@]}" QUIT
	smtp_ok "${want[@]}" 221
}

@test "with -n 2 the third RCPT is refused 452 4.5.3 and the first two get the message" {
	run -0 --separate-stderr smtp -n 2 -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" "RCPT TO:<bob@mx.test.example>" \
	    "RCPT TO:<postmaster>" DATA "Subject: t" "" "body" . QUIT
	smtp_ok 220 250 250 250 250 452 354 250 221
	esc_is 6 4.5.3
	count_is 1 mbox_count "$MAIL/alice"
	count_is 1 maildir_count "$MAIL/bob"
	[ ! -e "$MAIL/postmaster" ]
}

@test "the -n limit is per transaction" {
	run -0 --separate-stderr smtp -n 1 -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" "RCPT TO:<bob@mx.test.example>" \
	    DATA "Subject: one" "" "body" . \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<bob@mx.test.example>" \
	    DATA "Subject: two" "" "body" . \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" RSET \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" QUIT
	smtp_ok 220 250 250 250 452 354 250 250 250 354 250 250 250 250 250 250 221
	count_is 1 mbox_count "$MAIL/alice"
	count_is 1 maildir_count "$MAIL/bob"
}

@test "an idle client is told 421 4.4.2 after -t seconds and smtpd exits 0" {
	run -0 --separate-stderr bash -c '{ printf "HELO x\r\n"; timeout 6 tail -f -s 0.1 /dev/null; } |
	    timeout 10 "$@" -h mx.test.example -t 1' _ "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL"
	smtp_ok 220 250 421
	esc_is 3 4.4.2
}

@test "a timeout in the middle of DATA stores nothing" {
	run -0 --separate-stderr bash -c '{ printf "HELO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@mx.test.example>\r\nDATA\r\nSubject: t\r\n\r\npartial\r\n"; timeout 6 tail -f -s 0.1 /dev/null; } |
	    timeout 10 "$@" -h mx.test.example -t 1' _ "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL"
	smtp_ok 220 250 250 250 354 421
	esc_is 6 4.4.2
	[ ! -s "$MAIL/alice" ]
}

# members_list NAME N: an alias NAME of N distinct members u1..uN.
members_list() {
	untraced _members_list "$@"
}

_members_list() {
	local i
	printf '%s:' "$1"
	for ((i = 1; i < $2; i++)); do
		printf ' u%d,' "$i"
		[ $((i % 10)) != 0 ] || printf '\n\t'
	done
	printf ' u%d\n' "$2"
}

@test "-n above the limit of 1000 recipients is refused at start-up" {
	run -1 --separate-stderr smtp -n 1001 -- QUIT
	smtp_ok 421
	esc_is 1 4.3.0
	run -0 --separate-stderr smtp -n 1000 -- QUIT
	codes_are 220 221
}

@test "an alias list of more than 1000 members is refused 550 5.2.4, also in a fresh transaction" {
	{ members_list big 1001; } >"$BATS_TEST_TMPDIR/aliases"
	run -0 --separate-stderr smtp -a "$BATS_TEST_TMPDIR/aliases" -m /bin/true -- \
		"HELO client" "MAIL FROM:<a@b.example>" "RCPT TO:<big@mx.test.example>" \
		"RCPT TO:<alice@mx.test.example>" RSET \
		"MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" \
		"RCPT TO:<big@mx.test.example>" QUIT
	smtp_ok 220 250 250 550 250 250 250 250 550 221
	esc_is 4 5.2.4
	esc_is 9 5.2.4
}

@test "a list that fits alone but not beside earlier recipients gets 452 4.5.3, then fits" {
	{ members_list big 1000; } >"$BATS_TEST_TMPDIR/aliases"
	run -0 --separate-stderr smtp -a "$BATS_TEST_TMPDIR/aliases" -m /bin/true -- \
		"HELO client" "MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" \
		"RCPT TO:<big@mx.test.example>" RSET \
		"MAIL FROM:<a@b.example>" "RCPT TO:<big@mx.test.example>" QUIT
	smtp_ok 220 250 250 250 452 250 250 250 221
	esc_is 5 4.5.3
}
