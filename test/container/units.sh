#!/bin/bash
# The shipped systemd units under a real systemd: Debian 12 booted in a
# container, smtpd installed from a clean clone with
# `make install install-units` as an administrator would, Debian's mail model
# (/var/mail root:mail 2775, each mailbox USER:mail 0660), and mail sent over
# TCP to smtpd.socket from inside the container, by Python's smtplib and by
# Postfix relaying to it with SMTPUTF8, and with DSN (NOTIFY, ORCPT).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

fresh_tree
# Postfix is a client only: no configuration from its package (and nothing
# started while installing it); main.cf below.
printf '#!/bin/sh\nexit 101\n' >"$TREE/usr/sbin/policy-rc.d"
chmod 0755 "$TREE/usr/sbin/policy-rc.d"
echo 'postfix postfix/main_mailer_type select No configuration' >"$TREE/root/preseed"
in_tree debconf-set-selections /root/preseed || fail "debconf-set-selections"
apt_install build-essential python3 postfix
rm -f "$TREE/usr/sbin/policy-rc.d"
# No listener of its own (port 25 is smtpd's); all mail goes to smtpd.
# Postfix takes a relay host at one of its inet_interfaces for a loop, so
# it is reached at 127.0.0.2 (smtpd.socket listens on every address).
cat >"$TREE/etc/postfix/main.cf" <<'EOF'
compatibility_level = 3.6
myhostname = client.example
myorigin = client.example
mydestination =
relayhost = [127.0.0.2]:25
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
master_service_disable = inet
smtputf8_enable = yes
alias_maps =
alias_database =
EOF
in_tree --chdir=/root/smtpd make -s >/dev/null || fail "make"

# fast_prepare: s6-tcpserver6d for smtpd-fast.service, as an administrator
# who built s6-networking gets it: in /usr/local/bin, with the skalibs
# library Debian 12 packages.
fast_prepare() {
	local s6=${S6_ROOT:-/var/cache/smtpd-ci/s6}
	[ -x "$s6/bin/s6-tcpserver6d" ] || sh "$SRC/test/fetch-s6" "$s6" ||
	    fail "no s6-tcpserver6d in $s6 (test/fetch-s6)"
	apt_install libskarnet2.13
	install -m 0755 "$s6/bin/s6-tcpserver6d" "$TREE/usr/local/bin/"
}
fast_prepare
boot

log "make install install-units"
cx make -s -C /root/smtpd install install-units >/dev/null || fail "make install install-units"
cx systemctl daemon-reload
[ "$(cx id -gn smtpd)" = mail ] || fail "user smtpd is not in group mail: $(cx id smtpd)"
[ "$(cx stat -c '%U:%G %a' /var/mail)" = "root:mail 2775" ] ||
    fail "/var/mail is $(cx stat -c '%U:%G %a' /var/mail)"

# Users and their mailboxes, as Debian makes them.
for u in alice bob carol; do
	cx useradd -m "$u"
	cx install -m 0660 -o "$u" -g mail /dev/null "/var/mail/$u"
done

# Queue entries are due at once (-R 0), so the shipped smtpd-queue.service
# delivers them without -F; the rest of smtpd@.service is as shipped.
cx mkdir -p /etc/systemd/system/smtpd@.service.d
exec_start=$(cx sed -n 's/^ExecStart=//p' /usr/local/lib/systemd/system/smtpd@.service)
printf '[Service]\nExecStart=\nExecStart=%s -R 0\n' "$exec_start" |
    cx tee /etc/systemd/system/smtpd@.service.d/retry.conf >/dev/null
cx systemctl daemon-reload
cx systemctl enable --now smtpd.socket
[ "$(cx systemctl is-active smtpd.socket)" = active ] || fail "smtpd.socket is not active"

# send FROM RCPT... -- HEADER...: one message over TCP port 25; prints the
# reply to the data and the rejected recipients.
send() {
	cx python3 - "$@" <<'PY'
import smtplib, sys
args = sys.argv[1:]
sep = args.index("--")
sender, rcpts, headers = args[0], args[1:sep], args[sep + 1:]
msg = "".join(h + "\r\n" for h in headers) + "Subject: test\r\n\r\nhello\r\n"
with smtplib.SMTP("127.0.0.1", 25, timeout=30) as s:
    s.ehlo("client.example")
    code, text = s.mail(sender)
    assert code == 250, (code, text)
    for r in rcpts:
        code, text = s.rcpt(r)
        assert code == 250, (r, code, text)
    code, text = s.data(msg.encode())
    print(code, text.decode())
PY
}

# count MAILBOX: the messages in an mbox.
count() {
	cx sh -c 'grep -c "^From " "$1" || true' sh "$1"
}

mode_is() {
	local got
	got=$(cx stat -c '%U:%G %a' "$1")
	[ "$got" = "$2" ] || fail "$1 is $got, not $2"
}

journal() {
	cx journalctl --no-pager -q -o cat -t smtpd -u 'smtpd*' | tail -n 30
}
trap 'rc=$?; set +e; [ $rc = 0 ] || journal; cleanup; exit $rc' EXIT

log "a message through smtpd.socket and smtpd@.service"
out=$(send bob@localhost alice@localhost --) || fail "send: $out"
log "reply: $out"
[[ $out == "250 "* ]] || fail "reply $out"
[ "$(count /var/mail/alice)" = 1 ] || fail "alice has $(count /var/mail/alice) messages"
mode_is /var/mail/alice "alice:mail 660"

log "a mailbox the session cannot write defers its copy"
cx chown root:root /var/mail/carol
cx chmod 0600 /var/mail/carol
out=$(send bob@localhost alice@localhost carol@localhost --) || fail "send: $out"
log "reply: $out"
[[ $out == "250 "* ]] || fail "reply $out"
[ "$(count /var/mail/alice)" = 2 ] || fail "alice has $(count /var/mail/alice) messages"
listing=$(cx /usr/local/sbin/smtpd -p -d /var/mail)
printf '%s\n' "$listing"
grep -q 'carol@' <<<"$listing" || fail "smtpd -p does not list carol"
# The set-group-ID bit comes from /var/mail; group and others get nothing.
mode_is /var/mail/.queue "smtpd:mail 2700"

log "smtpd-queue.service delivers it once the mailbox is fixed"
cx chown carol:mail /var/mail/carol
cx chmod 0660 /var/mail/carol
cx systemctl start smtpd-queue.service || fail "smtpd-queue.service failed"
[ "$(count /var/mail/carol)" = 1 ] || fail "carol has $(count /var/mail/carol) messages"
mode_is /var/mail/carol "carol:mail 660"
[ -z "$(cx find /var/mail/.queue -type f)" ] || fail "the queue is not empty: $(cx find /var/mail/.queue -type f)"
cx /usr/local/sbin/smtpd -p -d /var/mail

log "smtpd-queue.timer"
cx systemctl enable --now smtpd-queue.timer
[ "$(cx systemctl is-active smtpd-queue.timer)" = active ] || fail "smtpd-queue.timer is not active"

log "a bounce for a local sender reaches the sender's mailbox"
# A Delivered-To: naming carol at this host is a mail loop: her copy fails
# permanently beside alice's, and bob gets the notification.
host=$(cx cat /proc/sys/kernel/hostname)
out=$(send bob@localhost alice@localhost carol@localhost -- "Delivered-To: carol@$host") ||
    fail "send: $out"
log "reply: $out"
[[ $out == "250 "* ]] || fail "reply $out"
[ "$(count /var/mail/carol)" = 1 ] || fail "carol has $(count /var/mail/carol) messages"
[ "$(count /var/mail/bob)" = 1 ] || fail "bob has $(count /var/mail/bob) messages"
cx grep -q '^From MAILER-DAEMON ' /var/mail/bob || fail "no bounce in bob's mailbox"
cx grep -qi '^Content-Type: multipart/report' /var/mail/bob || fail "the bounce is no multipart/report"
mode_is /var/mail/bob "bob:mail 660"

log "systemd-analyze security smtpd@.service"
sec=$(cx systemd-analyze security --no-pager smtpd@.service 2>&1) || true
printf '%s\n' "$sec" | grep -e '✗' -e 'Overall' || true
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' <<<"$sec")
# smtpd.8 states the score on the line after the command's name.
stated=$(sed -n '/^\.Ql systemd-analyze security smtpd@.service$/{n;s/^rates it \([0-9.]*\)\.$/\1/p;}' "$SRC/smtpd.8")
log "exposure $score, smtpd.8 states $stated"
[ -n "$score" ] && [ "$score" = "$stated" ] || fail "exposure $score is not smtpd.8's $stated"

log "Postfix relays to smtpd.socket, with SMTPUTF8 for a UTF-8 address"
# Debian's /var/mail trusts every mailbox in it; this one is alice's.
cx install -m 0660 -o alice -g mail /dev/null /var/mail/josé
cx systemctl is-active postfix@-.service >/dev/null || fail "postfix is not running"
before=$(count /var/mail/alice)
printf 'Subject: utf8\n\nhej\n' |
    cx /usr/sbin/sendmail -f 'jörg@bücher.example' 'josé@localhost' || fail "sendmail josé"
printf 'Subject: ascii\n\nhej\n' |
    cx /usr/sbin/sendmail -f 'root@client.example' 'alice@localhost' || fail "sendmail alice"
cx postqueue -f
for i in $(seq 60); do
	[ "$(count /var/mail/josé)" = 1 ] && [ "$(count /var/mail/alice)" = $((before + 1)) ] &&
	    [ "$(cx postqueue -p)" = "Mail queue is empty" ] && break
	sleep 1
done
cx journalctl --no-pager -q -o cat -t postfix/smtp | tail -n 5
[ "$(cx postqueue -p)" = "Mail queue is empty" ] || { cx postqueue -p; fail "Postfix's queue is not empty"; }
[ "$(count /var/mail/josé)" = 1 ] || fail "josé has $(count /var/mail/josé) messages"
[ "$(count /var/mail/alice)" = $((before + 1)) ] || fail "alice has $(count /var/mail/alice) messages"
cx grep -q '^From jörg@bücher.example ' /var/mail/josé || fail "josé's message is not from jörg"
cx grep -Pzq '\nReceived: from client\.example \(\[127\.0\.0\.[12]\]\)\n\tby \S+ \(smtpd\) with UTF8SMTP id ' \
    /var/mail/josé || { cx cat /var/mail/josé; fail "josé's message was not received with UTF8SMTP"; }
cx grep -Pzq '\nReceived: from client\.example \(\[127\.0\.0\.[12]\]\)\n\tby \S+ \(smtpd\) with ESMTP id ' \
    /var/mail/alice || { cx tail -n 20 /var/mail/alice; fail "alice's message was not received with ESMTP"; }
cx journalctl --no-pager -q -o cat -t postfix/smtp |
    grep 'to=<josé@localhost>.*status=sent' >/dev/null ||
    fail "Postfix does not log josé's message as sent"
mode_is /var/mail/josé "alice:mail 660"

log "Postfix relays with NOTIFY=SUCCESS and ORCPT; smtpd reports the delivery"
# A block of its own: carol sends to bob through Postfix, which passes
# NOTIFY and ORCPT on to smtpd (DSN advertised); smtpd delivers and sends
# carol an RFC 3464 "delivered" report naming the original recipient.
before_bob=$(count /var/mail/bob)
before_carol=$(count /var/mail/carol)
printf 'Subject: dsn\n\nplease confirm\n' |
    cx /usr/sbin/sendmail -N success -f carol@localhost bob@localhost || fail "sendmail -N success"
cx postqueue -f
for i in $(seq 60); do
	[ "$(count /var/mail/carol)" = $((before_carol + 1)) ] &&
	    [ "$(count /var/mail/bob)" = $((before_bob + 1)) ] && break
	sleep 1
done
[ "$(count /var/mail/bob)" = $((before_bob + 1)) ] || fail "bob has $(count /var/mail/bob) messages"
[ "$(count /var/mail/carol)" = $((before_carol + 1)) ] ||
    { cx journalctl --no-pager -q -o cat -t smtpd | tail -n 20; fail "no report for carol"; }
cx python3 -c '
import email, mailbox, sys
mb = mailbox.mbox("/var/mail/carol", create=False)
msg = email.message_from_bytes(mb.get_bytes(sorted(mb.keys())[-1]))
assert msg.get_content_type() == "multipart/report", msg.get_content_type()
r = msg.get_payload()[1].get_payload()[1]
print(r["Original-Recipient"], "|", r["Final-Recipient"], "|", r["Action"], r["Status"])
assert r["Action"] == "delivered" and r["Status"] == "2.0.0", r
assert r["Original-Recipient"].replace(" ", "") == "rfc822;bob@localhost", r["Original-Recipient"]
' || fail "carol's report is not a delivered report naming bob@localhost"


# starttls: STARTTLS through smtpd@.service with the shipped drop-in
# systemd/smtpd@.service.d/starttls.conf, s6-networking's s6-ucspitlsd
# between systemd and smtpd, and Postfix relaying with
# smtp_tls_security_level = encrypt.  s6-networking is not in Debian 12:
# its programs come from the host's build (S6_ROOT, test/fetch-s6), with
# the shared libraries they need that the tree lacks (libskarnet,
# LibreTLS's libtls) in /usr/local/lib.
starttls() {
	local s6=${S6_ROOT:-$CACHE/s6} p lib before
	for p in s6-ucspitlsd s6-tlsd-io; do
		[ -x "$s6/bin/$p" ] || fail "no $s6/bin/$p (sh test/fetch-s6 $s6)"
		install -m 0755 "$s6/bin/$p" "$TREE/usr/local/bin/$p"
		for lib in $(ldd "$s6/bin/$p" | awk '$3 ~ /^\// { print $3 }'); do
			[ -e "$TREE/usr/lib/x86_64-linux-gnu/${lib##*/}" ] ||
			    [ -e "$TREE/lib/x86_64-linux-gnu/${lib##*/}" ] ||
			    cp -L "$lib" "$TREE/usr/local/lib/${lib##*/}"
		done
	done
	cx ldconfig
	# The key is root's alone: systemd hands it to each instance.
	mkdir -p "$TREE/etc/smtpd/tls"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mx.test.example \
	    -keyout "$TREE/etc/smtpd/tls/key.pem" -out "$TREE/etc/smtpd/tls/cert.pem" 2>/dev/null ||
	    fail "openssl req"
	chmod 0600 "$TREE/etc/smtpd/tls/key.pem"
	cx install -m 0644 /root/smtpd/systemd/smtpd@.service.d/starttls.conf \
	    /etc/systemd/system/smtpd@.service.d/starttls.conf
	cx systemctl daemon-reload
	cx sh -c 'printf "smtp_tls_security_level = encrypt\nsmtp_tls_loglevel = 1\n" >>/etc/postfix/main.cf'
	cx postfix reload >/dev/null 2>&1 || fail "postfix reload"
	before=$(count /var/mail/alice)
	printf 'Subject: tls\n\nthrough tls\n' |
	    cx /usr/sbin/sendmail -f 'root@client.example' 'alice@localhost' || fail "sendmail alice"
	cx postqueue -f
	for p in $(seq 60); do
		[ "$(count /var/mail/alice)" = $((before + 1)) ] &&
		    [ "$(cx postqueue -p)" = "Mail queue is empty" ] && break
		sleep 1
	done
	cx journalctl --no-pager -q -o cat -t postfix/smtp | tail -n 5
	[ "$(count /var/mail/alice)" = $((before + 1)) ] ||
	    { cx postqueue -p; fail "alice has $(count /var/mail/alice) messages"; }
	cx tail -n 12 /var/mail/alice
	cx grep -Pzq '\nReceived: from client\.example \(\[127\.0\.0\.[12]\]\)\n\tby \S+ \(smtpd\) with ESMTPS\n\t\(version=TLSv1\.[23] cipher=[A-Za-z0-9_.+/-]+\) id ' \
	    /var/mail/alice || fail "the message was not received with ESMTPS"
	cx grep -qx 'through tls' /var/mail/alice || fail "the body is not there"
	cx journalctl --no-pager -q -o cat -t postfix/smtp |
	    grep -q 'TLS connection established to 127\.0\.0\.2' ||
	    fail "Postfix logs no TLS connection"
	cx journalctl --no-pager -q -o cat -t smtpd | grep -q ' starttls tls=TLSv1' ||
	    fail "smtpd logs no starttls"
}
log "STARTTLS through smtpd@.service and s6-ucspitlsd; Postfix with smtp_tls_security_level = encrypt"
starttls

# fast_check: smtpd-fast.socket (Accept=no) and smtpd-fast.service, one
# s6-tcpserver6d forking smtpd per connection, instead of smtpd.socket on
# port 25: mail is delivered over IPv4 and IPv6, each session runs as user
# smtpd in the service's sandbox, -C limits one address, and the exposure
# score is smtpd.8's.  smtpd.socket is back on port 25 afterwards.
fast_check() {
	local out main pid before score stated sec
	log "smtpd-fast.socket and smtpd-fast.service instead of smtpd.socket"
	# Starting it stops smtpd.socket first (Conflicts=, After=).
	cx systemctl start smtpd-fast.socket || fail "smtpd-fast.socket does not start beside smtpd.socket"
	[ "$(cx systemctl is-active smtpd-fast.socket)" = active ] || fail "smtpd-fast.socket is not active"
	[ "$(cx systemctl is-active smtpd.socket)" = inactive ] || fail "smtpd.socket is still active"
	cx systemctl disable smtpd.socket
	cx systemctl enable smtpd-fast.socket
	before=$(count /var/mail/alice)
	for addr in 127.0.0.1 ::1; do
		out=$(cx python3 - "$addr" <<'PY'
import smtplib, sys
with smtplib.SMTP(sys.argv[1], 25, timeout=30) as s:
    s.ehlo("client.example")
    r = s.sendmail("bob@localhost", ["alice@localhost"],
        "Subject: fast " + sys.argv[1] + "\r\n\r\nhello\r\n")
    assert r == {}, r
    print(s.noop()[0])
PY
) || fail "send through smtpd-fast.socket to $addr: $out"
		[ "$out" = 250 ] || fail "reply $out"
	done
	[ "$(count /var/mail/alice)" = $((before + 2)) ] || fail "alice has $(count /var/mail/alice) messages"
	# smtpd takes the client from the socket: an IPv4 client is no ::ffff: address.
	cx grep -Pzq '\nReceived: from client\.example \(\[127\.0\.0\.1\]\)\n(\t[^\n]*\n)*Subject: fast 127\.0\.0\.1\n' \
	    /var/mail/alice || { cx tail -n 30 /var/mail/alice; fail "no Received: from [127.0.0.1]"; }
	cx grep -Pzq '\nReceived: from client\.example \(\[IPv6:::1\]\)\n(\t[^\n]*\n)*Subject: fast ::1\n' \
	    /var/mail/alice || { cx tail -n 30 /var/mail/alice; fail "no Received: from [IPv6:::1]"; }
	mode_is /var/mail/alice "alice:mail 660"

	main=$(cx systemctl show -P MainPID smtpd-fast.service)
	[ "$(cx cat "/proc/$main/comm")" = s6-tcpserver6d ] || fail "MainPID $main is $(cx cat "/proc/$main/comm")"
	# Eight sessions from one address (-C 8) are held open; a ninth is
	# closed without a greeting.
	cx python3 - <<'PY' &
import socket, time
held = [socket.create_connection(("127.0.0.1", 25), 10) for _ in range(8)]
for c in held:
    assert c.recv(512).startswith(b"220 "), "no greeting"
ninth = socket.create_connection(("127.0.0.1", 25), 10)
assert ninth.recv(512) == b"", "a ninth session from one address"
open("/run/fast-held", "w").close()
# Held until the checks are done (at most a minute).
for _ in range(600):
    try:
        open("/run/fast-release").close()
        break
    except OSError:
        time.sleep(0.1)
PY
	local holder=$! i
	for i in $(seq 100); do
		cx test -e /run/fast-held && break
		kill -0 "$holder" 2>/dev/null || { wait "$holder"; fail "the -C 8 limit does not hold"; }
		sleep 0.1
	done
	cx test -e /run/fast-held || fail "the eight sessions did not open"
	# (no procps in the tree: /proc itself)
	pid=$(cx cat "/proc/$main/task/$main/children" | awk '{ print $NF }')
	[ -n "$pid" ] && [ "$(cx cat "/proc/$pid/comm")" = smtpd ] || fail "no smtpd forked by $main"
	[ "$(cx stat -c %U:%G "/proc/$pid")" = smtpd:mail ] ||
	    fail "the session runs as $(cx stat -c %U:%G "/proc/$pid")"
	cx grep -qx 'NoNewPrivs:[[:blank:]]*1' "/proc/$pid/status" || fail "session without NoNewPrivs"
	cx grep -qx 'Seccomp:[[:blank:]]*2' "/proc/$pid/status" || fail "session without a system call filter"
	cx grep -qx 'CapBnd:[[:blank:]]*0*' "/proc/$pid/status" || fail "session with capabilities"
	[ "$(cx readlink "/proc/$pid/ns/net")" != "$(cx readlink /proc/1/ns/net)" ] || fail "session in the host's network"
	[ "$(cx readlink "/proc/$pid/ns/mnt")" != "$(cx readlink /proc/1/ns/mnt)" ] || fail "session in the host's mounts"
	! cx nsenter -t "$pid" -m touch /etc/smtpd-fast-probe 2>/dev/null || fail "the session's /etc is writable"
	cx grep -q '/system.slice/smtpd-fast.service$' "/proc/$pid/cgroup" || fail "session in $(cx cat "/proc/$pid/cgroup")"
	cx touch /run/fast-release
	wait "$holder" || fail "the -C 8 limit does not hold"

	log "systemd-analyze security smtpd-fast.service"
	sec=$(cx systemd-analyze security --no-pager smtpd-fast.service 2>&1) || true
	printf '%s\n' "$sec" | grep -e '✗' -e 'Overall' || true
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p' <<<"$sec")
	stated=$(sed -n '/^\.Ql systemd-analyze security smtpd-fast.service$/{n;s/^rates it \([0-9.]*\)\.$/\1/p;}' "$SRC/smtpd.8")
	log "exposure $score, smtpd.8 states $stated"
	[ -n "$score" ] && [ "$score" = "$stated" ] || fail "exposure $score is not smtpd.8's $stated"

	# And back: the service goes with its socket.
	cx systemctl start smtpd.socket || fail "smtpd.socket does not start beside smtpd-fast.socket"
	[ "$(cx systemctl is-active smtpd.socket)" = active ] || fail "smtpd.socket is not back"
	[ "$(cx systemctl is-active smtpd-fast.service)" = inactive ] || fail "smtpd-fast.service still runs"
	cx systemctl disable smtpd-fast.socket
	cx systemctl enable smtpd.socket
}
fast_check

journal
log "PASS: the units deliver, defer, run the queue and bounce under systemd; Postfix relays with SMTPUTF8, DSN and STARTTLS; the fast path delivers"
