load helper

# Start of a transaction to alice, as printf %b text.
START='HELO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@mx.test.example>\r\nDATA\r\n'

@test "DATA is answered 354 and the message 250 2.0.0" {
	run -0 --separate-stderr send_to alice -- "Subject: t" "" "hello"
	smtp_ok 220 250 250 250 354 250 221
	esc_is 6 2.0.0
	count_is 1 mbox_count "$MAIL/alice"
}

@test "after a message the session is back in the after-HELO state" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "Subject: t" "" "hello" . \
	    "RCPT TO:<alice@mx.test.example>" DATA "MAIL FROM:<a@b.example>" QUIT
	smtp_ok 220 250 250 250 354 250 503 503 250 221
}

@test "a whole pipelined session in one write gets every reply in order" {
	run -0 --separate-stderr smtp_bytes -- "EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@mx.test.example>\r\nRCPT TO:<nobody@mx.test.example>\r\nRCPT TO:<bob@mx.test.example>\r\nDATA\r\nSubject: one\r\n\r\nfirst\r\n.\r\nNOOP\r\nMAIL FROM:<>\r\nRCPT TO:<alice@mx.test.example>\r\nDATA\r\nSubject: two\r\n\r\nsecond\r\n.\r\nQUIT\r\n"
	smtp_ok 220 250 250 250 550 250 354 250 250 250 250 354 250 221
	count_is 2 mbox_count "$MAIL/alice"
	count_is 1 maildir_count "$MAIL/bob"
	[ "$(mbox_msg "$MAIL/alice" 1 body)" = first ]
	[ "$(mbox_msg "$MAIL/alice" 2 body)" = second ]
}

@test "one leading dot is removed from a data line" {
	run -0 --separate-stderr send_to alice -- "Subject: t" "" "..x" ".." "..." "a.b"
	smtp_ok 220 250 250 250 354 250 221
	[ "$(mbox_msg "$MAIL/alice" 1 body)" = $'.x\n.\n..\na.b' ]
}

@test "a dot that is not alone on its line does not end the data" {
	run -0 --separate-stderr send_to alice -- "Subject: t" "" ". " " ." "x." .x
	smtp_ok 220 250 250 250 354 250 221
	[ "$(mbox_msg "$MAIL/alice" 1 body)" = $' \n .\nx.\nx' ]
}

@test "an empty line before the dot is kept" {
	run -0 --separate-stderr send_to alice -- "Subject: t" "" "line" ""
	smtp_ok 220 250 250 250 354 250 221
	mbox_msg "$MAIL/alice" 1 body >"$BATS_TEST_TMPDIR/body"
	printf 'line\n\n' | cmp - "$BATS_TEST_TMPDIR/body"
}

@test "a message with a bare LF is refused 550 5.6.0 after the dot and the session goes on" {
	run -0 --separate-stderr smtp_bytes -- "${START}Subject: t\r\n\r\nbare\nlf\r\n.\r\nNOOP\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@mx.test.example>\r\nDATA\r\nSubject: ok\r\n\r\nclean\r\n.\r\nQUIT\r\n"
	smtp_ok 220 250 250 250 354 550 250 250 250 354 250 221
	esc_is 6 5.6.0
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 body)" = clean ]
}

@test "a bare LF in the headers is refused 550 5.6.0 as well" {
	run -0 --separate-stderr smtp_bytes -- "${START}Subject: t\nX-Other: y\r\n\r\nbody\r\n.\r\nQUIT\r\n"
	smtp_ok 220 250 250 250 354 550 221
	esc_is 6 5.6.0
	[ ! -s "$MAIL/alice" ]
}

@test "LF.LF does not end the data" {
	run -0 --separate-stderr smtp_bytes -- "${START}Subject: t\n\nbody\n.\nQUIT\r\n.\r\n"
	# QUIT was data; the message ends at the CRLF.CRLF and has bare LFs.
	smtp_ok 220 250 250 250 354 550
	esc_is 6 5.6.0
	[ ! -s "$MAIL/alice" ]
}

@test "smuggling with LF.CRLF does not run the smuggled commands" {
	run -0 --separate-stderr smtp_bytes -- "${START}Subject: t\r\n\r\nouter\r\n\n.\r\nMAIL FROM:<evil@evil.example>\r\nRCPT TO:<bob@mx.test.example>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\nQUIT\r\n"
	smtp_ok 220 250 250 250 354 550 221
	esc_is 6 5.6.0
	count_is 0 maildir_count "$MAIL/bob"
	[ ! -s "$MAIL/alice" ]
}

@test "smuggling with CRLF.LF does not run the smuggled commands" {
	run -0 --separate-stderr smtp_bytes -- "${START}Subject: t\r\n\r\nouter\r\n.\nMAIL FROM:<evil@evil.example>\r\nRCPT TO:<bob@mx.test.example>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\nQUIT\r\n"
	smtp_ok 220 250 250 250 354 550 221
	esc_is 6 5.6.0
	count_is 0 maildir_count "$MAIL/bob"
	[ ! -s "$MAIL/alice" ]
}

@test "smuggling with CR.CRLF keeps the smuggled commands inside one message" {
	run -0 --separate-stderr smtp_bytes -- "${START}Subject: t\r\n\r\nouter\r.\r\nMAIL FROM:<evil@evil.example>\r\nRCPT TO:<bob@mx.test.example>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\nQUIT\r\n"
	smtp_ok 220 250 250 250 354 250 221
	count_is 0 maildir_count "$MAIL/bob"
	count_is 1 mbox_count "$MAIL/alice"
	mbox_msg "$MAIL/alice" 1 body >"$BATS_TEST_TMPDIR/body"
	printf 'outer\r.\nMAIL FROM:<evil@evil.example>\nRCPT TO:<bob@mx.test.example>\nDATA\nSubject: smuggled\n\nevil\n' |
	    cmp - "$BATS_TEST_TMPDIR/body"
}

@test "a bare CR is data and is stored as it came" {
	run -0 --separate-stderr smtp_bytes -- "${START}Subject: t\r\n\r\na\rb\r\n\r\r\n.\r\nQUIT\r\n"
	smtp_ok 220 250 250 250 354 250 221
	mbox_msg "$MAIL/alice" 1 body >"$BATS_TEST_TMPDIR/body"
	printf 'a\rb\n\r\n' | cmp - "$BATS_TEST_TMPDIR/body"
}

@test "8-bit data passes through unchanged" {
	run -0 --separate-stderr smtp_bytes -- "EHLO client\r\nMAIL FROM:<a@b.example> BODY=8BITMIME\r\nRCPT TO:<alice@mx.test.example>\r\nDATA\r\nSubject: t\r\n\r\ncaf\xc3\xa9 \xff\xfe\x80\r\n.\r\nQUIT\r\n"
	smtp_ok 220 250 250 250 354 250 221
	mbox_msg "$MAIL/alice" 1 body >"$BATS_TEST_TMPDIR/body"
	printf 'caf\xc3\xa9 \xff\xfe\x80\n' | cmp - "$BATS_TEST_TMPDIR/body"
}

@test "a text line of 1000 octets with CRLF is accepted" {
	line=$(pad 998)
	run -0 --separate-stderr send_to alice -- "Subject: t" "" "$line"
	smtp_ok 220 250 250 250 354 250 221
	[ "$(mbox_msg "$MAIL/alice" 1 body)" = "$line" ]
}

@test "a text line over 1000 octets gets one 500 5.5.2 after the dot and nothing is stored" {
	line=$(pad 999)
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "Subject: t" "" "$line" "after" \
	    "$(pad 5000)" . NOOP QUIT
	smtp_ok 220 250 250 250 354 500 250 221
	esc_is 6 5.5.2
	[ ! -s "$MAIL/alice" ]
}

@test "after an overlong text line the next transaction is delivered" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "Subject: t" "" "$(pad 2000)" . \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" DATA \
	    "Subject: ok" "" "fine" . QUIT
	smtp_ok 220 250 250 250 354 500 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 body)" = fine ]
}

@test "a message of exactly -s bytes is accepted" {
	# Two lines of 48 octets plus CRLF: 100 octets.
	run -0 --separate-stderr send_to alice -s 100 -- "$(pad 48)" "$(pad 48)"
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "a message one byte over -s is refused 552 5.3.4 after the dot and nothing is stored" {
	run -0 --separate-stderr smtp -s 100 -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "$(pad 48)" "$(pad 49)" . NOOP QUIT
	smtp_ok 220 250 250 250 354 552 250 221
	esc_is 6 5.3.4
	[ ! -s "$MAIL/alice" ]
}

@test "a much larger message than -s is refused once and the session goes on" {
	lines=()
	for i in $(seq 50); do
		lines+=("$(pad 900)")
	done
	run -0 --separate-stderr smtp -s 1000 -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "${lines[@]}" . \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" DATA "small" . QUIT
	smtp_ok 220 250 250 250 354 552 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "the size limit counts the message after dot-unstuffing" {
	# On the wire each line is 49 octets plus CRLF; unstuffed, 48 plus CRLF.
	run -0 --separate-stderr send_to alice -s 100 -- "..$(pad 47)" "..$(pad 47)"
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
}
