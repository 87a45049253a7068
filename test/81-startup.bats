load helper
load launch

# Start-up failures: under inetd stdout and stderr are the client, so
# smtpd answers 421 4.3.0 on stdout, writes nothing to stderr, logs the
# reason, and exits 1 before the greeting.

# startup_fails: the session was refused at start-up, as a client sees it.
startup_fails() {
	[ "$status" -eq 1 ]
	smtp_ok 421
	esc_is 1 4.3.0
}

@test "an unknown option gets 421 4.3.0 on stdout and nothing on stderr" {
	run --separate-stderr smtp -x -- QUIT
	startup_fails
}

@test "an option without its argument gets 421 4.3.0 and nothing on stderr" {
	run --separate-stderr smtp -t -- QUIT
	startup_fails
}

@test "a bad number gets 421 4.3.0 and nothing on stderr" {
	run --separate-stderr smtp -t 0x10 -- QUIT
	startup_fails
}

@test "an extra argument gets 421 4.3.0 and nothing on stderr" {
	run --separate-stderr smtp extra -- QUIT
	startup_fails
}

@test "a missing mail directory gets 421 4.3.0 and no path" {
	run --separate-stderr smtp -d "$MAIL/nonexistent" -- QUIT
	startup_fails
	[[ $output != *nonexistent* ]]
}

@test "a mail directory the -u user cannot search gets 421 4.3.0" {
	needs_root
	chmod 700 "$MAIL"
	chown root "$MAIL"
	run --separate-stderr timeout 10 "$SMTPD" -u nobody -d "$MAIL" -h "$HOST" \
	    < <(printf 'HELO client.example\r\nQUIT\r\n')
	startup_fails
}

@test "a mail directory below one the -u user cannot search gets 421 4.3.0" {
	needs_root
	mkdir "$BATS_TEST_TMPDIR/locked"
	chmod 700 "$BATS_TEST_TMPDIR/locked"
	mkdir "$BATS_TEST_TMPDIR/locked/mail"
	run --separate-stderr timeout 10 "$SMTPD" -u nobody \
	    -d "$BATS_TEST_TMPDIR/locked/mail" -h "$HOST" \
	    < <(printf 'HELO client.example\r\nQUIT\r\n')
	startup_fails
}

@test "a bad aliases file gets 421 4.3.0" {
	printf 'alice bob\n' >"$BATS_TEST_TMPDIR/aliases"
	run --separate-stderr smtp -a "$BATS_TEST_TMPDIR/aliases" -- QUIT
	startup_fails
}

@test "a start-up failure is logged in one line" {
	needs_log
	run --separate-stderr smtp_logged -x -- QUIT
	startup_fails
	log_has 'bad option'
	[ "$(wc -l <"$BATS_TEST_TMPDIR/syslog")" -eq 1 ]
}
