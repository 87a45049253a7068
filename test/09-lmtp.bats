#!/usr/bin/env bats
# LMTP (-L, RFC 2033): LHLO, and one reply per recipient after the data.

load helper
load launch

@test "LMTP greets, takes LHLO and refuses HELO and EHLO" {
	run -0 --separate-stderr smtp -L -- "HELO c" "EHLO c" "LHLO c" QUIT
	codes_are 220 500 500 250 221
	[[ ${REPLY_LINES[0]} == *LMTP* ]]
	ehlo_keywords | grep -qx PIPELINING
}

@test "LHLO is unknown in SMTP mode" {
	run -0 --separate-stderr smtp -- "LHLO c" QUIT
	codes_are 220 500 221
}

@test "each recipient gets its own reply after the dot, in RCPT order" {
	chmod 000 "$MAIL/bob/tmp"
	[ "$(id -u)" != 0 ] || [ -n "${SMTPD_USER-}" ] || skip "needs a non-root session"
	run -0 --separate-stderr smtp -L -- "LHLO c" "MAIL FROM:<s@c.example>" \
		"RCPT TO:<alice@$HOST>" "RCPT TO:<bob@$HOST>" "RCPT TO:<nosuch@$HOST>" \
		"RCPT TO:<postmaster>" DATA x . QUIT
	codes_are 220 250 250 250 250 550 250 354 250 451 250 221
	count_is 1 mbox_count "$MAIL/alice"
	count_is 1 mbox_count "$MAIL/postmaster"
	[ -z "$(ls "$MAIL/bob/new")" ]
}

@test "a refused message gets one reply per recipient" {
	run -0 --separate-stderr smtp -L -s 10 -- "LHLO c" "MAIL FROM:<s@c.example>" \
		"RCPT TO:<alice@$HOST>" "RCPT TO:<bob@$HOST>" DATA "more than ten bytes" . QUIT
	codes_are 220 250 250 250 250 354 552 552 221
}

@test "Received: says LMTP" {
	run -0 --separate-stderr smtp -L -- "LHLO c" "MAIL FROM:<s@c.example>" \
		"RCPT TO:<alice@$HOST>" DATA x . QUIT
	mbox_msg "$MAIL/alice" 1 header Received | grep -q 'with LMTP'
}

# Python's smtplib.LMTP over real TCP through systemd-socket-activate.
@test "smtplib.LMTP sees 250 and 451 for two recipients over TCP" {
	needs systemd-socket-activate
	chmod 000 "$MAIL/bob/tmp"
	launch_socket_activate -L -d "$MAIL" -h "$HOST"
	run -0 python3 -S - "$PORT" "$HOST" <<'PY'
import smtplib, sys
port, host = int(sys.argv[1]), sys.argv[2]
c = smtplib.LMTP("127.0.0.1", port)
c.ehlo_or_helo_if_needed = lambda: None
code, _ = c.docmd("LHLO", "client.example")
assert code == 250, code
c.ehlo_resp = b""
assert c.mail("s@c.example")[0] == 250
assert c.rcpt("alice@" + host)[0] == 250
assert c.rcpt("bob@" + host)[0] == 250
first = c.data(b"Subject: lmtp\r\n\r\nhello\r\n")
second = c.getreply()
print(first[0], second[0])
c.quit()
PY
	[ "$output" = "250 451" ]
	count_is 1 mbox_count "$MAIL/alice"
}

teardown() {
	stop_launcher
}

# dup_aliases: lists whose remote members are dropped without -f and that
# name one mailbox twice.
dup_aliases() {
	printf '%s\n' 'dupes: far@remote.example, other@remote.example,' \
		'	dave, dave' \
		'loopy: far@remote.example, other@remote.example, alice, alice' \
		>"$BATS_TEST_TMPDIR/aliases"
}

@test "duplicates across a list and plain RCPTs get each recipient's own reply" {
	dup_aliases
	mkmbox dave
	# An MDA that refuses dave for good and records the others.
	mkdir "$BATS_TEST_TMPDIR/got"
	printf '%s\n' '#!/bin/sh' 'cat >/dev/null' '[ "$1" = dave ] && exit 1' \
		"echo x >>'$BATS_TEST_TMPDIR/got/'\"\$1\"" >"$BATS_TEST_TMPDIR/mda"
	chmod 755 "$BATS_TEST_TMPDIR/mda"
	give_to_smtpd "$BATS_TEST_TMPDIR/got" "$BATS_TEST_TMPDIR/mda"
	run -0 --separate-stderr smtp -L -a "$BATS_TEST_TMPDIR/aliases" \
		-m "$BATS_TEST_TMPDIR/mda %u" -- "LHLO c" "MAIL FROM:<s@c.example>" \
		"RCPT TO:<alice@$HOST>" "RCPT TO:<dupes@$HOST>" "RCPT TO:<dave@$HOST>" \
		"RCPT TO:<bob@$HOST>" "RCPT TO:<alice@$HOST>" DATA x . QUIT
	smtp_ok 220 250 250 250 250 250 250 250 354 250 554 554 250 250 221
	escs_are - - 2.1.0 2.1.5 2.1.5 2.1.5 2.1.5 2.1.5 - 2.0.0 5.3.0 5.3.0 2.0.0 2.0.0 2.0.0
	# One copy per mailbox: alice and bob once, dave tried once.
	[ "$(cat "$BATS_TEST_TMPDIR/got/alice")" = x ]
	[ "$(cat "$BATS_TEST_TMPDIR/got/bob")" = x ]
	[ ! -e "$BATS_TEST_TMPDIR/got/dave" ]
}

@test "a list whose only mailbox refuses the copy as a loop gets 554, not 250" {
	dup_aliases
	run -0 --separate-stderr smtp -L -a "$BATS_TEST_TMPDIR/aliases" -- "LHLO c" \
		"MAIL FROM:<s@c.example>" "RCPT TO:<loopy@$HOST>" "RCPT TO:<bob@$HOST>" \
		DATA "Delivered-To: alice@$HOST" "" x . QUIT
	codes_are 220 250 250 250 250 354 554 250 221
	esc_is 7 5.4.6
	count_is 0 mbox_count "$MAIL/alice"
	count_is 1 maildir_count "$MAIL/bob"
}
