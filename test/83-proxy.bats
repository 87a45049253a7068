load helper
load launch

# -P: behind a balancer that speaks the PROXY protocol (versions 1 and 2),
# the client's address comes from the header the trusted front sends
# before any SMTP.  Over pipes the front is the address in TCPREMOTEIP;
# at the end HAProxy itself sends the headers over loopback.

PXHDR=$BATS_TEST_DIRNAME/fixtures/proxyhdr.py

setup() {
	smtp_setup
	IN=$BATS_TEST_TMPDIR/in
}

teardown() {
	stop_launcher
	[ -z "${HAPROXY-}" ] || kill "$HAPROXY" 2>/dev/null || true
}

# px [OPTIONS]: a session behind the front 127.0.0.1 (-P 127.0.0.0/8),
# fed stdin as it is.  pxl: the same, its syslog caught afresh in
# $BATS_TEST_TMPDIR/syslog when mount namespaces allow it.
px() {
	TCPREMOTEIP=127.0.0.1 smtp_raw -P 127.0.0.0/8 "$@"
}

pxl() {
	rm -f "$BATS_TEST_TMPDIR/syslog"
	if can_log; then
		TCPREMOTEIP=127.0.0.1 logged timeout 10 "$SMTPD" "${SMTPD_UOPT[@]}" \
		    -d "$MAIL" -h "$HOST" -P 127.0.0.0/8 "$@"
	else
		px "$@"
	fi
}

# mail_lines: one message to alice, as a client sends it after the header.
mail_lines() {
	lines "EHLO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "Subject: px" "" hello . QUIT
}

# v2 ARGS...: a version 2 header (fixtures/proxyhdr.py) and one message,
# through $PX (px, or pxl for the log).
PX=px
v2() {
	{ python3 -S "$PXHDR" "$@"; mail_lines; } | "$PX"
}

received() {
	mbox_msg "$MAIL/alice" 1 header Received
}

# refused WHY: the last session wrote nothing, exited 1, and with pxl
# logged WHY in its one line.
refused() {
	[ "$status" = 1 ] || { echo "exit $status" >&2; return 1; }
	[ -z "$output" ] || { show_output; return 1; }
	[ -z "$stderr" ]
	[ ! -s "$MAIL/alice" ]
	if [ -f "$BATS_TEST_TMPDIR/syslog" ]; then
		log_has "^<22>.* smtpd\[[0-9]+\]: client=127\.0\.0\.1 error=proxy why=\"$1\"$"
		[ "$(wc -l <"$BATS_TEST_TMPDIR/syslog")" = 1 ]
		rm -f "$BATS_TEST_TMPDIR/syslog"
	fi
}

@test "v1 TCP4: Received:, the log and the fail2ban line name the client of the header" {
	{ printf 'PROXY TCP4 192.0.2.9 198.51.100.2 4567 25\r\n'
	  lines "EHLO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<x@elsewhere.example>" "RCPT TO:<alice@mx.test.example>" \
	    DATA "Subject: px" "" hello . QUIT; } >"$IN"
	run -0 --separate-stderr pxl <"$IN"
	smtp_ok 220 250 250 550 250 354 250 221
	[[ $(received) == "from client.example ([192.0.2.9]) by $HOST (smtpd) with ESMTP id "* ]]
	[ -f "$BATS_TEST_TMPDIR/syslog" ] || skip "needs mount namespaces for the log"
	log_has ' session=[0-9A-F]+ connect client=192\.0\.2\.9 port=4567 front=127\.0\.0\.1$'
	log_has ' refused client=192\.0\.2\.9 code=550 esc=5\.7\.1 cmd=RCPT '
}

@test "v1 TCP6: the client is an IPv6 address" {
	{ printf 'PROXY TCP6 2001:DB8::9 2001:db8::25 65535 25\r\n'; mail_lines; } >"$IN"
	run -0 --separate-stderr pxl <"$IN"
	smtp_ok 220 250 250 250 354 250 221
	[[ $(received) == "from client.example ([IPv6:2001:db8::9]) by "* ]]
	[ -f "$BATS_TEST_TMPDIR/syslog" ] || return 0
	log_has ' connect client=2001:db8::9 port=65535 front=127\.0\.0\.1$'
}

@test "v1 UNKNOWN is served as a connection from the balancer itself" {
	{ printf 'PROXY UNKNOWN\r\n'; mail_lines; } >"$IN"
	run -0 --separate-stderr pxl <"$IN"
	smtp_ok 220 250 250 250 354 250 221
	[[ $(received) == "from client.example ([127.0.0.1]) by "* ]]
	[ -f "$BATS_TEST_TMPDIR/syslog" ] || return 0
	log_has ' connect client=127\.0\.0\.1 front=127\.0\.0\.1$'
}

@test "v1: the longest line, 107 bytes with CR LF, is read; one more byte is refused" {
	local f=ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff
	{ printf 'PROXY UNKNOWN %s %s 65535 65535\r\n' $f $f; lines QUIT; } >"$IN"
	run -0 --separate-stderr px <"$IN"
	smtp_ok 220 221
	{ printf 'PROXY UNKNOWN %s %s 65535 655350\r\n' $f $f; lines QUIT; } >"$IN"
	run --separate-stderr pxl <"$IN"
	refused oversize
}

@test "v1: a line that is not exactly the protocol ends the session without a greeting" {
	local bad
	for bad in 'PROXY TCP4 192.0.2.9 198.51.100.2 4567 25\n' \
	    'PROXY TCP4  192.0.2.9 198.51.100.2 4567 25\r\n' \
	    'PROXY TCP4 192.0.2.9 198.51.100.2 4567 25 \r\n' \
	    'PROXY TCP4 192.0.2.9 198.51.100.2 4567\r\n' \
	    'PROXY TCP4 192.0.2.9 198.51.100.2 4567 25 26\r\n' \
	    'PROXY TCP4 192.0.2.09 198.51.100.2 4567 25\r\n' \
	    'PROXY TCP4 2001:db8::9 198.51.100.2 4567 25\r\n' \
	    'PROXY TCP6 192.0.2.9 198.51.100.2 4567 25\r\n' \
	    'PROXY TCP4 192.0.2.9 198.51.100.2 04567 25\r\n' \
	    'PROXY TCP4 192.0.2.9 198.51.100.2 65536 25\r\n' \
	    'PROXY TCP5 192.0.2.9 198.51.100.2 4567 25\r\n' \
	    'PROXY UNKNOWNX\r\n' 'proxy TCP4 192.0.2.9 198.51.100.2 4567 25\r\n' \
	    'PROXY\r\n' 'HELO client.example\r\n' '\r\n'; do
		printf "$bad"'QUIT\r\n' >"$IN"
		run --separate-stderr px <"$IN"
		echo "header: $bad" >&2
		refused '[a-zA-Z ]+'
	done
}

@test "v2 PROXY: the client and the SMTP after the header in the same packet" {
	PX=pxl
	run -0 --separate-stderr v2 proxy 192.0.2.9 198.51.100.2 4567 25
	smtp_ok 220 250 250 250 354 250 221
	[[ $(received) == "from client.example ([192.0.2.9]) by $HOST (smtpd) with ESMTP id "* ]]
	rm -f "$MAIL/alice" && mkmbox alice
	run -0 --separate-stderr v2 proxy 2001:db8::9 2001:db8::25 4567 25
	smtp_ok 220 250 250 250 354 250 221
	[[ $(received) == "from client.example ([IPv6:2001:db8::9]) by "* ]]
	[ -f "$BATS_TEST_TMPDIR/syslog" ] || return 0
	log_has ' connect client=2001:db8::9 port=4567 front=127\.0\.0\.1$'
}

# dribble: stdin to stdout, the header (up to the first SMTP line, EHLO)
# one byte per write, as a front that sends it in pieces, then the rest.
dribble() {
	python3 -S -c '
import os, sys, time
data = sys.stdin.buffer.read()
cut = data.index(b"EHLO ")
for i in range(cut):
    os.write(1, data[i:i + 1])
    time.sleep(0.005)
os.write(1, data[cut:])
'
}

# dribbled FILE: a session behind the front fed FILE through dribble.
dribbled() {
	dribble <"$1" | px
}

@test "a header that arrives in pieces is read whole, and nothing after it is lost" {
	{ printf 'PROXY TCP4 192.0.2.9 198.51.100.2 4567 25\r\n'; mail_lines; } >"$IN"
	run -0 --separate-stderr dribbled "$IN"
	smtp_ok 220 250 250 250 354 250 221
	[[ $(received) == "from client.example ([192.0.2.9]) by $HOST (smtpd) with ESMTP id "* ]]
	{ python3 -S "$PXHDR" proxy 2001:db8::9 2001:db8::25 4567 25 --ssl TLSv1.2 X --crc
	  mail_lines; } >"$IN"
	run -0 --separate-stderr dribbled "$IN"
	smtp_ok 220 250 250 250 354 250 221
	count_is 2 mbox_count "$MAIL/alice"
	[[ $(mbox_msg "$MAIL/alice" 2 header Received) == "from client.example ([IPv6:2001:db8::9]) by $HOST (smtpd) with ESMTPS (version=TLSv1.2 cipher=X) id "* ]]
}

@test "v2 LOCAL, a health check, is served as a connection from the balancer" {
	{ python3 -S "$PXHDR" local; lines "HELO check" QUIT; } >"$IN"
	run -0 --separate-stderr pxl <"$IN"
	smtp_ok 220 250 221
	# Addresses in a LOCAL header are ignored, as the protocol says.
	run -0 --separate-stderr v2 local 192.0.2.9 198.51.100.2 4567 25
	smtp_ok 220 250 250 250 354 250 221
	[[ $(received) == "from client.example ([127.0.0.1]) by "* ]]
	[ -f "$BATS_TEST_TMPDIR/syslog" ] || return 0
	log_has ' connect client=127\.0\.0\.1 front=127\.0\.0\.1$'
}

@test "v2 with TLS at the front: Received: says ESMTPS with the version and cipher" {
	PX=pxl
	run -0 --separate-stderr v2 proxy 192.0.2.9 198.51.100.2 4567 465 \
	    --ssl TLSv1.3 TLS_AES_256_GCM_SHA384 --noop 7 --crc
	smtp_ok 220 250 250 250 354 250 221
	[[ $(received) == "from client.example ([192.0.2.9]) by $HOST (smtpd) with ESMTPS (version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384) id "* ]]
	[ -f "$BATS_TEST_TMPDIR/syslog" ] || return 0
	log_has ' connect client=192\.0\.2\.9 port=4567 front=127\.0\.0\.1 tls=TLSv1\.3 cipher=TLS_AES_256_GCM_SHA384$'
}

@test "v2 with TLS at the front: LMTPS with -L, and ESMTPS after HELO too" {
	{ python3 -S "$PXHDR" proxy 192.0.2.9 198.51.100.2 4567 25 --ssl TLSv1.2 AES128-SHA
	  lines "LHLO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "Subject: px" "" hello . QUIT; } >"$IN"
	run -0 --separate-stderr px -L <"$IN"
	smtp_ok 220 250 250 250 354 250 221
	[[ $(received) == *" with LMTPS (version=TLSv1.2 cipher=AES128-SHA) id "* ]]
	rm -f "$MAIL/alice" && mkmbox alice
	{ python3 -S "$PXHDR" proxy 192.0.2.9 198.51.100.2 4567 25 --ssl TLSv1.2 AES128-SHA
	  lines "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "Subject: px" "" hello . QUIT; } >"$IN"
	run -0 --separate-stderr px <"$IN"
	smtp_ok 220 250 250 250 354 250 221
	[[ $(received) == *" with ESMTPS (version=TLSv1.2 cipher=AES128-SHA) id "* ]]
}

@test "v2: a TLS TLV without the TLS flag, or other TLVs, change nothing" {
	run -0 --separate-stderr v2 proxy 192.0.2.9 198.51.100.2 4567 25 --ssl-off \
	    --tlv 0100026832 --tlv e0000178
	smtp_ok 220 250 250 250 354 250 221
	[[ $(received) == "from client.example ([192.0.2.9]) by $HOST (smtpd) with ESMTP id "* ]]
}

@test "v2: a TLS version or cipher cannot break out of Received:'s comment" {
	run -0 --separate-stderr v2 proxy 192.0.2.9 198.51.100.2 4567 25 \
	    --ssl 'TLSv1.3) by evil (' $'x\ny'
	smtp_ok 220 250 250 250 354 250 221
	[[ $(received) == *"with ESMTPS (version=TLSv1.3__by_evil__ cipher=x_y) id "* ]]
}

@test "v2: a header that is not exactly the protocol ends the session without a greeting" {
	local args
	while IFS='|' read -r why args; do
		# shellcheck disable=SC2086
		{ python3 -S "$PXHDR" $args; mail_lines; } >"$IN"
		run --separate-stderr px <"$IN"
		echo "header: $args" >&2
		refused "$why"
	done <<-'EOF'
	bad version|proxy 192.0.2.9 198.51.100.2 4567 25 --ver 0x11
	bad command|proxy 192.0.2.9 198.51.100.2 4567 25 --ver 0x22
	bad family|proxy 192.0.2.9 198.51.100.2 4567 25 --fam 0x41
	bad family|proxy 192.0.2.9 198.51.100.2 4567 25 --fam 0x13
	short address|proxy --fam 0x21 --tlv 0000000000000000000000
	bad TLV|proxy 192.0.2.9 198.51.100.2 4567 25 --tlv 040005aa
	bad TLV|proxy 192.0.2.9 198.51.100.2 4567 25 --tlv 04
	bad TLV|proxy 192.0.2.9 198.51.100.2 4567 25 --tlv 20000401000000
	bad checksum|proxy 192.0.2.9 198.51.100.2 4567 25 --badcrc
	oversize|proxy 192.0.2.9 198.51.100.2 4567 25 --len 4081
	EOF
}

@test "v2: the largest header, 4096 bytes, is read" {
	run -0 --separate-stderr v2 proxy 192.0.2.9 198.51.100.2 4567 25 --noop 4065
	smtp_ok 220 250 250 250 354 250 221
	[[ $(received) == "from client.example ([192.0.2.9]) by "* ]]
}

@test "a header cut short by the end of input ends the session without a greeting" {
	python3 -S "$PXHDR" proxy 192.0.2.9 198.51.100.2 4567 25 --len 40 >"$IN"
	run --separate-stderr px <"$IN"
	refused truncated
	printf 'PROXY TCP4 192.0.2.9' >"$IN"
	run --separate-stderr pxl <"$IN"
	refused truncated
	run --separate-stderr pxl </dev/null
	refused 'no header'
}

# held BYTES: a session with -t 1 fed BYTES (printf %b), then input held
# open (tail -f writes nothing and ends when smtpd has gone, or after 10 s).
held() {
	{ printf '%b' "$1"; timeout 10 tail -f -s 0.1 /dev/null; } | pxl -t 1
}

@test "a header that does not come within -t ends the session without a greeting" {
	run --separate-stderr held 'PROXY TCP4 192.0.2.9'
	refused timeout
	run --separate-stderr held ''
	refused timeout
	run --separate-stderr held '\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\xc0'
	refused timeout
}

@test "a connection from outside -P is ended without a greeting and logged" {
	printf 'PROXY UNKNOWN\r\nQUIT\r\n' >"$IN"
	TCPREMOTEIP=192.0.2.1 run -1 --separate-stderr smtp_raw -P 127.0.0.0/8,::1 <"$IN"
	[ -z "$output" ]
	# No peer at all, as over a pipe: no front either.
	run -1 --separate-stderr smtp_raw -P 0.0.0.0/0 <"$IN"
	[ -z "$output" ]
	needs_log
	TCPREMOTEIP=192.0.2.1 run -1 --separate-stderr \
	    logged timeout 10 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -P 127.0.0.1 <"$IN"
	log_has ' client=192\.0\.2\.1 error=proxy why="untrusted front"$'
}

@test "-P takes IPv4 and IPv6 addresses and prefixes, separated by commas" {
	local front peer
	while read -r front peer; do
		printf 'PROXY UNKNOWN\r\nQUIT\r\n' >"$IN"
		REMOTE_ADDR=$peer run -0 --separate-stderr smtp_raw -P "$front" <"$IN"
		echo "-P $front, peer $peer" >&2
		smtp_ok 220 221
	done <<-'EOF'
	192.0.2.1 192.0.2.1
	10.0.0.0/8,192.0.2.0/24 192.0.2.200
	192.0.2.128/25 192.0.2.129
	0.0.0.0/0 203.0.113.7
	2001:db8::/32,10.0.0.1 2001:db8:1::5
	::ffff:192.0.2.1 192.0.2.1
	2001:db8::1/127 2001:db8::
	EOF
	while read -r front peer; do
		printf 'PROXY UNKNOWN\r\nQUIT\r\n' >"$IN"
		REMOTE_ADDR=$peer run -1 --separate-stderr smtp_raw -P "$front" <"$IN"
		echo "-P $front, peer $peer" >&2
		[ -z "$output" ]
	done <<-'EOF'
	192.0.2.128/25 192.0.2.127
	2001:db8::/32 2001:db9::1
	::/0 192.0.2.1
	0.0.0.0/0 ::1
	2001:db8::1/127 2001:db8::2
	EOF
}

@test "a bad -P argument stops start-up with 421" {
	local arg
	for arg in '' 1.2.3.4/33 ::1/129 1.2.3.4/ '1.2.3.4/ 8' 1.2.3.4/-1 \
	    1.2.3.4,,5.6.7.8 1.2.3.4, mx.example 1.2.3; do
		run -1 --separate-stderr smtp -P "$arg" -- QUIT
		echo "-P '$arg'" >&2
		smtp_ok 421
	done
	run -1 --separate-stderr smtp -P "$(printf '10.0.0.%d,' $(seq 32))10.0.1.1" -- QUIT
	smtp_ok 421
}

@test "-P is in the usage message and the manual's synopsis" {
	needs_log
	run -1 --separate-stderr logged "$SMTPD" -x </dev/null
	log_has '\[-n rcpts\] \[-P front,\.\.\.\] \[-Q dir\]'
	grep -q '^\.Op Fl P Ar front Ns \\&, Ns Ar \.\.\.$' "$SRCDIR/smtpd.8"
}

@test "without -P a PROXY line is only a bad command" {
	{ printf 'PROXY TCP4 192.0.2.9 198.51.100.2 4567 25\r\n'; mail_lines; } >"$IN"
	TCPREMOTEIP=127.0.0.1 run -0 --separate-stderr smtp_raw <"$IN"
	smtp_ok 220 500 250 250 250 354 250 221
	[[ $(received) == "from client.example ([127.0.0.1]) by "* ]]
}

# haproxy_start PORT: HAProxy in the foreground in front of smtpd on
# 127.0.0.1:PORT; it listens on $F1 (send-proxy), $F2 (send-proxy-v2 with
# SMTP health checks that send LOCAL headers), $F3 (send-proxy-v2 with
# a CRC32c checksum) and $F4 (implicit TLS, send-proxy-v2-ssl).
haproxy_start() {
	F1=$(free_port)
	F2=$(free_port)
	F3=$(free_port)
	F4=$(free_port)
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	    -keyout "$BATS_TEST_TMPDIR/key.pem" -out "$BATS_TEST_TMPDIR/cert.pem" 2>/dev/null
	cat "$BATS_TEST_TMPDIR/cert.pem" "$BATS_TEST_TMPDIR/key.pem" >"$BATS_TEST_TMPDIR/both.pem"
	cat >"$BATS_TEST_TMPDIR/haproxy.cfg" <<-EOF
	global
	    pidfile $BATS_TEST_TMPDIR/haproxy.pid
	defaults
	    mode tcp
	    timeout connect 5s
	    timeout client 30s
	    timeout server 30s
	listen v1
	    bind 127.0.0.1:$F1
	    server s 127.0.0.1:$1 send-proxy
	listen v2
	    bind 127.0.0.1:$F2
	    option smtpchk EHLO balancer.example
	    server s 127.0.0.1:$1 send-proxy-v2 check check-send-proxy inter 1s
	listen crc
	    bind 127.0.0.1:$F3
	    server s 127.0.0.1:$1 send-proxy-v2 proxy-v2-options crc32c
	listen tls
	    bind 127.0.0.1:$F4 ssl crt $BATS_TEST_TMPDIR/both.pem
	    server s 127.0.0.1:$1 send-proxy-v2-ssl proxy-v2-options ssl-cipher
	EOF
	haproxy -c -f "$BATS_TEST_TMPDIR/haproxy.cfg" >&2
	haproxy -db -f "$BATS_TEST_TMPDIR/haproxy.cfg" </dev/null >&2 3>&- &
	HAPROXY=$!
	local i
	for i in $(seq 100); do
		if { exec 9<>"/dev/tcp/127.0.0.1/$F3"; } 2>/dev/null; then
			exec 9>&-
			return 0
		fi
		sleep 0.1
	done
	echo "haproxy does not listen" >&2
	return 1
}

# from_5 PORT SUBJECT [tls]: one message to alice by smtplib, bound to
# 127.0.0.5, over implicit TLS with "tls".
from_5() {
	timeout 20 python3 -S -c '
import smtplib, ssl, sys
port, subject = sys.argv[1:3]
if len(sys.argv) > 3:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = smtplib.SMTP_SSL("127.0.0.1", int(port), timeout=10,
        source_address=("127.0.0.5", 0), context=ctx)
else:
    s = smtplib.SMTP("127.0.0.1", int(port), timeout=10,
        source_address=("127.0.0.5", 0))
s.ehlo("client.example")
s.sendmail("a@b.example", ["alice@mx.test.example"],
    ("Subject: %s\r\n\r\nthrough haproxy\r\n" % subject).encode())
s.quit()
' "$@"
}

@test "HAProxy with send-proxy, send-proxy-v2 and send-proxy-v2-ssl: the mailbox shows the client HAProxy saw" {
	needs haproxy systemd-socket-activate openssl
	needs_log
	PORT=$(free_port)
	launch "Listening on" logged systemd-socket-activate --accept --inetd \
	    -l "127.0.0.1:$PORT" "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" \
	    -P 127.0.0.1
	haproxy_start "$PORT"
	run -0 --separate-stderr from_5 "$F1" v1
	run -0 --separate-stderr from_5 "$F2" v2
	run -0 --separate-stderr from_5 "$F3" crc
	run -0 --separate-stderr from_5 "$F4" tls tls
	count_is 4 mbox_count "$MAIL/alice"
	for i in 1 2 3 4; do
		rcvd=$(mbox_msg "$MAIL/alice" $i header Received)
		echo "Received: $rcvd" >&2
		[[ $rcvd == "from client.example ([127.0.0.5]) by $HOST (smtpd) with ESMTP"* ]]
		[ "$i" = 4 ] || [[ $rcvd == *" with ESMTP id "* ]]
	done
	# HAProxy's TLS fields: the version and the cipher it chose.
	[[ $rcvd =~ \ with\ ESMTPS\ \(version=TLSv1\.[23]\ cipher=[A-Z0-9_-]+\)\ id\  ]]
	# Straight to smtpd from 127.0.0.5, not a front: no greeting.
	run from_5 "$PORT" direct
	[ "$status" != 0 ]
	count_is 4 mbox_count "$MAIL/alice"
	log_has ' client=127\.0\.0\.5 error=proxy why="untrusted front"$'
	# A health check (every second), served as the balancer's own
	# connection; tail ends at its next line once grep has gone.
	timeout 20 tail -n +1 -f "$BATS_TEST_TMPDIR/syslog" |
	    grep -q -m 1 'connect client=127\.0\.0\.1 front=127\.0\.0\.1$' || true
	log_has ' connect client=127\.0\.0\.1 front=127\.0\.0\.1$'
	[ "$(grep -Ec ' connect client=127\.0\.0\.5 port=[0-9]+ front=127\.0\.0\.1$' "$BATS_TEST_TMPDIR/syslog")" = 3 ]
	log_has ' connect client=127\.0\.0\.5 port=[0-9]+ front=127\.0\.0\.1 tls=TLSv1\.[23] cipher=[A-Z0-9_-]+$'
	# One refused client, the direct one.  haproxy_start's probe through
	# F3 closes at once; HAProxy's connection to smtpd can be reset before
	# smtpd names its peer, and is then logged as client=local.
	grep 'error=proxy' "$BATS_TEST_TMPDIR/syslog" >&2 || true
	[ "$(grep 'error=proxy' "$BATS_TEST_TMPDIR/syslog" |
	    grep -vc ' client=local error=proxy why="untrusted front"$')" = 1 ]
}
