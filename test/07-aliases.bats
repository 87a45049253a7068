#!/usr/bin/env bats
# Aliases (-a), forwarding replies, VRFY (-V) and EXPN (-E).

load helper

setup() {
	smtp_setup
	mkmbox carol
	ALIASES=$BATS_TEST_DIRNAME/fixtures/aliases
	agent_setup
}

@test "a list delivers one copy to each member, once per mailbox" {
	run -0 --separate-stderr smtp -a "$ALIASES" -- "HELO c" "MAIL FROM:<s@c.example>" \
		"RCPT TO:<staff@$HOST>" "RCPT TO:<team@$HOST>" "RCPT TO:<twice@$HOST>" \
		DATA "Subject: list" "" "hello" . QUIT
	smtp_ok 220 250 250 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	count_is 1 mbox_count "$MAIL/carol"
	count_is 1 maildir_count "$MAIL/bob"
}

@test "alias names match case-insensitively" {
	run -0 --separate-stderr smtp -a "$ALIASES" -- "HELO c" "MAIL FROM:<s@c.example>" \
		"RCPT TO:<STAFF@$HOST>" "RCPT TO:<tEaM@$HOST>" QUIT
	codes_are 220 250 250 250 250 221
}

@test "a remote alias without -f gets 551 naming the address" {
	run -0 --separate-stderr smtp -a "$ALIASES" -- "HELO c" "MAIL FROM:<s@c.example>" \
		"RCPT TO:<ext@$HOST>" QUIT
	codes_are 220 250 250 551 221
	esc_is 4 5.1.6
	[[ ${REPLY_LINES[3]} == *"<someone@remote.example>"* ]]
}

@test "a remote alias with -f gets 251 and the forwarder gets the message" {
	run -0 --separate-stderr smtp -a "$ALIASES" -f "$AGENT -f %s -- %r" -- \
		"HELO c" "MAIL FROM:<s@c.example>" "RCPT TO:<ext@$HOST>" DATA "Subject: fw" "" body . QUIT
	codes_are 220 250 250 251 354 250 221
	esc_is 4 2.1.5
	[[ ${REPLY_LINES[3]} == *"<someone@remote.example>"* ]]
	run_argv_is -f s@c.example -- someone@remote.example
	grep -qx body "$REC"/*.stdin
}

@test "a remote list member without -f is skipped, the others get the mail" {
	run -0 --separate-stderr smtp -a "$ALIASES" -- "HELO c" "MAIL FROM:<s@c.example>" \
		"RCPT TO:<mix@$HOST>" DATA x . QUIT
	codes_are 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "a remote list member with -f goes to the forwarder, once" {
	run -0 --separate-stderr smtp -a "$ALIASES" -f "$AGENT %r" -- "HELO c" \
		"MAIL FROM:<s@c.example>" "RCPT TO:<mix@$HOST>" "RCPT TO:<ext@$HOST>" DATA x . QUIT
	codes_are 220 250 250 250 251 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(cat "$REC"/*.argv | sort | tr '\n' ' ')" = "other@remote.example someone@remote.example " ]
}

@test "an alias loop resolves to no mailbox and is refused" {
	run -0 --separate-stderr smtp -a "$ALIASES" -- "HELO c" "MAIL FROM:<s@c.example>" \
		"RCPT TO:<loop1@$HOST>" QUIT
	codes_are 220 250 250 550 221
}

@test "a name met again in its own expansion means its mailbox" {
	mkmbox self
	run -0 --separate-stderr smtp -a "$ALIASES" -- "HELO c" "MAIL FROM:<s@c.example>" \
		"RCPT TO:<self@$HOST>" DATA x . QUIT
	codes_are 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/self"
	count_is 1 mbox_count "$MAIL/alice"
}

@test "aliases nested deeper than the limit are refused with 5.4.6" {
	run -0 --separate-stderr smtp -a "$ALIASES" -- "HELO c" "MAIL FROM:<s@c.example>" \
		"RCPT TO:<d0@$HOST>" "RCPT TO:<d3@$HOST>" QUIT
	codes_are 220 250 250 550 250 221
	esc_is 4 5.4.6
}

@test "an alias whose member has no mailbox is unknown without -m" {
	run -0 --separate-stderr smtp -a "$ALIASES" -- "HELO c" "MAIL FROM:<s@c.example>" \
		"RCPT TO:<ghost@$HOST>" QUIT
	codes_are 220 250 250 550 221
	esc_is 4 5.1.1
}

@test "a bad aliases file stops start-up before the greeting" {
	printf 'broken line without colon\n' >"$BATS_TEST_TMPDIR/bad"
	run -1 --separate-stderr smtp -a "$BATS_TEST_TMPDIR/bad" -- QUIT
	codes_are 421
	printf 'x: |/bin/sh -c id\n' >"$BATS_TEST_TMPDIR/bad"
	run -1 --separate-stderr smtp -a "$BATS_TEST_TMPDIR/bad" -- QUIT
	codes_are 421
}

@test "VRFY gives 252 for users and non-users alike without -V" {
	run -0 --separate-stderr smtp -a "$ALIASES" -- "HELO c" "VRFY alice" "VRFY nobodyhere" "VRFY staff" QUIT
	codes_are 220 250 252 252 252 221
	escs_are - - 2.5.0 2.5.0 2.5.0 2.0.0
}

@test "VRFY with -V answers from mailboxes and aliases" {
	mkmbox alicia
	run -0 --separate-stderr smtp -V -a "$ALIASES" -- "HELO c" "VRFY alice" \
		"VRFY <staff@$HOST>" "VRFY nosuch" "VRFY ali" "VRFY caro" "VRFY ext" "VRFY" QUIT
	codes_are 220 250 250 250 550 553 250 551 501 221
	escs_are - - 2.1.5 2.1.5 5.1.1 5.1.4 2.1.5 5.1.6 5.5.4 2.0.0
	[[ ${REPLY_LINES[2]} == *"<alice@$HOST>"* ]]
	[[ ${REPLY_LINES[6]} == *"<carol@$HOST>"* ]]
}

@test "VRFY of a forwarded alias with -f is 251" {
	run -0 --separate-stderr smtp -V -a "$ALIASES" -f "$AGENT %r" -- "HELO c" "VRFY ext" QUIT
	codes_are 220 250 251 221
}

@test "EXPN is 502 without -E" {
	run -0 --separate-stderr smtp -a "$ALIASES" -- "HELO c" "EXPN staff" QUIT
	codes_are 220 250 502 221
	esc_is 3 5.5.1
}

@test "EXPN with -E lists every member, one per line" {
	run -0 --separate-stderr smtp -E -a "$ALIASES" -- "EHLO c" "EXPN staff" "EXPN nosuch" "EXPN alice" QUIT
	codes_are 220 250 250 550 550 221
	ehlo_keywords | grep -qx EXPN
	[[ $output == *$'250-2.1.5 <alice@mx.test.example>\r\n250-2.1.5 <bob@mx.test.example>\r\n250 2.1.5 <carol@mx.test.example>\r\n'* ]]
	esc_is 4 5.1.1
}

@test "EXPN with -E of a nested list expands it fully" {
	run -0 --separate-stderr smtp -E -a "$ALIASES" -- "HELO c" "EXPN mix" QUIT
	codes_are 220 250 250 221
	[[ $output == *$'250-2.1.5 <alice@mx.test.example>\r\n250 2.1.5 <other@remote.example>\r\n'* ]]
}

# diamond FILE: ten aliases, each naming the next eight times, so that one
# expansion would meet 8^9 names.
diamond() {
	local i j
	for i in $(seq 0 8); do
		printf 'n%d:' "$i"
		for j in $(seq 8); do
			printf ' n%d,' $((i + 1))
		done
		printf ' alice\n'
	done >"$1"
	printf 'n9: alice\n' >>"$1"
}

@test "an alias whose expansion meets too many names is refused 550 5.2.4 at once" {
	diamond "$BATS_TEST_TMPDIR/diamond"
	run -0 --separate-stderr smtp -a "$BATS_TEST_TMPDIR/diamond" -E -- "HELO c" \
		"MAIL FROM:<s@c.example>" "RCPT TO:<n0@$HOST>" "RCPT TO:<n8@$HOST>" \
		"EXPN n0" DATA x . QUIT
	smtp_ok 220 250 250 550 250 550 354 250 221
	esc_is 4 5.2.4
	esc_is 6 5.2.4
	count_is 1 mbox_count "$MAIL/alice"
}

@test "an expansion that meets too many names is logged" {
	load launch
	needs_log
	diamond "$BATS_TEST_TMPDIR/diamond"
	run -0 --separate-stderr smtp_logged -a "$BATS_TEST_TMPDIR/diamond" -- "HELO c" \
		"MAIL FROM:<s@c.example>" "RCPT TO:<n0@$HOST>" QUIT
	codes_are 220 250 250 550 221
	log_has 'alias n0: expansion meets more than [0-9]+ names and addresses; refused'
	log_has ' refused client=local code=550 esc=5\.2\.4 cmd=RCPT arg=TO:<n0@mx\.test\.example> '
}

@test "an aliases file with CR LF line ends and continuation lines reads as with LF" {
	run -0 --separate-stderr smtp -a "$BATS_TEST_DIRNAME/fixtures/aliases-crlf" -- "HELO c" \
		"MAIL FROM:<s@c.example>" "RCPT TO:<other@$HOST>" DATA x . QUIT
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	count_is 1 mbox_count "$MAIL/carol"
	count_is 1 maildir_count "$MAIL/bob"
	count_is 1 mbox_count "$MAIL/postmaster"
}

@test "a CR inside a bad aliases line reaches the log escaped" {
	load launch
	needs_log
	printf 'x: bob\rcarol\r\n' >"$BATS_TEST_TMPDIR/bad"
	run -1 --separate-stderr smtp_logged -a "$BATS_TEST_TMPDIR/bad" -- QUIT
	smtp_ok 421
	log_has ':1: bad local name bob\\x0dcarol$'
	no_cr "$BATS_TEST_TMPDIR/syslog"
}
