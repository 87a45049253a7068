# Helpers for the deployment tests: launchers on a loopback port, live
# sessions, and what /proc says about the process serving one.  Loaded
# after helper.bash.

SRCDIR=${BATS_TEST_DIRNAME%/*}

# needs_root / needs CMD...: skip unless the test can run.
needs_root() {
	[ "$(id -u)" = 0 ] || skip "needs root"
}

needs() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || skip "needs $c"
	done
}

# launch MARKER CMD...: start a launcher in the background with its
# standard error on a FIFO that stays open on fd 7, and read that until a
# line containing MARKER says it listens.  LAUNCHER is its pid.
launch() {
	local marker=$1 line
	shift
	mkfifo "$BATS_TEST_TMPDIR/launcher.err"
	exec 7<>"$BATS_TEST_TMPDIR/launcher.err"
	"$@" </dev/null >"$BATS_TEST_TMPDIR/launcher.out" 2>&7 3>&- 7>&- &
	LAUNCHER=$!
	while IFS= read -r -t 10 -u 7 line; do
		echo "launcher: $line" >&2
		case $line in
		*"$marker"*)
			return 0
			;;
		esac
	done
	echo "launcher never printed '$marker'" >&2
	return 1
}

# descendants PID: the pids of all processes below PID.
descendants() {
	local k
	for k in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$k"
		descendants "$k"
	done
}

# stop_launcher: end the launcher started by launch, everything it
# started (a wrapper's launcher, sessions), each by its pid.
stop_launcher() {
	local pids
	[ -n "${LAUNCHER-}" ] || return 0
	pids=$(descendants "$LAUNCHER")
	# shellcheck disable=SC2086
	kill "$LAUNCHER" $pids 2>/dev/null || true
	wait "$LAUNCHER" 2>/dev/null || true
	exec 7>&-
	LAUNCHER=
}

# The launchers, each serving $SMTPD with the options given, as root with
# the -u of the suite.  PORT is the port.  Leading VAR=VALUE words of
# launch_socket_activate are set for the launcher and passed on (-E).
launch_socket_activate() {
	local env=() setenv=()
	while [[ ${1-} == [A-Za-z_]*=* ]]; do
		env+=("$1")
		setenv+=(-E "$1")
		shift
	done
	PORT=$(free_port)
	launch "Listening on" env "${env[@]}" systemd-socket-activate --accept --inetd \
	    "${setenv[@]}" -l "127.0.0.1:$PORT" "$SMTPD" "${SMTPD_UOPT[@]}" "$@"
}

launch_tcpserver() {
	PORT=$(free_port)
	launch "status: 0/" tcpserver -v -R -H -l 0 -c 4 127.0.0.1 "$PORT" \
	    "$SMTPD" "${SMTPD_UOPT[@]}" "$@"
}

# inetd_conf N ARGS: the Nth service line of inetd.conf.example (1: as
# root with -u, 2: the commented one, as the user), for 127.0.0.1:$PORT,
# the built binary, the suite's user and ARGS instead of "-d /var/mail".
inetd_conf() {
	local n=$1 user=${SMTPD_USER:-$(id -un)} group
	shift
	group=$(id -gn "$user")
	sed -n 's/^#\{0,1\}\(smtp[[:blank:]].*\)/\1/p' "$SRCDIR/inetd.conf.example" |
	    sed -n "${n}p" |
	    sed -e "s|^smtp|127.0.0.1:$PORT|" \
		-e "s|/usr/local/sbin/smtpd|$SMTPD|" \
		-e "s|smtpd:mail|$user:$group|" \
		-e "s|-u smtpd|-u $user|" \
		-e "s|-d /var/mail|$*|"
}

# launch_inetd N ARGS: openbsd-inetd in the foreground (-d -i) serving line
# N of inetd.conf.example.  It writes /run/inetd.pid, removed in
# stop_inetd if it is ours.
launch_inetd() {
	local n=$1
	shift
	PORT=$(free_port)
	inetd_conf "$n" "$@" >"$BATS_TEST_TMPDIR/inetd.conf"
	echo "inetd.conf: $(cat "$BATS_TEST_TMPDIR/inetd.conf")" >&2
	grep -q "^127.0.0.1:$PORT[[:blank:]]" "$BATS_TEST_TMPDIR/inetd.conf"
	launch "ADD: 127.0.0.1:$PORT" inetd -d -i "$BATS_TEST_TMPDIR/inetd.conf"
}

stop_inetd() {
	local pid=${LAUNCHER-}
	stop_launcher
	if [ -n "$pid" ] && [ "$(cat /run/inetd.pid 2>/dev/null)" = "$pid" ]; then
		rm -f /run/inetd.pid
	fi
}

# open_session: connect fd 8 to 127.0.0.1:$PORT and read the greeting;
# SESSION_PID is then the launcher's child serving it.
open_session() {
	local greeting
	exec 8<>"/dev/tcp/127.0.0.1/$PORT"
	IFS= read -r -t 10 -u 8 greeting
	echo "greeting: $greeting" >&2
	[[ $greeting == "220 "* ]]
	read -r -a kids <"/proc/$LAUNCHER/task/$LAUNCHER/children" || true
	echo "sessions: ${kids[*]}" >&2
	[ "${#kids[@]}" = 1 ]
	SESSION_PID=${kids[0]}
}

# close_session: QUIT on fd 8, expect 221, close it.
close_session() {
	local bye
	printf 'QUIT\r\n' >&8
	IFS= read -r -t 10 -u 8 bye
	exec 8>&-
	[[ $bye == "221 "* ]]
}

# proc_ids PID Uid|Gid: the four ids of that line of /proc/PID/status.
proc_ids() {
	awk -v k="$2:" '$1 == k { print $2, $3, $4, $5 }' "/proc/$1/status"
}

# proc_groups PID: the supplementary groups, sorted, one line.
proc_groups() {
	awk '$1 == "Groups:" { $1 = ""; print }' "/proc/$1/status" |
	    tr ' ' '\n' | sed '/^$/d' | sort -n | tr '\n' ' '
}

# user_ids USER: "uid uid uid uid", "gid gid gid gid", and groups as
# proc_groups prints them.
want_uid() {
	local u
	u=$(id -u "$1")
	echo "$u $u $u $u"
}

want_gid() {
	local g
	g=$(id -g "$1")
	echo "$g $g $g $g"
}

want_groups() {
	id -G "$1" | tr ' ' '\n' | sort -n | tr '\n' ' '
}

# check_dropped PID USER: the process runs as USER and its groups, with no
# capabilities left.
check_dropped() {
	local pid=$1 user=$2
	echo "status of $pid: $(grep -E '^(Uid|Gid|Groups|CapEff):' "/proc/$pid/status" | tr '\n' ' ')" >&2
	[ "$(proc_ids "$pid" Uid)" = "$(want_uid "$user")" ]
	[ "$(proc_ids "$pid" Gid)" = "$(want_gid "$user")" ]
	[ "$(proc_groups "$pid")" = "$(want_groups "$user")" ]
	[ "$(awk '$1 == "CapEff:" { print $2 }' "/proc/$pid/status")" = 0000000000000000 ]
}

# curl_send FROM TO FILE: send FILE with curl's smtp:// client.
curl_send() {
	timeout 20 curl -sS --url "smtp://127.0.0.1:$PORT/client.example" \
	    --mail-from "$1" --mail-rcpt "$2" --upload-file "$3"
}

# smtplib_send FROM TO SUBJECT: send one message with Python's smtplib.
smtplib_send() {
	timeout 20 python3 -S -c '
import smtplib, sys
port, sender, rcpt, subject = sys.argv[1:5]
s = smtplib.SMTP("127.0.0.1", int(port), timeout=10)
s.ehlo("client.example")
refused = s.sendmail(sender, [rcpt],
    ("Subject: %s\r\n\r\nsent by smtplib\r\n" % subject).encode())
assert refused == {}, refused
code, msg = s.quit()
assert code == 221, (code, msg)
' "$PORT" "$1" "$2" "$3"
}

# swaks_send FROM TO SUBJECT: send one message with swaks, pipelining.
swaks_send() {
	timeout 20 swaks --server 127.0.0.1 --port "$PORT" --pipeline \
	    --helo client.example --from "$1" --to "$2" \
	    --header "Subject: $3" --body "sent by swaks"
}

# received_from_loopback MBOX N: message N's Received: names 127.0.0.1.
received_from_loopback() {
	local rcvd
	rcvd=$(mbox_msg "$1" "$2" header Received | head -n 1)
	echo "Received: $rcvd" >&2
	[[ $rcvd == "from client.example ([127.0.0.1])"* ]]
}

# test/logsink catches what smtpd sends to syslog: it binds a datagram
# socket as DIR/log, runs the command in a mount namespace where DIR is
# /dev, and writes each message to a file, one a line.
LOGSINK=$BATS_TEST_DIRNAME/logsink

# can_log: the log can be caught here (logsink is built and may make a
# mount namespace, which takes root); asked once per test.  needs_log:
# skip unless it can.
can_log() {
	if [ -z "${CAN_LOG-}" ]; then
		CAN_LOG=no
		[ -x "$LOGSINK" ] && "$LOGSINK" -n 2>/dev/null && CAN_LOG=yes
	fi
	[ "$CAN_LOG" = yes ]
}

needs_log() {
	[ -x "$LOGSINK" ] || skip "test/logsink not built (make check builds it)"
	can_log || skip "needs mount namespaces"
}

# logged CMD...: run CMD with its syslog messages caught in
# $BATS_TEST_TMPDIR/syslog (after each other's, if run more than once).
logged() {
	"$LOGSINK" "$BATS_TEST_TMPDIR/dev" "$BATS_TEST_TMPDIR/syslog" "$@"
}

# smtp_logged OPTIONS -- LINES...: smtp, with the syslog caught.
smtp_logged() {
	split_opts "$@"
	lines "${ARGS[@]}" |
	    logged timeout 10 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" "${OPTS[@]}"
}

# log_has ERE: some caught syslog line matches.
log_has() {
	if ! grep -Eq -- "$1" "$BATS_TEST_TMPDIR/syslog"; then
		printf 'no syslog line matches %s; the log:\n' "$1" >&2
		cat "$BATS_TEST_TMPDIR/syslog" >&2
		return 1
	fi
}
