load helper
load launch

# Deployment: the built binary behind systemd-socket-activate, tcpserver
# and openbsd-inetd on a loopback port, with real clients; the systemd
# units and make install.

teardown() {
	stop_inetd
}

msgfile() {
	printf 'Subject: %s\r\n\r\nsent by curl\r\n.dot line\r\n' "$1" >"$BATS_TEST_TMPDIR/msg"
	echo "$BATS_TEST_TMPDIR/msg"
}

@test "systemd-socket-activate: curl delivers to an mbox and Received: names 127.0.0.1" {
	needs systemd-socket-activate curl
	launch_socket_activate -d "$MAIL" -h "$HOST"
	run -0 --separate-stderr curl_send a@b.example alice@mx.test.example "$(msgfile "by curl")"
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Subject)" = "by curl" ]
	[ "$(mbox_msg "$MAIL/alice" 1 body)" = $'sent by curl\n.dot line' ]
	received_from_loopback "$MAIL/alice" 1
	no_cr "$MAIL/alice"
}

@test "systemd-socket-activate: Python smtplib delivers to a Maildir" {
	needs systemd-socket-activate
	launch_socket_activate -d "$MAIL" -h "$HOST"
	run -0 --separate-stderr smtplib_send a@b.example bob@mx.test.example "by smtplib"
	count_is 1 maildir_count "$MAIL/bob"
	[ "$(maildir_msg "$MAIL/bob" 1 header Subject)" = "by smtplib" ]
	rcvd=$(maildir_msg "$MAIL/bob" 1 header Received)
	[[ $rcvd == "from client.example ([127.0.0.1])"* ]]
}

@test "systemd-socket-activate: the session runs as the -u user" {
	needs_root
	needs systemd-socket-activate
	launch_socket_activate -d "$MAIL" -h "$HOST"
	open_session
	check_dropped "$SESSION_PID" "$SMTPD_USER"
	close_session
}

@test "tcpserver: swaks delivers with pipelining and Received: names 127.0.0.1" {
	needs tcpserver swaks
	launch_tcpserver -d "$MAIL" -h "$HOST"
	run -0 --separate-stderr swaks_send a@b.example alice@mx.test.example "by swaks"
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Subject)" = "by swaks" ]
	received_from_loopback "$MAIL/alice" 1
}

@test "tcpserver: curl and smtplib deliver one after the other to one mbox" {
	needs tcpserver curl
	launch_tcpserver -d "$MAIL" -h "$HOST"
	run -0 --separate-stderr curl_send a@b.example alice@mx.test.example "$(msgfile one)"
	run -0 --separate-stderr smtplib_send c@d.example alice@mx.test.example two
	count_is 2 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Subject)" = one ]
	[ "$(mbox_msg "$MAIL/alice" 2 header Subject)" = two ]
	[ "$(mbox_msg "$MAIL/alice" 2 header Return-Path)" = "<c@d.example>" ]
	received_from_loopback "$MAIL/alice" 2
}

@test "tcpserver: a relay attempt is refused with 550 5.7.1 and nothing is stored" {
	needs tcpserver swaks
	launch_tcpserver -d "$MAIL" -h "$HOST"
	run --separate-stderr swaks_send a@b.example alice@elsewhere.example relay
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ]
	grep -q '<\*\* 550 5\.7\.1' <<<"$output"
	[ ! -s "$MAIL/alice" ]
}

@test "inetd.conf.example: its lines parse and name the installed path" {
	PORT=25
	run -0 inetd_conf 1 -d /var/mail
	[[ $output == "127.0.0.1:25"$'\t'stream$'\t'tcp$'\t'nowait.* ]]
	run -0 inetd_conf 2 -d /var/mail
	[[ $output == "127.0.0.1:25"$'\t'stream$'\t'tcp$'\t'nowait.* ]]
	grep -q '^smtp[[:blank:]].*/usr/local/sbin/smtpd[[:blank:]]smtpd -u smtpd ' "$SRCDIR/inetd.conf.example"
	grep -q '^# service smtp$' "$SRCDIR/inetd.conf.example"
}

@test "inetd (the root line of inetd.conf.example): swaks, smtplib and curl deliver" {
	needs inetd swaks curl
	needs_root
	launch_inetd 1 -d "$MAIL" -h "$HOST"
	run -0 --separate-stderr swaks_send a@b.example alice@mx.test.example one
	run -0 --separate-stderr smtplib_send a@b.example alice@mx.test.example two
	run -0 --separate-stderr curl_send a@b.example bob@mx.test.example "$(msgfile three)"
	count_is 2 mbox_count "$MAIL/alice"
	count_is 1 maildir_count "$MAIL/bob"
	received_from_loopback "$MAIL/alice" 1
	received_from_loopback "$MAIL/alice" 2
	[ "$(maildir_msg "$MAIL/bob" 1 header Subject)" = three ]
}

@test "inetd (the user line of inetd.conf.example): smtpd runs as the user without -u" {
	needs inetd
	needs_root
	smtpd_for "$SMTPD_USER"
	launch_inetd 2 -d "$MAIL" -h "$HOST"
	open_session
	check_dropped "$SESSION_PID" "$SMTPD_USER"
	close_session
	run -0 --separate-stderr smtplib_send a@b.example alice@mx.test.example plain
	count_is 1 mbox_count "$MAIL/alice"
	received_from_loopback "$MAIL/alice" 1
}

@test "inetd with -r: the session runs as the -u user inside a jail holding only the mail" {
	needs inetd
	needs_root
	jail=$BATS_TEST_TMPDIR/jail
	mkdir -p "$jail"
	mv "$MAIL" "$jail/mail"
	MAIL=$jail/mail
	launch_inetd 1 -r "$jail" -d /mail -h "$HOST"
	open_session
	check_dropped "$SESSION_PID" "$SMTPD_USER"
	[ "$(readlink "/proc/$SESSION_PID/root")" = "$jail" ]
	[ "$(readlink "/proc/$SESSION_PID/cwd")" = "$jail" ]
	close_session
	run -0 --separate-stderr smtplib_send a@b.example alice@mx.test.example jailed
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Subject)" = jailed ]
	received_from_loopback "$MAIL/alice" 1
	[ -z "$(ls "$jail")" ] || [ "$(ls "$jail")" = mail ]
}

@test "the systemd units pass systemd-analyze verify and the service rates SAFE" {
	needs systemd-analyze
	units=$BATS_TEST_TMPDIR/units
	mkdir -p "$units"
	bin=$(cd "$(dirname "$SMTPD")" && pwd)/$(basename "$SMTPD")
	# verify wants smtpd-fast.service's s6-tcpserver6d executable: the
	# built one, or a stand-in.
	s6=${S6_ROOT:-/var/cache/smtpd-ci/s6}/bin
	if [ ! -x "$s6/s6-tcpserver6d" ]; then
		s6=$BATS_TEST_TMPDIR/s6
		mkdir -p "$s6"
		printf '#!/bin/sh\nexit 111\n' >"$s6/s6-tcpserver6d"
		chmod 755 "$s6/s6-tcpserver6d"
	fi
	for u in smtpd.socket smtpd@.service smtpd-queue.service smtpd-queue.timer \
	    smtpd-fast.socket smtpd-fast.service; do
		sed -e "s|/usr/local/sbin/smtpd|$bin|" -e "s|/usr/local/bin/s6-|$s6/s6-|" \
		    "$SRCDIR/systemd/$u" >"$units/$u"
	done
	run -0 systemd-analyze verify --man=no "$units"/*
	[ -z "$output" ]
	# Every Documentation=man: page is found by man(1), as verify would
	# look it up (verify renders it, once for each unit): in the source
	# tree, not in whatever an earlier make install left on the machine;
	# without man(1) there is nothing to look it up with.
	mkdir -p "$BATS_TEST_TMPDIR/man/man8"
	cp "$SRCDIR/smtpd.8" "$BATS_TEST_TMPDIR/man/man8/"
	run -0 sed -n 's/^Documentation=man:\([^(]*\)(\([0-9]\))$/\2 \1/p' "$units"/*
	[ "${#lines[@]}" = 6 ]
	if command -v man >/dev/null; then
		local -A pages
		for page in "${lines[@]}"; do
			pages[$page]=1
		done
		for page in "${!pages[@]}"; do
			# shellcheck disable=SC2086 # "SECTION NAME"
			MANPATH="$BATS_TEST_TMPDIR/man" man -w $page >&2
		done
	fi
	for u in smtpd@.service smtpd-fast.service; do
		run -0 systemd-analyze security --offline=yes --threshold=10 "$units/$u"
		score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' <<<"$output")
		echo "exposure of $u: $score" >&2
		[ -n "$score" ]
		awk -v s="$score" 'BEGIN { exit !(s <= 1.0) }'
	done
	grep -qx 'Accept=yes' "$units/smtpd.socket"
	grep -qx 'ListenStream=25' "$units/smtpd.socket"
	grep -qx 'StandardInput=socket' "$units/smtpd@.service"
	grep -qx 'StandardError=journal' "$units/smtpd@.service"
	grep -qx 'Accept=no' "$units/smtpd-fast.socket"
	grep -qx 'StandardInput=socket' "$units/smtpd-fast.service"
	grep -q '^ExecStart=/usr/local/bin/s6-tcpserver6d -c [0-9]* -C [0-9]* /' "$SRCDIR/systemd/smtpd-fast.service"
}

@test "smtpd-fast.service's s6-tcpserver6d on an IPv6 socket: an IPv4 client is 127.0.0.1" {
	local s6=${S6_ROOT:-/var/cache/smtpd-ci/s6} argv
	[ -x "$s6/bin/s6-tcpserver6d" ] || skip "needs s6-tcpserver6d in $s6 (test/fetch-s6)"
	needs python3
	# The unit's command line, with its -c and -C, on an IPv6 socket bound
	# to ::ffff:127.0.0.1, as [::]:25 with BindIPv6Only=both takes IPv4.
	read -r -a argv < <(sed -n 's|^ExecStart=/usr/local/bin/\(s6-tcpserver6d .*\) /usr/local/sbin/smtpd -d /var/mail$|\1|p' \
	    "$SRCDIR/systemd/smtpd-fast.service")
	[ "${argv[0]}" = s6-tcpserver6d ]
	argv[0]=$s6/bin/s6-tcpserver6d
	PORT=$(free_port)
	launch "status: 0/" python3 -S -c '
import os, socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::ffff:127.0.0.1", int(sys.argv[1])))
s.listen(16)
os.dup2(s.fileno(), 0)
os.execv(sys.argv[2], sys.argv[2:])' "$PORT" "${argv[@]:0:1}" -v 2 "${argv[@]:1}" \
	    "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST"
	if [ "$(id -u)" = 0 ]; then
		open_session
		check_dropped "$SESSION_PID" "$SMTPD_USER"
		close_session
	fi
	run -0 --separate-stderr smtplib_send a@b.example alice@mx.test.example "by s6"
	count_is 1 mbox_count "$MAIL/alice"
	received_from_loopback "$MAIL/alice" 1
}

@test "make install honours PREFIX and DESTDIR, and make uninstall removes it all" {
	[ -f "$SRCDIR/smtpd.8" ] || skip "no smtpd.8 yet"
	dest=$BATS_TEST_TMPDIR/dest
	run -0 make -s -C "$SRCDIR" install install-units DESTDIR="$dest" PREFIX=/usr
	[ -x "$dest/usr/sbin/smtpd" ]
	cmp "$SRCDIR/smtpd" "$dest/usr/sbin/smtpd"
	[ "$(stat -c %a "$dest/usr/sbin/smtpd")" = 755 ]
	[ "$(stat -c %a "$dest/usr/share/man/man8/smtpd.8")" = 644 ]
	[ "$(stat -c %a "$dest/usr/lib/systemd/system/smtpd.socket")" = 644 ]
	grep -qx 'ExecStart=/usr/sbin/smtpd -d /var/mail' "$dest/usr/lib/systemd/system/smtpd@.service"
	grep -qx 'ExecStart=/usr/sbin/smtpd -q .*' "$dest/usr/lib/systemd/system/smtpd-queue.service"
	[ -f "$dest/usr/lib/systemd/system/smtpd-queue.timer" ]
	[ -f "$dest/usr/lib/systemd/system/smtpd-fast.socket" ]
	grep -qx 'ExecStart=/usr/local/bin/s6-tcpserver6d .* /usr/sbin/smtpd -d /var/mail' \
	    "$dest/usr/lib/systemd/system/smtpd-fast.service"
	cmp "$SRCDIR/systemd/smtpd.sysusers" "$dest/usr/lib/sysusers.d/smtpd.conf"
	! grep -q . "$dest/etc/passwd" 2>/dev/null
	run -0 find "$dest" -type f
	[ "${#lines[@]}" = 9 ]
	run -0 make -s -C "$SRCDIR" uninstall uninstall-units DESTDIR="$dest" PREFIX=/usr
	run -0 find "$dest" -type f
	[ -z "$output" ]
}

@test "on pipes the client comes from \$TCPREMOTEIP, else from \$REMOTE_ADDR" {
	session=("HELO client.example" "MAIL FROM:<a@b.example>"
	    "RCPT TO:<alice@mx.test.example>" DATA x . QUIT)
	TCPREMOTEIP=192.0.2.9 REMOTE_ADDR=192.0.2.10 run -0 smtp -- "${session[@]}"
	REMOTE_ADDR=2001:db8::25 run -0 smtp -- "${session[@]}"
	count_is 2 mbox_count "$MAIL/alice"
	[[ $(mbox_msg "$MAIL/alice" 1 header Received) == "from client.example ([192.0.2.9])"* ]]
	[[ $(mbox_msg "$MAIL/alice" 2 header Received) == "from client.example ([IPv6:2001:db8::25])"* ]]
}
