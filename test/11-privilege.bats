load helper
load launch

# Privileges, the -r jail, and mailboxes smtpd must not write through.

teardown() {
	if [ -n "${SESSION_PID-}" ]; then
		kill "$SESSION_PID" 2>/dev/null || true
		wait "$SESSION_PID" 2>/dev/null || true
	fi
}

# smtpd_bare OPTIONS: a session without the suite's -u.
smtpd_bare() {
	timeout 10 "$SMTPD" -d "$MAIL" -h "$HOST" "$@"
}

# live OPTIONS: start a session on FIFOs, fd 8 to write to it and fd 9 to
# read from it, and read the greeting.  SESSION_PID is smtpd itself.
live() {
	local greeting
	mkfifo "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	"$SMTPD" "$@" <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" 3>&- &
	SESSION_PID=$!
	exec 8>"$BATS_TEST_TMPDIR/in" 9<"$BATS_TEST_TMPDIR/out"
	IFS= read -r -t 10 -u 9 greeting
	echo "greeting: $greeting" >&2
	[[ $greeting == "220 "* ]]
}

# say LINE...: send the lines, then read and print one reply line for each.
say() {
	local l reply
	for l in "$@"; do
		printf '%s\r\n' "$l" >&8
	done
	for l in "$@"; do
		IFS= read -r -t 10 -u 9 reply
		echo "${reply%$'\r'}"
	done
}

# end_live: QUIT, expect 221, and wait for smtpd to exit 0.
end_live() {
	local bye
	printf 'QUIT\r\n' >&8
	IFS= read -r -t 10 -u 9 bye
	exec 8>&- 9<&-
	[[ $bye == "221 "* ]]
	wait "$SESSION_PID"
	SESSION_PID=
}

@test "started as root without -u, smtpd answers 421 before any command" {
	needs_root
	run -0 --separate-stderr timeout 10 "$SMTPD" -d "$MAIL" -h "$HOST" < <(printf 'HELO client.example\r\nQUIT\r\n')
	smtp_ok 421
	escs_are 4.3.0
}

@test "-u drops to the user and its groups before the greeting, as /proc shows" {
	needs_root
	live -u "$SMTPD_USER" -d "$MAIL" -h "$HOST"
	check_dropped "$SESSION_PID" "$SMTPD_USER"
	[ "$(readlink "/proc/$SESSION_PID/root")" = / ]
	end_live
}

@test "-r chroots: /proc shows the jail as root and cwd, and delivery lands inside it" {
	needs_root
	jail=$BATS_TEST_TMPDIR/jail
	mkdir -p "$jail"
	mv "$MAIL" "$jail/mail"
	live -u "$SMTPD_USER" -r "$jail" -d /mail -h "$HOST"
	check_dropped "$SESSION_PID" "$SMTPD_USER"
	[ "$(readlink "/proc/$SESSION_PID/root")" = "$jail" ]
	[ "$(readlink "/proc/$SESSION_PID/cwd")" = "$jail" ]
	run -0 say "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" "RCPT TO:<bob@mx.test.example>" DATA
	output=$(printf '220 greeting\n%s\n' "$output")
	codes_are 220 250 250 250 250 354
	# The data lines get no reply: only the dot is answered.
	printf '%s\r\n' "Subject: jailed" "" inside >&8
	run -0 say .
	[[ ${lines[-1]} == "250 2.0.0 "* ]]
	end_live
	count_is 1 mbox_count "$jail/mail/alice"
	count_is 1 maildir_count "$jail/mail/bob"
	[ "$(mbox_msg "$jail/mail/alice" 1 body)" = inside ]
}

@test "in a jail without /etc/localtime the dates keep the host's time zone" {
	needs_root
	needs unshare
	unshare -m true 2>/dev/null || skip "needs mount namespaces"
	jail=$BATS_TEST_TMPDIR/jail
	mkdir -p "$jail"
	mv "$MAIL" "$jail/mail"
	# A private /etc/localtime of UTC+9, seen by this smtpd only.
	run -0 --separate-stderr env -u TZ timeout 10 unshare -m sh -c '
mount --bind /usr/share/zoneinfo/Asia/Tokyo /etc/localtime && exec "$@"' sh \
	    "$SMTPD" -u "$SMTPD_USER" -r "$jail" -d /mail -h "$HOST" < <(printf '%s\r\n' \
	    "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "Subject: tz" "" x . QUIT)
	codes_are 220 250 250 250 354 250 221
	rcvd=$(mbox_msg "$jail/mail/alice" 1 header Received)
	echo "Received: $rcvd" >&2
	[[ $rcvd == *" +0900" ]]
}

@test "-u and -r are refused when smtpd is not started as root" {
	needs_root
	needs setpriv
	smtpd_for "$SMTPD_USER"
	for opt in "-u $SMTPD_USER" "-r $BATS_TEST_TMPDIR"; do
		# shellcheck disable=SC2086
		run -1 --separate-stderr setpriv --reuid "$SMTPD_USER" --regid "$(id -g "$SMTPD_USER")" \
		    --clear-groups timeout 10 "$SMTPD" $opt -d "$MAIL" -h "$HOST" </dev/null
		smtp_ok 421
	done
}

@test "started as a normal user without -u, smtpd just runs" {
	needs_root
	needs setpriv
	smtpd_for "$SMTPD_USER"
	run -0 --separate-stderr setpriv --reuid "$SMTPD_USER" --regid "$(id -g "$SMTPD_USER")" \
	    --clear-groups timeout 10 "$SMTPD" -d "$MAIL" -h "$HOST" < <(printf '%s\r\n' \
	    "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA x . QUIT)
	codes_are 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "an unknown -u user, -u root and a missing -r directory end before the greeting" {
	needs_root
	run -1 --separate-stderr smtpd_bare -u no-such-user-here </dev/null
	smtp_ok 421
	run -1 --separate-stderr smtpd_bare -u root </dev/null
	smtp_ok 421
	run -1 --separate-stderr smtpd_bare -u "$SMTPD_USER" -r "$BATS_TEST_TMPDIR/none" </dev/null
	smtp_ok 421
}

@test "a symlinked mailbox is refused and its target stays untouched" {
	: >"$BATS_TEST_TMPDIR/target"
	give_to_smtpd "$BATS_TEST_TMPDIR/target"
	ln -s "$BATS_TEST_TMPDIR/target" "$MAIL/carol"
	mkdir -p "$BATS_TEST_TMPDIR/md/new" "$BATS_TEST_TMPDIR/md/tmp" "$BATS_TEST_TMPDIR/md/cur"
	give_to_smtpd "$BATS_TEST_TMPDIR/md"
	ln -s "$BATS_TEST_TMPDIR/md" "$MAIL/dave"
	for who in carol dave; do
		run -0 --separate-stderr send_to "$who" -- "Subject: x" "" x
		# Refused at RCPT or after the data, never accepted.
		parse_replies
		if [ "${REPLY_CODES[3]}" = 250 ]; then
			code_is 6 '[45]??'
		else
			code_is 4 '5??'
		fi
		smtp_ok
	done
	[ ! -s "$BATS_TEST_TMPDIR/target" ]
	[ -L "$MAIL/carol" ] && [ -L "$MAIL/dave" ]
	[ -z "$(find "$BATS_TEST_TMPDIR/md" -type f)" ]
}

@test "a symlinked postmaster mbox is not written through at delivery" {
	: >"$BATS_TEST_TMPDIR/target"
	give_to_smtpd "$BATS_TEST_TMPDIR/target"
	ln -s "$BATS_TEST_TMPDIR/target" "$MAIL/postmaster"
	run -0 --separate-stderr send_to postmaster -- "Subject: x" "" x
	smtp_ok 220 250 250 250 354 451 221
	[ ! -s "$BATS_TEST_TMPDIR/target" ]
	[ -L "$MAIL/postmaster" ]
}

@test "a hard-linked mbox is refused and nothing is written through either name" {
	ln "$MAIL/alice" "$BATS_TEST_TMPDIR/alice-link"
	run -0 --separate-stderr send_to alice -- "Subject: x" "" x
	smtp_ok 220 250 250 250 354 451 221
	esc_is 6 4.*
	[ ! -s "$MAIL/alice" ]
	[ ! -s "$BATS_TEST_TMPDIR/alice-link" ]
	[ ! -e "$MAIL/alice.lock" ]
}

@test "in the Debian layout a user of group mail delivers without root" {
	needs_root
	id mail >/dev/null 2>&1 || skip "needs a mail user"
	spool=$BATS_TEST_TMPDIR/var-mail
	mkdir "$spool"
	chown root:mail "$spool"
	chmod 2775 "$spool"
	chmod o+x "$BATS_TEST_TMPDIR"
	# The mailbox of another user: owner daemon, group mail, 0660.
	install -m 0660 -o daemon -g mail /dev/null "$spool/alice"
	run -0 --separate-stderr timeout 10 "$SMTPD" -u mail -d "$spool" -h "$HOST" < <(printf '%s\r\n' \
	    "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "Subject: group mail" "" x . QUIT)
	codes_are 220 250 250 250 354 250 221
	count_is 1 mbox_count "$spool/alice"
	[ "$(stat -c '%U:%G %a' "$spool/alice")" = "daemon:mail 660" ]
	[ "$(ls -A "$spool")" = alice ]
}

@test "-u UID:GID drops to those ids with that one group, looking up no name" {
	needs_root
	local uid gid
	uid=$(id -u "$SMTPD_USER") gid=$(id -g "$SMTPD_USER")
	live -u "$uid:$gid" -d "$MAIL" -h "$HOST"
	echo "status: $(grep -E '^(Uid|Gid|Groups|CapEff):' "/proc/$SESSION_PID/status" | tr '\n' ' ')" >&2
	[ "$(proc_ids "$SESSION_PID" Uid)" = "$uid $uid $uid $uid" ]
	[ "$(proc_ids "$SESSION_PID" Gid)" = "$gid $gid $gid $gid" ]
	[ "$(proc_groups "$SESSION_PID")" = "$gid " ]
	[ "$(awk '$1 == "CapEff:" { print $2 }' "/proc/$SESSION_PID/status")" = 0000000000000000 ]
	# No NSS module was loaded to find them.
	! grep -q libnss_ "/proc/$SESSION_PID/maps"
	say "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@$HOST>" DATA
	printf 'Subject: numeric\r\n\r\nhi\r\n.\r\n' >&8
	IFS= read -r -t 10 -u 9 reply
	[[ $reply == "250 "* ]]
	grep -q '^Subject: numeric' "$MAIL/alice"
	end_live
}

@test "-u 0:0 and malformed numeric ids end before the greeting" {
	needs_root
	local bad
	for bad in 0:0 "0:$(id -g "$SMTPD_USER")" 12:x 12: 99999999999:1; do
		run -1 --separate-stderr smtpd_bare -u "$bad" </dev/null
		smtp_ok 421
	done
}
