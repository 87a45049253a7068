load helper

# Regression tests for bugs found by the fault, load and fuzz tests.

@test "a second, shorter message in one session is delivered whole" {
	run -0 --separate-stderr smtp -- "HELO client" \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" \
	    "RCPT TO:<bob@mx.test.example>" DATA "Subject: one" "" \
	    "a first message that is longer than the second one" . \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" \
	    "RCPT TO:<bob@mx.test.example>" DATA "Subject: two" "" "short" . QUIT
	smtp_ok 220 250 250 250 250 354 250 250 250 250 354 250 221
	count_is 2 mbox_count "$MAIL/alice"
	count_is 2 maildir_count "$MAIL/bob"
	[ "$(mbox_msg "$MAIL/alice" 2 body)" = short ]
}

@test "with a static musl build an mbox that cannot be opened is still a temporary failure" {
	command -v musl-gcc >/dev/null || skip "needs musl-gcc (musl-tools)"
	local src=$BATS_TEST_DIRNAME/.. objs
	objs=$(sed -n 's/^OBJ[	 ]*=//p' "$src/Makefile")
	(cd "$src" && musl-gcc -static -std=c99 -O2 -D_XOPEN_SOURCE=700 \
	    -D_DEFAULT_SOURCE -o "$BATS_TEST_TMPDIR/smtpd-musl" ${objs//.o/.c})
	chown root "$MAIL/alice"
	chmod 0000 "$MAIL/alice"
	SMTPD=$BATS_TEST_TMPDIR/smtpd-musl
	# Without /dev/log, musl's syslog() sets errno to ENOENT, which read
	# as "no such mailbox" made this a permanent 554.
	run -0 --separate-stderr send_to alice -- "Subject: t" "" x
	smtp_ok 220 250 250 250 354 451 221
}
