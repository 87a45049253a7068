load helper

# The deployment files as shipped: sessions and queue runs started the way
# systemd/, inetd.conf.example and the crontab line of smtpd.8 start them.
# User smtpd stands for the suite's user, /var/mail for $MAIL; only -h (and
# -F for the queue runs, so the entry is due) are added.

SRCDIR=${BATS_TEST_DIRNAME%/*}

setup() {
	[ "$(id -u)" = 0 ] || skip "needs root to switch users"
	smtp_setup
	# The units run smtpd as their User=, who may not reach the checkout.
	smtpd_for "$SMTPD_USER"
	# The Maildir of bob fails temporarily: its copy goes to the queue.
	chmod 0555 "$MAIL/bob/tmp"
}

# unit_value UNIT KEY: the last KEY= of a shipped unit.
unit_value() {
	sed -n "s/^$2=//p" "$SRCDIR/systemd/$1" | tail -n 1
}

# shipped_argv WORDS...: ARGV gets the command with the built smtpd,
# "-u smtpd" for the suite's user and /var/mail for $MAIL.
shipped_argv() {
	local w prev=
	ARGV=("$SMTPD")
	shift
	for w in "$@"; do
		case $prev/$w in
		-u/smtpd) w=$SMTPD_USER ;;
		*/var/mail) w=$MAIL ;;
		esac
		ARGV+=("$w")
		prev=$w
	done
}

# unit_run UNIT ARGS...: the unit's ExecStart with ARGS, as its User= and
# Group= (root if none) and with its UMask=.
unit_run() {
	local unit=$1 user group mask
	shift
	user=$(unit_value "$unit" User)
	group=$(unit_value "$unit" Group)
	mask=$(unit_value "$unit" UMask)
	shipped_argv $(unit_value "$unit" ExecStart)
	[ "$user" = smtpd ] && user=$SMTPD_USER
	(
		umask "${mask:-0022}"
		if [ -n "$user" ]; then
			exec setpriv --reuid="$user" \
			    --regid="${group:-$(id -g "$user")}" --init-groups \
			    -- timeout 10 "${ARGV[@]}" "$@"
		fi
		exec timeout 10 "${ARGV[@]}" "$@"
	)
}

# session_lines: one transaction from alice to alice and bob.
session_lines() {
	printf '%s\r\n' "HELO client.example" "MAIL FROM:<alice@$HOST>" \
	    "RCPT TO:<alice@$HOST>" "RCPT TO:<bob@$HOST>" DATA \
	    "Subject: queued" "" hello . QUIT
}

queued() {
	find "$MAIL/.queue" -maxdepth 1 -type f ! -name 'tmp.*' | wc -l | tr -d ' '
}

@test "the units, the inetd example, sysusers and the docs name one user and group" {
	[ "$(unit_value smtpd@.service User)" = smtpd ]
	[ "$(unit_value smtpd@.service Group)" = mail ]
	[ "$(unit_value smtpd-fast.service User)" = smtpd ]
	[ "$(unit_value smtpd-fast.service Group)" = mail ]
	[ "$(unit_value smtpd-queue.service User)" = smtpd ]
	[ "$(unit_value smtpd-queue.service Group)" = mail ]
	[ -z "$(unit_value smtpd@.service DynamicUser)" ]
	grep -qx 'u smtpd -:mail .*' "$SRCDIR/systemd/smtpd.sysusers"
	grep -q '^smtp[[:blank:]].*[[:blank:]]root[[:blank:]].* -u smtpd ' "$SRCDIR/inetd.conf.example"
	grep -q '^#smtp[[:blank:]].*[[:blank:]]smtpd:mail[[:blank:]]' "$SRCDIR/inetd.conf.example"
	# Every queue run the docs show drops to that same user.
	run -0 grep -h 'smtpd -q ' "$SRCDIR/smtpd.8" "$SRCDIR/README.md" \
	    "$SRCDIR/inetd.conf.example"
	! grep -v -- '-q -u smtpd ' <<<"$output"
}

@test "a copy a smtpd@.service session queued is delivered by smtpd-queue.service" {
	run -0 --separate-stderr unit_run smtpd@.service -h "$HOST" < <(session_lines)
	codes_are 220 250 250 250 250 354 250 221
	[ "$(queued)" = 1 ]
	chmod 0755 "$MAIL/bob/tmp"
	run -0 --separate-stderr unit_run smtpd-queue.service -h "$HOST" -F
	smtp_ok
	[ "$(queued)" = 0 ]
	count_is 1 maildir_count "$MAIL/bob"
	count_is 1 mbox_count "$MAIL/alice"
}

@test "a copy an inetd.conf.example session queued is delivered by the crontab line" {
	local line cron
	line=$(sed -n 's|^smtp[[:blank:]].*/smtpd[[:blank:]]\(smtpd .*\)|\1|p' "$SRCDIR/inetd.conf.example")
	[ -n "$line" ]
	shipped_argv $line
	run -0 --separate-stderr timeout 10 "${ARGV[@]}" -h "$HOST" < <(session_lines)
	codes_are 220 250 250 250 250 354 250 221
	[ "$(queued)" = 1 ]
	chmod 0755 "$MAIL/bob/tmp"
	cron=$(sed -n 's|^\*/5 \* \* \* \* /usr/local/sbin/\(smtpd -q .*\)|\1|p' "$SRCDIR/smtpd.8")
	[ -n "$cron" ]
	shipped_argv $cron
	run -0 --separate-stderr timeout 10 "${ARGV[@]}" -h "$HOST" -F
	smtp_ok
	[ "$(queued)" = 0 ]
	count_is 1 maildir_count "$MAIL/bob"
}
