load helper

@test "MAIL before HELO is a 503 5.5.1 sequence error" {
	run -0 --separate-stderr smtp -- "MAIL FROM:<a@b.example>" QUIT
	smtp_ok 220 503 221
	esc_is 2 5.5.1
}

@test "RCPT before MAIL is a sequence error" {
	run -0 --separate-stderr smtp -- "HELO client" "RCPT TO:<alice@mx.test.example>" QUIT
	smtp_ok 220 250 503 221
	esc_is 3 5.5.1
}

@test "DATA before MAIL is a sequence error" {
	run -0 --separate-stderr smtp -- "HELO client" DATA QUIT
	smtp_ok 220 250 503 221
	esc_is 3 5.5.1
}

@test "DATA before any RCPT is a sequence error" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" DATA QUIT
	smtp_ok 220 250 250 503 221
	esc_is 4 5.5.1
}

@test "a second MAIL inside a transaction is a sequence error" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "MAIL FROM:<c@d.example>" "RCPT TO:<alice@mx.test.example>" \
	    "MAIL FROM:<c@d.example>" QUIT
	smtp_ok 220 250 250 503 250 503 221
	esc_is 4 5.5.1
	esc_is 6 5.5.1
}

@test "MAIL FROM with an address is answered 250 2.1.0" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" QUIT
	smtp_ok 220 250 250 221
	esc_is 3 2.1.0
}

@test "the null reverse-path MAIL FROM:<> is accepted" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<>" QUIT
	smtp_ok 220 250 250 221
	esc_is 3 2.1.0
}

@test "a space after the colon of MAIL FROM: is tolerated" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM: <a@b.example>" QUIT
	smtp_ok 220 250 250 221
	esc_is 3 2.1.0
}

@test "MAIL FROM with half its angle brackets or none at all is a 501 5.1.7 sender syntax error" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:a@b.example>" \
	    "MAIL FROM:<a@b.example" "MAIL FROM:" "MAIL FROM:<a@b.example>" QUIT
	smtp_ok 220 250 501 501 501 250 221
	esc_is 3 5.1.7
	esc_is 4 5.1.7
	esc_is 5 5.1.7
}

@test "MAIL FROM with a garbage address is a 501 5.1.7 sender syntax error" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<@@>" "MAIL FROM:<a@@b>" QUIT
	smtp_ok 220 250 501 501 221
	esc_is 3 5.1.7
	esc_is 4 5.1.7
}

@test "RCPT TO with bad syntax is a 501 5.1.3 recipient syntax error" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:alice@mx.test.example>" "RCPT TO:<alice@mx.test.example" "RCPT TO:" \
	    "RCPT TO:<alice@mx.test.example>" QUIT
	smtp_ok 220 250 250 501 501 501 250 221
	esc_is 4 5.1.3
	esc_is 5 5.1.3
	esc_is 6 5.1.3
}

@test "an unknown MAIL parameter is answered 555 5.5.4" {
	run -0 --separate-stderr smtp -- "EHLO client" "MAIL FROM:<a@b.example> FOO=bar" \
	    "MAIL FROM:<a@b.example>" QUIT
	smtp_ok 220 250 555 250 221
	esc_is 3 5.5.4
}

@test "MAIL SIZE within the -s limit is accepted" {
	run -0 --separate-stderr smtp -s 1000 -- "EHLO client" \
	    "MAIL FROM:<a@b.example> SIZE=1000" QUIT
	smtp_ok 220 250 250 221
	esc_is 3 2.1.0
}

@test "MAIL SIZE over the -s limit is answered 552 5.3.4" {
	run -0 --separate-stderr smtp -s 1000 -- "EHLO client" \
	    "MAIL FROM:<a@b.example> SIZE=1001" "RCPT TO:<alice@mx.test.example>" QUIT
	smtp_ok 220 250 552 503 221
	esc_is 3 5.3.4
}

@test "a non-numeric MAIL SIZE is a 501 5.5.4 syntax error" {
	run -0 --separate-stderr smtp -- "EHLO client" "MAIL FROM:<a@b.example> SIZE=abc" QUIT
	smtp_ok 220 250 501 221
	esc_is 3 5.5.4
}

@test "MAIL BODY=7BIT and BODY=8BITMIME are accepted" {
	run -0 --separate-stderr smtp -- "EHLO client" "MAIL FROM:<a@b.example> BODY=7BIT" \
	    RSET "MAIL FROM:<a@b.example> BODY=8BITMIME" QUIT
	smtp_ok 220 250 250 250 250 221
	esc_is 3 2.1.0
	esc_is 5 2.1.0
}

@test "MAIL BODY with another value is a 501 5.5.4 syntax error" {
	run -0 --separate-stderr smtp -- "EHLO client" "MAIL FROM:<a@b.example> BODY=BINARYMIME" QUIT
	smtp_ok 220 250 501 221
	esc_is 3 5.5.4
}

@test "RSET is answered 250 2.0.0 and ends the transaction" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" RSET "RCPT TO:<alice@mx.test.example>" DATA \
	    "MAIL FROM:<c@d.example>" QUIT
	smtp_ok 220 250 250 250 250 503 503 250 221
	esc_is 5 2.0.0
}

@test "RSET drops the recipients, so nothing is delivered" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" RSET "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<bob@mx.test.example>" DATA "Subject: t" "" "body" . QUIT
	smtp_ok 220 250 250 250 250 250 250 354 250 221
	count_is 0 mbox_count "$MAIL/alice"
	count_is 1 maildir_count "$MAIL/bob"
}

@test "RCPT to a local mbox user and a local Maildir user is answered 250 2.1.5" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" "RCPT TO:<bob@mx.test.example>" QUIT
	smtp_ok 220 250 250 250 250 221
	esc_is 4 2.1.5
	esc_is 5 2.1.5
}

@test "RCPT to a non-local domain is refused 550 5.7.1" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@elsewhere.example>" "RCPT TO:<alice@test.example>" \
	    "RCPT TO:<alice@sub.mx.test.example>" QUIT
	smtp_ok 220 250 250 550 550 550 221
	esc_is 4 5.7.1
	esc_is 5 5.7.1
	esc_is 6 5.7.1
}

@test "RCPT to an unknown local user is refused 550 5.1.1" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<nosuchuser@mx.test.example>" QUIT
	smtp_ok 220 250 250 550 221
	esc_is 4 5.1.1
}

@test "a refused RCPT leaves the transaction open for a good one" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<nosuchuser@mx.test.example>" "RCPT TO:<alice@mx.test.example>" \
	    DATA "Subject: t" "" "body" . QUIT
	smtp_ok 220 250 250 550 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "RCPT TO:<postmaster> without a domain is accepted in any case" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<postmaster>" "RCPT TO:<POSTMASTER>" "RCPT TO:<PostMaster>" QUIT
	smtp_ok 220 250 250 250 250 250 221
	esc_is 4 2.1.5
}

@test "the recipient domain is matched case-insensitively" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@MX.TEST.EXAMPLE>" "RCPT TO:<bob@Mx.Test.Example>" QUIT
	smtp_ok 220 250 250 250 250 221
}

@test "the local part is lower-cased for the user lookup" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<ALICE@mx.test.example>" "RCPT TO:<Bob@MX.TEST.EXAMPLE>" QUIT
	smtp_ok 220 250 250 250 250 221
}

@test "a source route in RCPT is accepted and ignored" {
	run -0 --separate-stderr send_to @a.example,@b.example:alice@mx.test.example -- "Subject: t" "" "body"
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "localhost is a local domain" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@localhost>" "RCPT TO:<bob@LOCALHOST>" QUIT
	smtp_ok 220 250 250 250 250 221
}

@test "-D adds a local domain and may be repeated" {
	run -0 --separate-stderr smtp -D extra.example -D other.example -- "HELO client" \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice@extra.example>" \
	    "RCPT TO:<bob@OTHER.example>" "RCPT TO:<alice@mx.test.example>" \
	    "RCPT TO:<alice@third.example>" QUIT
	smtp_ok 220 250 250 250 250 250 550 221
	esc_is 7 5.7.1
}

@test "-D domains are matched case-insensitively" {
	run -0 --separate-stderr send_to alice@extra.EXAMPLE -D Extra.Example -- "Subject: t" "" "body"
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "without -D the extra domain is not local" {
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@extra.example>" QUIT
	smtp_ok 220 250 250 550 221
	esc_is 4 5.7.1
}

@test "local parts with a slash, dot-dot or a leading dot never exist" {
	mkdir "$MAIL/a"
	: >"$MAIL/a/b"
	: >"$MAIL/.alice"
	chmod 0600 "$MAIL/a/b" "$MAIL/.alice"
	give_to_smtpd "$MAIL/a" "$MAIL/.alice"
	before=$(cd "$BATS_TEST_TMPDIR" && find . ! -name 'separate-stderr-*' | sort)
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    'RCPT TO:<"../etc/passwd"@mx.test.example>' \
	    'RCPT TO:<".alice"@mx.test.example>' \
	    'RCPT TO:<"a/b"@mx.test.example>' \
	    'RCPT TO:<"."@mx.test.example>' \
	    'RCPT TO:<".."@mx.test.example>' \
	    'RCPT TO:<"../mail/alice"@mx.test.example>' QUIT
	smtp_ok 220 250 250 550 550 550 550 550 550 221
	for n in 4 5 6 7 8 9; do
		esc_is "$n" 5.1.1
	done
	after=$(cd "$BATS_TEST_TMPDIR" && find . ! -name 'separate-stderr-*' | sort)
	diff <(echo "$before") <(echo "$after")
}

@test "a local part with a control character never exists" {
	# RFC 5321 4.1.2 has no control characters even in a quoted string,
	# so the address is bad syntax (501) before it could name a mailbox.
	: >"$MAIL/a"$'\001'"b"
	give_to_smtpd "$MAIL/a"$'\001'"b"
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<\"a"$'\001'"b\"@mx.test.example>" "RCPT TO:<\"a\\"$'\001'"b\"@mx.test.example>" \
	    "RCPT TO:<\"a"$'\033'"b\"@mx.test.example>" QUIT
	smtp_ok 220 250 250 501 501 501 221
	esc_is 4 5.1.3
}

@test "a dotlock name is never a mailbox" {
	: >"$MAIL/alice.lock"
	give_to_smtpd "$MAIL/alice.lock"
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice.lock@mx.test.example>" QUIT
	codes_are 220 250 250 550 221
	[ ! -s "$MAIL/alice.lock" ]
}

@test "a hostile recipient creates nothing outside the mail directory even with DATA" {
	before=$(cd "$BATS_TEST_TMPDIR" && find . ! -name 'separate-stderr-*' | sort)
	run -0 --separate-stderr smtp -- "HELO client" "MAIL FROM:<a@b.example>" \
	    'RCPT TO:<"../victim"@mx.test.example>' "RCPT TO:<alice@mx.test.example>" \
	    DATA "Subject: t" "" "body" . QUIT
	smtp_ok 220 250 250 550 250 354 250 221
	after=$(cd "$BATS_TEST_TMPDIR" && find . ! -name 'separate-stderr-*' | sort)
	diff <(echo "$before") <(echo "$after")
	[ ! -e "$BATS_TEST_TMPDIR/victim" ]
	count_is 1 mbox_count "$MAIL/alice"
}

@test "MAIL FROM and RCPT TO take a bare mailbox that is the whole argument" {
	run -0 --separate-stderr smtp -- "EHLO client" "MAIL FROM:a@b.example" \
	    "RCPT TO:alice@mx.test.example" "RCPT TO: bob@mx.test.example" DATA \
	    "Subject: bare" "" "hello" . QUIT
	smtp_ok 220 250 250 250 250 354 250 221
	esc_is 3 2.1.0
	esc_is 4 2.1.5
	[ "$(mbox_msg "$MAIL/alice" 1 header Return-Path)" = "<a@b.example>" ]
	[ "$(maildir_count "$MAIL/bob")" = 1 ]
}

@test "a bare mailbox with a blank, parameters, a route or nothing is a 501 syntax error" {
	# Without the brackets nothing may follow: SIZE=10 is not taken as a
	# parameter, nor as part of the address.
	run -0 --separate-stderr smtp -- "EHLO client" "MAIL FROM:a@b.example SIZE=10" \
	    'MAIL FROM:"a b"@b.example' "MAIL FROM:@r.example:a@b.example" \
	    "MAIL FROM:a@b.example BODY=8BITMIME" "MAIL FROM:<a@b.example> SIZE=10" \
	    "RCPT TO:alice@mx.test.example NOTIFY=NEVER" "RCPT TO:alice@mx.test.example <x>" \
	    "RCPT TO:<alice@mx.test.example>" QUIT
	smtp_ok 220 250 501 501 501 501 250 501 501 250 221
	for i in 3 4 5 6; do esc_is $i 5.1.7; done
	esc_is 8 5.1.3
	esc_is 9 5.1.3
}

@test "a bare null sender or a bare non-ASCII sender is refused" {
	run -0 --separate-stderr smtp -- "EHLO client" "MAIL FROM:" "MAIL FROM: " \
	    "MAIL FROM:jörg@b.example" QUIT
	smtp_ok 220 250 501 501 553 221
	esc_is 5 5.6.7
}
