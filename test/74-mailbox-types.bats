load helper

# Mailboxes and locks that are not what they should be: refused, without
# a hang and without writing through them.

# not_accepted: the session ended normally and no message got 250 after 354.
not_accepted() {
	[ "$status" -eq 0 ] || { echo "exit $status" >&2; return 1; }
	smtp_ok || return 1
	parse_replies
	local i n=${#REPLY_CODES[@]}
	[ "${REPLY_CODES[$((n - 1))]}" = 221 ] || { show_output; return 1; }
	for ((i = 1; i < n; i++)); do
		if [ "${REPLY_CODES[$((i - 1))]}" = 354 ] && [ "${REPLY_CODES[$i]}" = 250 ]; then
			show_output
			return 1
		fi
	done
}

@test "an mbox that is a symlink is refused and its target is not written" {
	: >"$BATS_TEST_TMPDIR/target"
	give_to_smtpd "$BATS_TEST_TMPDIR/target"
	ln -s "$BATS_TEST_TMPDIR/target" "$MAIL/carol"
	run --separate-stderr send_to carol
	not_accepted
	[ ! -s "$BATS_TEST_TMPDIR/target" ]
}

@test "an mbox with a second hard link is refused and not written" {
	ln "$MAIL/alice" "$BATS_TEST_TMPDIR/hardlink"
	run --separate-stderr send_to alice
	not_accepted
	[ ! -s "$MAIL/alice" ]
}

@test "an mbox that is a FIFO without a reader is refused without a hang" {
	mkfifo "$MAIL/carol"
	give_to_smtpd "$MAIL/carol"
	run --separate-stderr send_to carol
	not_accepted
}

@test "an mbox that is a character device is refused and not written" {
	mknod "$MAIL/carol" c 1 3 || skip "mknod not permitted"
	give_to_smtpd "$MAIL/carol"
	run --separate-stderr send_to carol
	not_accepted
}

@test "a Maildir that is a symlink is refused and the directory it names stays empty" {
	mkdir -p "$BATS_TEST_TMPDIR/md/new" "$BATS_TEST_TMPDIR/md/tmp" "$BATS_TEST_TMPDIR/md/cur"
	give_to_smtpd "$BATS_TEST_TMPDIR/md"
	ln -s "$BATS_TEST_TMPDIR/md" "$MAIL/carol"
	run --separate-stderr send_to carol
	not_accepted
	[ -z "$(find "$BATS_TEST_TMPDIR/md" -type f)" ]
}

@test "a fresh dotlock that is a symlink is not followed: 451 after -w, nothing created" {
	ln -s "$BATS_TEST_TMPDIR/victim" "$MAIL/alice.lock"
	run --separate-stderr send_to alice -w 1
	not_accepted
	code_is 6 451
	[ ! -e "$BATS_TEST_TMPDIR/victim" ]
	[ -L "$MAIL/alice.lock" ]
	[ ! -s "$MAIL/alice" ]
}

@test "a dotlock symlink to an existing file leaves that file alone" {
	printf 'precious\n' >"$BATS_TEST_TMPDIR/victim"
	give_to_smtpd "$BATS_TEST_TMPDIR/victim"
	ln -s "$BATS_TEST_TMPDIR/victim" "$MAIL/alice.lock"
	run --separate-stderr send_to alice -w 1
	not_accepted
	[ "$(cat "$BATS_TEST_TMPDIR/victim")" = precious ]
}

@test "a stale dotlock that is a symlink is removed, not followed, and the message delivered" {
	printf 'precious\n' >"$BATS_TEST_TMPDIR/victim"
	give_to_smtpd "$BATS_TEST_TMPDIR/victim"
	ln -s "$BATS_TEST_TMPDIR/victim" "$MAIL/alice.lock"
	touch -h -d '1 hour ago' "$MAIL/alice.lock"
	run --separate-stderr send_to alice -w 1
	[ "$status" -eq 0 ]
	codes_are 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(cat "$BATS_TEST_TMPDIR/victim")" = precious ]
	[ ! -e "$MAIL/alice.lock" ]
}

@test "a Maildir whose new/ or tmp/ is a symlink is not written through" {
	local d
	for d in new tmp; do
		rm -rf "$BATS_TEST_TMPDIR/outside" "$MAIL/bob/$d"
		mkdir -p "$BATS_TEST_TMPDIR/outside"
		give_to_smtpd "$BATS_TEST_TMPDIR/outside"
		ln -s "$BATS_TEST_TMPDIR/outside" "$MAIL/bob/$d"
		run --separate-stderr send_to bob
		not_accepted
		code_is 6 451
		[ -z "$(find "$BATS_TEST_TMPDIR/outside" -type f)" ]
		rm "$MAIL/bob/$d"
		mkdir "$MAIL/bob/$d"
		give_to_smtpd "$MAIL/bob/$d"
	done
}
