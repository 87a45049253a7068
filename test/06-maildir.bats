load helper

MSG=("Subject: test" "" "hello")

@test "a message to a Maildir user appears in new/ and tmp/ is empty afterwards" {
	run -0 --separate-stderr send_to bob
	smtp_ok 220 250 250 250 354 250 221
	[ "$(find "$MAIL/bob/new" -type f | wc -l)" -eq 1 ]
	[ -z "$(ls -A "$MAIL/bob/tmp")" ]
	[ -z "$(ls -A "$MAIL/bob/cur")" ]
	count_is 1 maildir_count "$MAIL/bob"
	[ "$(maildir_msg "$MAIL/bob" 1 header Subject)" = test ]
	[ "$(maildir_msg "$MAIL/bob" 1 body)" = hello ]
}

@test "a Maildir message is stored with LF line ends and no CR" {
	run -0 --separate-stderr send_to bob -- "Subject: test" "" "one" "" "two"
	smtp_ok 220 250 250 250 354 250 221
	file=$(find "$MAIL/bob/new" -type f)
	no_cr "$file"
	maildir_msg "$MAIL/bob" 1 body >"$BATS_TEST_TMPDIR/body"
	printf 'one\n\ntwo\n' | cmp - "$BATS_TEST_TMPDIR/body"
}

@test "a Maildir message gets Return-Path, Delivered-To and Received on top and no From_ line" {
	TCPREMOTEIP=192.0.2.7 run -0 --separate-stderr send_to bob
	smtp_ok 220 250 250 250 354 250 221
	[ "$(maildir_msg "$MAIL/bob" 1 names)" = $'Return-Path\nDelivered-To\nReceived\nSubject' ]
	[ "$(maildir_msg "$MAIL/bob" 1 header Return-Path)" = "<a@b.example>" ]
	[ "$(maildir_msg "$MAIL/bob" 1 header Delivered-To)" = bob@mx.test.example ]
	rcvd=$(maildir_msg "$MAIL/bob" 1 header Received)
	re='^from client\.example \(\[192\.0\.2\.7\]\).* by mx\.test\.example( \([^)]*\))? with SMTP id [^ ;]+'
	[[ $rcvd =~ $re ]]
	[[ $rcvd == *"for <bob@mx.test.example>"* ]]
	file=$(find "$MAIL/bob/new" -type f)
	head -n 1 "$file" | grep -q '^Return-Path: <a@b\.example>$'
}

@test "Maildir bodies are stored without mboxrd quoting" {
	run -0 --separate-stderr send_to bob -- "Subject: test" "" "From x" ">From y"
	smtp_ok 220 250 250 250 354 250 221
	maildir_msg "$MAIL/bob" 1 body >"$BATS_TEST_TMPDIR/body"
	printf 'From x\n>From y\n' | cmp - "$BATS_TEST_TMPDIR/body"
}

@test "dot-stuffed lines are unstuffed in Maildir too" {
	run -0 --separate-stderr send_to bob -- "Subject: test" "" "..x" ".."
	smtp_ok 220 250 250 250 354 250 221
	[ "$(maildir_msg "$MAIL/bob" 1 body)" = $'.x\n.' ]
}

@test "two messages to a Maildir user are two files with different names" {
	run -0 --separate-stderr smtp -- "HELO client.example" \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<bob@mx.test.example>" DATA "Subject: one" "" "1" . \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<bob@mx.test.example>" DATA "Subject: two" "" "2" . QUIT
	smtp_ok 220 250 250 250 354 250 250 250 354 250 221
	[ "$(find "$MAIL/bob/new" -type f | wc -l)" -eq 2 ]
	count_is 2 maildir_count "$MAIL/bob"
	subjects=$( (maildir_msg "$MAIL/bob" 1 header Subject; maildir_msg "$MAIL/bob" 2 header Subject) | sort)
	[ "$subjects" = $'one\ntwo' ]
	[ -z "$(ls -A "$MAIL/bob/tmp")" ]
}

@test "messages in separate sessions add to an existing Maildir" {
	run -0 --separate-stderr send_to bob
	run -0 --separate-stderr send_to bob
	smtp_ok 220 250 250 250 354 250 221
	count_is 2 maildir_count "$MAIL/bob"
}

@test "mail to BOB@MX.TEST.EXAMPLE lands in bob's Maildir" {
	run -0 --separate-stderr send_to BOB@MX.TEST.EXAMPLE
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 maildir_count "$MAIL/bob"
	[ "$(maildir_msg "$MAIL/bob" 1 header Delivered-To)" = bob@mx.test.example ]
}

@test "alice and bob in one transaction each get a copy in their own format" {
	run -0 --separate-stderr smtp -- "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<bob@mx.test.example>" "RCPT TO:<alice@mx.test.example>" \
	    DATA "${MSG[@]}" . QUIT
	smtp_ok 220 250 250 250 250 354 250 221
	count_is 1 maildir_count "$MAIL/bob"
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(maildir_msg "$MAIL/bob" 1 body)" = hello ]
	[ "$(mbox_msg "$MAIL/alice" 1 body)" = hello ]
}

@test "a message already Delivered-To bob is a loop for bob: 554 5.4.6" {
	run -0 --separate-stderr send_to bob -- "Delivered-To: bob@mx.test.example" "Subject: loop" "" "x"
	smtp_ok 220 250 250 250 354 554 221
	esc_is 6 5.4.6
	count_is 0 maildir_count "$MAIL/bob"
	[ -z "$(ls -A "$MAIL/bob/tmp")" ]
}

@test "a too-big message leaves nothing in the Maildir" {
	run -0 --separate-stderr send_to bob -s 50 -- "Subject: test" "" \
	    "0123456789012345678901234567890123456789" "0123456789"
	smtp_ok 220 250 250 250 354 552 221
	esc_is 6 5.3.4
	count_is 0 maildir_count "$MAIL/bob"
	[ -z "$(ls -A "$MAIL/bob/tmp")" ]
}
