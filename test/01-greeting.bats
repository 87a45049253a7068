load helper

@test "the greeting is 220 and names the -h host" {
	run -0 --separate-stderr smtp -- QUIT
	smtp_ok 220 221
	[[ ${lines[0]} == "220 mx.test.example"* ]]
}

@test "QUIT is answered 221 2.0.0 and smtpd exits 0" {
	run -0 --separate-stderr smtp -- QUIT
	smtp_ok 220 221
	esc_is 2 2.0.0
}

@test "commands after QUIT are not answered" {
	run -0 --separate-stderr smtp -- QUIT NOOP "HELO client.example"
	smtp_ok 220 221
}

@test "EOF right after the greeting exits 0" {
	run -0 --separate-stderr smtp --
	smtp_ok 220
}

@test "EOF in the middle of a session exits 0" {
	run -0 --separate-stderr smtp -- "HELO client.example" "MAIL FROM:<a@b.example>"
	smtp_ok 220 250 250
}

@test "HELO with a name is answered 250" {
	run -0 --separate-stderr smtp -- "HELO client.example" QUIT
	smtp_ok 220 250 221
}

@test "HELO without an argument is a 501 5.5.4 syntax error" {
	run -0 --separate-stderr smtp -- HELO QUIT
	smtp_ok 220 501 221
	esc_is 2 5.5.4
}

@test "EHLO without an argument is a 501 5.5.4 syntax error" {
	run -0 --separate-stderr smtp -- EHLO QUIT
	smtp_ok 220 501 221
	esc_is 2 5.5.4
}

@test "HELO or EHLO without an argument after a good HELO gets only the 501" {
	run -0 --separate-stderr smtp -- "HELO client.example" HELO EHLO \
	    "MAIL FROM:<a@b.example>" QUIT
	smtp_ok 220 250 501 501 250 221
	esc_is 3 5.5.4
	esc_is 4 5.5.4
}

@test "EHLO lists PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES and HELP one per line" {
	run -0 --separate-stderr smtp -- "EHLO client.example" QUIT
	smtp_ok 220 250 221
	[[ ${lines[1]} == "250-mx.test.example"* ]]
	keywords=$(ehlo_keywords)
	for kw in PIPELINING "SIZE 10240000" 8BITMIME ENHANCEDSTATUSCODES HELP; do
		if ! grep -qx -- "$kw" <<<"$keywords"; then
			printf 'missing EHLO line %s in:\n%s\n' "$kw" "$keywords" >&2
			return 1
		fi
	done
}

@test "EHLO advertises the -s limit as SIZE" {
	run -0 --separate-stderr smtp -s 5000 -- "EHLO client.example" QUIT
	smtp_ok 220 250 221
	ehlo_keywords | grep -qx "SIZE 5000"
}

@test "EHLO may be repeated and keeps the session usable" {
	run -0 --separate-stderr smtp -- "EHLO one.example" "EHLO two.example" \
	    "MAIL FROM:<a@b.example>" QUIT
	smtp_ok 220 250 250 250 221
}

@test "NOOP is answered 250 2.0.0" {
	run -0 --separate-stderr smtp -- "HELO client.example" NOOP QUIT
	smtp_ok 220 250 250 221
	esc_is 3 2.0.0
}

@test "HELP is a multi-line 214 reply naming every command" {
	run -0 --separate-stderr smtp -- "HELO client.example" HELP QUIT
	smtp_ok 220 250 214 221
	esc_is 3 2.*
	n=$(grep -c '^214-' <<<"$output")
	[ "$n" -ge 1 ]
	help=$(grep '^214' <<<"$output")
	for verb in HELO EHLO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY EXPN TURN; do
		if ! grep -qw "$verb" <<<"$help"; then
			printf 'HELP does not name %s:\n%s\n' "$verb" "$help" >&2
			return 1
		fi
	done
}

@test "VRFY of an existing user is answered 252 2.5.0" {
	run -0 --separate-stderr smtp -- "HELO client.example" "VRFY alice" QUIT
	smtp_ok 220 250 252 221
	esc_is 3 2.5.0
}

@test "VRFY of an unknown user is answered 252 2.5.0 as well" {
	run -0 --separate-stderr smtp -- "HELO client.example" "VRFY nosuchuser" \
	    "VRFY <nosuchuser@mx.test.example>" QUIT
	smtp_ok 220 250 252 252 221
	esc_is 3 2.5.0
	esc_is 4 2.5.0
}

@test "EXPN is not available: 502 5.5.1" {
	run -0 --separate-stderr smtp -- "HELO client.example" "EXPN alice" QUIT
	smtp_ok 220 250 502 221
	esc_is 3 5.5.1
}

@test "TURN is not implemented: 502 5.5.1" {
	run -0 --separate-stderr smtp -- "HELO client.example" TURN QUIT
	smtp_ok 220 250 502 221
	esc_is 3 5.5.1
}

@test "an unknown verb is answered 500 5.5.2" {
	run -0 --separate-stderr smtp -- "HELO client.example" "FROB x" XYZZY QUIT
	smtp_ok 220 250 500 500 221
	esc_is 3 5.5.2
	esc_is 4 5.5.2
}

@test "commands are case-insensitive" {
	run -0 --separate-stderr smtp -- "helo client.example" "mail from:<a@b.example>" \
	    "rcpt to:<alice@mx.test.example>" data "Subject: lower" "" "body" . \
	    "rSeT" "nOoP" quit
	smtp_ok 220 250 250 250 354 250 250 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "every reply but the greeting, HELO/EHLO and 354 carries an enhanced code" {
	run -0 --separate-stderr smtp -- "EHLO client.example" NOOP "VRFY x" HELP \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" \
	    "RCPT TO:<nobody@mx.test.example>" "RCPT TO:<x@elsewhere.example>" \
	    DATA "Subject: t" "" "body" . \
	    "RCPT TO:<alice@mx.test.example>" FROB EXPN TURN "MAIL FROM:<a@b.example> SIZE=abc" RSET QUIT
	smtp_ok 220 250 250 252 214 250 250 550 550 354 250 503 500 502 502 501 250 221
	escs_are - - 2.0.0 2.5.0 2.0.0 2.1.0 2.1.5 5.1.1 5.7.1 - 2.0.0 5.5.1 5.5.2 5.5.1 5.5.1 5.5.4 2.0.0 2.0.0
}
