load helper
load launch

# TLS: STARTTLS (RFC 3207) through a UCSPI-TLS front, implicit TLS (RFC
# 8314) behind one, and what Received: says of it (RFC 3848).  The protocol
# over pipes through test/fixtures/ucspitls.py, a fake front that gives
# smtpd the three descriptors and answers "Y" as s6-ucspitlsd does; then
# the real s6-ucspitlsd and s6-tlsd under tcpserver on loopback, with
# swaks, openssl s_client and Python's smtplib as clients.

S6BIN=${S6_ROOT:-/var/cache/smtpd-ci/s6}/bin
FRONT=$BATS_TEST_DIRNAME/fixtures/ucspitls.py
ALICE="RCPT TO:<alice@mx.test.example>"

setup() {
	smtp_setup
}

teardown() {
	stop_launcher
}

# front [--fail|--silent|--desc D] CLEAR TLS [SMTPD OPTIONS]: a session
# through the fake front.  CLEAR is written at once in clear (printf %b),
# TLS through the tunnel after the front was asked for it.
front() {
	local fopt=() clear tls
	case $1 in
	--fail | --silent) fopt=("$1"); shift ;;
	--desc) fopt=("$1" "$2"); shift 2 ;;
	esac
	printf -v clear '%b' "$1"
	printf -v tls '%b' "$2"
	shift 2
	FRONT_CMD=(timeout 20 python3 -S "$FRONT" "${fopt[@]}" "$clear" "$tls" --
	    "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" "$@")
	"${FRONT_CMD[@]}"
}

# front_logged ...: front, with the syslog caught (needs root).
front_logged() {
	needs_log
	front "$@" >/dev/null 2>&1 || true
	logged "${FRONT_CMD[@]}"
}

# A message to alice through TLS, after EHLO again.
MSG='EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@mx.test.example>\r\nDATA\r\nSubject: tls\r\n\r\nover tls\r\n.\r\nQUIT\r\n'

@test "without a front EHLO does not offer STARTTLS and STARTTLS gets 502 5.5.1" {
	run -0 --separate-stderr smtp -- "EHLO client.example" STARTTLS QUIT
	smtp_ok 220 250 502 221
	esc_is 3 5.5.1
	[[ $output != *250-STARTTLS* ]]
	# Descriptors that are not open, or not three, are no front.
	SSLCTLFD=7 SSLREADFD=8 SSLWRITEFD=9 run -0 --separate-stderr \
	    smtp -- "EHLO client.example" STARTTLS QUIT
	smtp_ok 220 250 502 221
	[[ $output != *250-STARTTLS* ]]
}

@test "with a UCSPI-TLS front EHLO offers STARTTLS, which gets 220 2.0.0 and sends Y" {
	run -0 --separate-stderr front 'EHLO client.example\r\nSTARTTLS\r\n' "$MSG"
	codes_are 220 250 220 250 250 250 354 250 221
	esc_is 3 2.0.0
	[[ ${lines[*]} == *250-STARTTLS* ]]
	[[ $stderr == *"ctl: Y"* ]]
	# After the handshake it is no longer offered.
	[ "$(grep -c STARTTLS <<<"$output")" = 1 ]
	[ "$(mbox_msg "$MAIL/alice" 1 body)" = "over tls" ]
}

@test "Received: says with ESMTPS and names the TLS version and cipher" {
	run -0 --separate-stderr front 'EHLO client.example\r\nSTARTTLS\r\n' "$MSG"
	codes_are 220 250 220 250 250 250 354 250 221
	rcvd=$(mbox_msg "$MAIL/alice" 1 header Received)
	echo "$rcvd" >&2
	[[ $rcvd == *"with ESMTPS (version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384) id "* ]]
}

@test "through TLS SMTPUTF8 gives UTF8SMTPS, LMTP gives LMTPS, HELO still ESMTPS" {
	run -0 --separate-stderr front 'STARTTLS\r\n' 'EHLO c.example\r\nMAIL FROM:<a@b.example> SMTPUTF8\r\nRCPT TO:<alice@mx.test.example>\r\nDATA\r\n\r\nu\r\n.\r\nQUIT\r\n'
	codes_are 220 220 250 250 250 354 250 221
	[[ $(mbox_msg "$MAIL/alice" 1 header Received) == *"with UTF8SMTPS (version=TLSv1.3 "* ]]
	run -0 --separate-stderr front 'LHLO c.example\r\nSTARTTLS\r\n' 'LHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@mx.test.example>\r\nDATA\r\n\r\nl\r\n.\r\nQUIT\r\n' -L
	codes_are 220 250 220 250 250 250 354 250 221
	[[ $(mbox_msg "$MAIL/alice" 2 header Received) == *"with LMTPS (version=TLSv1.3 "* ]]
	run -0 --separate-stderr front 'STARTTLS\r\n' 'HELO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@mx.test.example>\r\nDATA\r\n\r\nh\r\n.\r\nQUIT\r\n'
	codes_are 220 220 250 250 250 354 250 221
	[[ $(mbox_msg "$MAIL/alice" 3 header Received) == *"with ESMTPS (version=TLSv1.3 "* ]]
}

@test "commands pipelined after STARTTLS in clear are thrown away, not run (CVE-2011-0411)" {
	# MAIL in clear would make RCPT through TLS a 250; it must be a 503.
	run -0 --separate-stderr front \
	    "EHLO client.example\r\nSTARTTLS\r\nMAIL FROM:<evil@x>\r\n$ALICE\r\nQUIT\r\n" \
	    "EHLO client.example\r\n$ALICE\r\nDATA\r\nQUIT\r\n"
	codes_are 220 250 220 250 503 503 221
	# The same straight after the greeting, and with STARTTLS in the middle
	# of a line run: nothing after it counts.
	run -0 --separate-stderr front \
	    "STARTTLS\r\nMAIL FROM:<evil@x>\r\n" "$ALICE\r\nQUIT\r\n"
	codes_are 220 220 503 221
	run -0 --separate-stderr front \
	    "NOOP\r\nSTARTTLS\r\nEHLO evil.example\r\nMAIL FROM:<evil@x>\r\n" \
	    "MAIL FROM:<a@b.example>\r\nQUIT\r\n"
	codes_are 220 250 220 503 221
	[ ! -s "$MAIL/alice" ]
}

@test "the discarded octets are logged, and no command of theirs is" {
	front_logged "EHLO client.example\r\nSTARTTLS\r\nMAIL FROM:<evil@x>\r\n" \
	    "EHLO c.example\r\nRCPT TO:<alice@mx.test.example>\r\nQUIT\r\n"
	cat "$BATS_TEST_TMPDIR/syslog" >&2
	log_has ' starttls tls=TLSv1\.3 cipher=TLS_AES_256_GCM_SHA384 discarded=20$'
	log_has ' refused client=local code=503 esc=5\.5\.1 cmd=RCPT '
	! grep -q evil "$BATS_TEST_TMPDIR/syslog"
	log_has ' end=quit state=idle messages=0 refused=1 tls=TLSv1\.3 cipher=TLS_AES_256_GCM_SHA384$'
}

@test "a second STARTTLS gets 503, one with an argument 501, one in a transaction 503" {
	run -0 --separate-stderr front 'STARTTLS x\r\nEHLO c.example\r\nMAIL FROM:<a@b.example>\r\nSTARTTLS\r\nRSET\r\nSTARTTLS\r\n' \
	    'STARTTLS\r\nEHLO c.example\r\nSTARTTLS\r\nQUIT\r\n'
	codes_are 220 501 250 250 503 250 220 503 250 503 221
	escs_are - 5.5.4 - 2.1.0 5.5.1 2.0.0 2.0.0 5.5.1 - 5.5.1 2.0.0
}

@test "a failed handshake ends the session without a reply, logged" {
	run -0 --separate-stderr front --fail 'EHLO c.example\r\nSTARTTLS\r\n' 'QUIT\r\n'
	codes_are 220 250 220
	front_logged --fail 'EHLO c.example\r\nSTARTTLS\r\n' 'QUIT\r\n'
	log_has ' end=tls-failed state=idle messages=0 refused=0$'
}

@test "a handshake that does not end within -t ends the session, logged" {
	front_logged --silent 'EHLO c.example\r\nSTARTTLS\r\n' '' -t 1
	log_has ' end=tls-timeout state=idle '
}

@test "the front's words reach Received: and the log only as letters, digits and ._+/-" {
	run -0 --separate-stderr front --desc 'SSL_PROTOCOL=TLSv1.2) (by evil\0SSL_CIPHER=A;B\0\0' \
	    'STARTTLS\r\n' "$MSG"
	codes_are 220 220 250 250 250 354 250 221
	rcvd=$(mbox_msg "$MAIL/alice" 1 header Received)
	echo "$rcvd" >&2
	[[ $rcvd == *"with ESMTPS (version=TLSv1.2___by_evil cipher=A_B) id "* ]]
}

@test "-S: before STARTTLS all but EHLO, NOOP and QUIT get 530 5.7.0; after it MAIL is served" {
	run -0 --separate-stderr front 'HELO c.example\r\nEHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRSET\r\nNOOP\r\nVRFY alice\r\nSTARTTLS\r\n' \
	    "$MSG" -S
	codes_are 220 530 250 530 530 250 530 220 250 250 250 354 250 221
	esc_is 2 5.7.0
	[ "$(mbox_msg "$MAIL/alice" 1 body)" = "over tls" ]
	# BDAT's chunk is skipped, not read as commands.
	run -0 --separate-stderr front 'BDAT 6 LAST\r\nQUIT\r\nNOOP\r\nQUIT\r\n' '' -S
	codes_are 220 530 250 221
}

@test "-S without a TLS front cannot start: 421" {
	run -1 --separate-stderr smtp -S -- "EHLO c.example" QUIT
	codes_are 421
	esc_is 1 4.3.0
	SSL_PROTOCOL=TLSv1.3 run -0 --separate-stderr send_to alice -S
	smtp_ok 220 250 250 250 354 250 221
}

@test "implicit TLS: SSL_PROTOCOL from the front gives ESMTPS, and STARTTLS is 503" {
	SSL_PROTOCOL=TLSv1.3 SSL_CIPHER=TLS_AES_128_GCM_SHA256 run -0 --separate-stderr smtp -- \
	    "EHLO client.example" STARTTLS "MAIL FROM:<a@b.example>" "$ALICE" DATA "" x . QUIT
	smtp_ok 220 250 503 250 250 354 250 221
	[[ $output != *250-STARTTLS* ]]
	[[ $(mbox_msg "$MAIL/alice" 1 header Received) == *"with ESMTPS (version=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256) id "* ]]
}

# Real fronts: s6-networking under tcpserver on loopback.

needs_s6() {
	local p
	for p in s6-ucspitlsd s6-tlsd s6-tlsd-io; do
		[ -x "$S6BIN/$p" ] || skip "needs $S6BIN/$p (sh test/fetch-s6; S6_ROOT)"
	done
	needs tcpserver openssl
	# A self-signed certificate for this run of the file.
	if [ ! -f "$BATS_FILE_TMPDIR/cert.pem" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$HOST" \
		    -keyout "$BATS_FILE_TMPDIR/key.pem" -out "$BATS_FILE_TMPDIR/cert.pem" 2>/dev/null
	fi
	cp "$BATS_FILE_TMPDIR/key.pem" "$BATS_FILE_TMPDIR/cert.pem" "$BATS_TEST_TMPDIR/"
	# s6-tlsd-io reads them before it drops to TLS_UID:TLS_GID.
	TLSENV=(PATH="$S6BIN:$PATH" CERTFILE="$BATS_TEST_TMPDIR/cert.pem"
	    KEYFILE="$BATS_TEST_TMPDIR/key.pem")
	if [ "$(id -u)" = 0 ]; then
		TLSENV+=(TLS_UID="$(id -u nobody)" TLS_GID="$(id -g nobody)")
	fi
}

# launch_tls FRONT [SMTPD OPTIONS]: tcpserver running FRONT (s6-ucspitlsd
# or s6-tlsd) running smtpd, on 127.0.0.1:$PORT.
launch_tls() {
	local front=$1
	shift
	PORT=$(free_port)
	launch "status: 0/" env "${TLSENV[@]}" tcpserver -v -R -H -l 0 -c 4 \
	    127.0.0.1 "$PORT" "$front" -S -K 10000 \
	    "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" "$@"
}

BODY=$'Subject: tls\r\n\r\nline one\r\n.dot\r\n\r\nlast line'

# stored_exactly N: message N of alice's mbox is $BODY (LF lines, the dot
# unstuffed) and its Received: names TLSv1.3.
stored_exactly() {
	local rcvd
	[ "$(mbox_msg "$MAIL/alice" "$1" body)" = $'line one\n.dot\n\nlast line' ]
	[ "$(mbox_msg "$MAIL/alice" "$1" header Subject)" = tls ]
	rcvd=$(mbox_msg "$MAIL/alice" "$1" header Received)
	echo "Received: $rcvd" >&2
	[[ $rcvd == *"with ESMTPS (version=TLSv1.3 cipher="* ]]
}

@test "s6-ucspitlsd: swaks --tls delivers and Received: names TLSv1.3" {
	needs_s6
	needs swaks
	launch_tls "$S6BIN/s6-ucspitlsd"
	run -0 timeout 30 swaks --server 127.0.0.1 --port "$PORT" --tls \
	    --helo client.example --from a@b.example --to alice@$HOST --data "$BODY"
	[[ $output == *"TLS started with cipher TLSv1.3"* ]]
	stored_exactly 1
}

@test "s6-ucspitlsd: openssl s_client -starttls smtp delivers" {
	needs_s6
	launch_tls "$S6BIN/s6-ucspitlsd"
	run -0 bash -c 'printf "%s\r\n" "EHLO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@$2>" DATA "Subject: tls" "" "line one" "..dot" "" "last line" . QUIT |
	    timeout 30 openssl s_client -quiet -starttls smtp -connect "127.0.0.1:$1" 2>/dev/null' _ "$PORT" "$HOST"
	[[ $output == *"250 2.0.0 Message accepted"* ]]
	stored_exactly 1
}

@test "s6-ucspitlsd: Python smtplib starttls() delivers, and pipelined clear text is not run" {
	needs_s6
	launch_tls "$S6BIN/s6-ucspitlsd"
	run -0 timeout 30 python3 -S -c '
import smtplib, socket, ssl, sys
port, body = int(sys.argv[1]), sys.argv[2].encode()
ctx = ssl.create_default_context()
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", port, timeout=10)
s.ehlo("client.example")
assert s.has_extn("starttls")
code, _ = s.starttls(context=ctx)
assert code == 220, code
s.ehlo("client.example")
assert not s.has_extn("starttls")
assert s.sendmail("a@b.example", ["alice@mx.test.example"], body) == {}
s.quit()

# STARTTLS and MAIL in one segment, before and after EHLO: the MAIL read
# in clear must not start a transaction behind the handshake.
for first in (b"", b"EHLO client.example\r\n"):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = c.makefile("rb")
    assert f.readline().startswith(b"220 ")
    c.sendall(first + b"STARTTLS\r\nMAIL FROM:<evil@x>\r\n")
    while True:
        line = f.readline()
        assert line[:3] in (b"250", b"220"), line
        if line.startswith(b"220 2.0.0"):
            break
    t = ctx.wrap_socket(c)
    version = t.version()
    tf = t.makefile("rb")
    t.sendall(b"EHLO client.example\r\nRCPT TO:<alice@mx.test.example>\r\nQUIT\r\n")
    replies = []
    while True:
        line = tf.readline()
        if not line:
            break
        if line[3:4] == b" ":
            replies.append(line[:3])
    print(version, replies)
    assert replies == [b"250", b"503", b"221"], replies
' "$PORT" "$BODY"
	echo "$output" >&2
	stored_exactly 1
	[ "$(mbox_count "$MAIL/alice")" = 1 ]
}

@test "s6-tlsd (implicit TLS, port 465): smtplib SMTP_SSL delivers and Received: says ESMTPS" {
	needs_s6
	launch_tls "$S6BIN/s6-tlsd"
	run -0 timeout 30 python3 -S -c '
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
s = smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), timeout=10, context=ctx)
s.ehlo("client.example")
assert not s.has_extn("starttls")
assert s.sendmail("a@b.example", ["alice@mx.test.example"], sys.argv[2].encode()) == {}
s.quit()
' "$PORT" "$BODY"
	stored_exactly 1
	[[ $(mbox_msg "$MAIL/alice" 1 header Received) == "from client.example ([127.0.0.1])"* ]]
}

@test "inetd.conf.example's STARTTLS line: swaks --tls delivers through s6-ucspitlsd under inetd" {
	needs_s6
	needs inetd swaks
	needs_root
	PORT=$(free_port)
	inetd_conf 3 -d "$MAIL" -h "$HOST" |
	    sed -e "s|PATH=/usr/local/bin:|PATH=$S6BIN:|" \
		-e "s|/etc/smtpd/tls/|$BATS_TEST_TMPDIR/|g" >"$BATS_TEST_TMPDIR/inetd.conf"
	cat "$BATS_TEST_TMPDIR/inetd.conf" >&2
	grep -q "^127.0.0.1:$PORT[[:blank:]].* s6-ucspitlsd -S " "$BATS_TEST_TMPDIR/inetd.conf"
	launch "ADD: 127.0.0.1:$PORT" inetd -d -i "$BATS_TEST_TMPDIR/inetd.conf"
	run -0 timeout 30 swaks --server 127.0.0.1 --port "$PORT" --tls \
	    --helo client.example --from a@b.example --to alice@$HOST --data "$BODY"
	[[ $output == *"TLS started with cipher TLSv1.3"* ]]
	stop_inetd
	stored_exactly 1
}
