load helper
# bats file_tags=slow

# Regressions that need a build of their own: smtpd built statically
# with musl, compiled here from the sources of the Makefile's OBJ line.

@test "with a static musl build an mbox that cannot be opened is still a temporary failure" {
	command -v musl-gcc >/dev/null || skip "needs musl-gcc (musl-tools)"
	local src=$BATS_TEST_DIRNAME/.. objs
	objs=$(sed -n 's/^OBJ[	 ]*=//p' "$src/Makefile")
	(cd "$src" && musl-gcc -static -std=c99 -O2 -D_XOPEN_SOURCE=700 \
	    -D_DEFAULT_SOURCE -o "$BATS_TEST_TMPDIR/smtpd-musl" ${objs//.o/.c})
	[ "$EUID" != 0 ] || chown root "$MAIL/alice"
	chmod 0000 "$MAIL/alice"
	SMTPD=$BATS_TEST_TMPDIR/smtpd-musl
	# Without /dev/log, musl's syslog() sets errno to ENOENT, which read
	# as "no such mailbox" made this a permanent 554.
	run -0 --separate-stderr send_to alice -- "Subject: t" "" x
	smtp_ok 220 250 250 250 354 451 221
}
