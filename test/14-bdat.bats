#!/usr/bin/env bats
# CHUNKING (RFC 3030): BDAT chunks, their limits and their order.

load helper
load launch

# Start of a transaction to alice, as printf %b text.
START='EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@mx.test.example>\r\n'

# chunk TEXT [LAST]: "BDAT n" for the printf %b text TEXT, then TEXT, as
# printf %b text.
chunk() {
	local n
	n=$(printf '%b' "$1" | wc -c)
	printf 'BDAT %d%s\\r\\n%s' "$n" "${2:+ $2}" "$1"
}

@test "EHLO and LHLO advertise CHUNKING, not BINARYMIME" {
	run -0 --separate-stderr smtp -- "EHLO c" QUIT
	ehlo_keywords | grep -qx CHUNKING
	! ehlo_keywords | grep -q BINARYMIME
	run -0 --separate-stderr smtp -L -- "LHLO c" QUIT
	ehlo_keywords | grep -qx CHUNKING
	smtp_ok
}

@test "chunks are read by count, each answered 250, the message after LAST" {
	run -0 --separate-stderr smtp_bytes -- "${START}$(chunk 'Subject: t\r\n\r\n')$(chunk 'hello\r\n\r\n' LAST)QUIT\r\n"
	smtp_ok 220 250 250 250 250 250 221
	escs_are - - 2.1.0 2.1.5 2.0.0 2.0.0 2.0.0
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Subject)" = t ]
	mbox_msg "$MAIL/alice" 1 body >"$BATS_TEST_TMPDIR/body"
	printf 'hello\n\n' | cmp - "$BATS_TEST_TMPDIR/body"
}

@test "BDAT 0 LAST ends the message; alone it sends an empty one" {
	run -0 --separate-stderr smtp_bytes -- "${START}BDAT 10\r\nSubject: tBDAT 2\r\n\r\nBDAT 0 LAST\r\nMAIL FROM:<>\r\nRCPT TO:<alice@mx.test.example>\r\nbdat 0 last\r\nQUIT\r\n"
	codes_are 220 250 250 250 250 250 250 250 250 250 221
	count_is 2 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Subject)" = t ]
	mbox_msg "$MAIL/alice" 2 names | grep -qx Received
}

@test "chunk data is not dot-unstuffed and a dot line does not end it" {
	run -0 --separate-stderr smtp_bytes -- "${START}$(chunk 'Subject: t\r\n\r\n..x\r\n.\r\n' LAST)QUIT\r\n"
	codes_are 220 250 250 250 250 221
	[ "$(mbox_msg "$MAIL/alice" 1 body)" = $'..x\n.' ]
}

@test "a BDAT message is quoted like a DATA one in mbox" {
	run -0 --separate-stderr smtp_bytes -- "${START}$(chunk 'Subject: t\r\n\r\nFrom here\r\n>From x\r\n' LAST)QUIT\r\n"
	codes_are 220 250 250 250 250 221
	grep -qx '>From here' "$MAIL/alice"
	grep -qx '>>From x' "$MAIL/alice"
}

@test "a last line without CR LF is ended; a bare CR is data" {
	run -0 --separate-stderr smtp_bytes -- "${START}$(chunk 'Subject: t\r\n\r\na\rb\r' LAST)QUIT\r\n"
	codes_are 220 250 250 250 250 221
	mbox_msg "$MAIL/alice" 1 body >"$BATS_TEST_TMPDIR/body"
	printf 'a\rb\r\n' | cmp - "$BATS_TEST_TMPDIR/body"
}

@test "a bare LF in a chunk is refused as in DATA" {
	run -0 --separate-stderr smtp_bytes -- "${START}$(chunk 'Subject: t\n\r\nx\r\n' LAST)QUIT\r\n"
	codes_are 220 250 250 250 550 221
	esc_is 5 5.6.0
	count_is 0 mbox_count "$MAIL/alice"
}

@test "a line over 1000 octets is refused as in DATA, however it is chunked" {
	local long
	long=$(pad 998)
	run -0 --separate-stderr smtp_bytes -- "${START}BDAT 500\r\n${long:0:500}BDAT 500 LAST\r\n${long:500}\r\nQUIT\r\n"
	codes_are 220 250 250 250 250 250 221
	long=$(pad 999)
	run -0 --separate-stderr smtp_bytes -- "${START}BDAT 500\r\n${long:0:500}BDAT 500\r\n${long:500}\rBDAT 1 LAST\r\n\nQUIT\r\n"
	codes_are 220 250 250 250 250 250 500 221
	esc_is 7 5.5.2
	count_is 1 mbox_count "$MAIL/alice"
}

@test "more than 100 Received: fields is a loop" {
	local r i n
	for i in $(seq 101); do r="${r}Received: x\r\n"; done
	n=$(printf '%b' "$r" | wc -c)
	run -0 --separate-stderr smtp_bytes -- "${START}BDAT $n\r\n${r}BDAT 2 LAST\r\n\r\nQUIT\r\n"
	codes_are 220 250 250 250 250 554 221
	esc_is 6 5.4.6
}

@test "a chunk past -s is read and thrown away, 552, and the transaction ends" {
	run -0 --separate-stderr smtp_bytes -s 10 -- "${START}BDAT 6\r\nQUIT\r\nBDAT 6\r\nQUIT\r\nBDAT 6 LAST\r\nQUIT\r\nRCPT TO:<alice@mx.test.example>\r\nMAIL FROM:<>\r\nRCPT TO:<alice@mx.test.example>\r\nBDAT 4 LAST\r\nabc\nNOOP\r\nQUIT\r\n"
	smtp_ok 220 250 250 250 250 552 503 503 250 250 550 250 221
	esc_is 6 5.3.4
	count_is 0 mbox_count "$MAIL/alice"
}

@test "chunks of exactly -s octets in all are accepted" {
	run -0 --separate-stderr smtp_bytes -s 10 -- "${START}BDAT 5\r\nx:y\r\nBDAT 5 LAST\r\n\r\nabcQUIT\r\n"
	codes_are 220 250 250 250 250 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "with LMTP a last chunk past -s gets one 552 per recipient" {
	run -0 --separate-stderr smtp_bytes -L -s 10 -- "LHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@mx.test.example>\r\nRCPT TO:<bob@mx.test.example>\r\nBDAT 11 LAST\r\n0123456789\nQUIT\r\n"
	codes_are 220 250 250 250 250 552 552 221
}

@test "a malformed size gets 501 and ends the transaction" {
	local bad
	for bad in "" " " " x" " -1" " +1" " 1 LASTX" " 1 LAST x" " 1x" \
	    " 18446744073709551616" " 99999999999999999999999"; do
		run -0 --separate-stderr smtp_bytes -- "${START}BDAT${bad}\r\nRCPT TO:<alice@mx.test.example>\r\nQUIT\r\n"
		codes_are 220 250 250 250 501 503 221
	done
}

@test "BDAT before a recipient gets 503 and its chunk is still read" {
	run -0 --separate-stderr smtp_bytes -- "EHLO c\r\nBDAT 6\r\nQUIT\r\nMAIL FROM:<>\r\nBDAT 6 LAST\r\nQUIT\r\nRCPT TO:<nobody@mx.test.example>\r\nBDAT 0 LAST\r\nNOOP\r\nQUIT\r\n"
	codes_are 220 250 503 250 503 550 503 250 221
	esc_is 3 5.5.1
}

@test "DATA and BDAT do not mix in one transaction" {
	run -0 --separate-stderr smtp_bytes -- "${START}BDAT 3\r\na:bDATA\r\nRCPT TO:<alice@mx.test.example>\r\nMAIL FROM:<>\r\nBDAT 3 LAST\r\n\r\nxQUIT\r\n"
	codes_are 220 250 250 250 250 503 503 503 250 221
	count_is 1 mbox_count "$MAIL/alice"
	run -0 --separate-stderr smtp_bytes -- "${START}DATA\r\nx\r\n.\r\nBDAT 1 LAST\r\nxQUIT\r\n"
	codes_are 220 250 250 250 354 250 503 221
}

@test "RSET ends a BDAT transaction; NOOP does not" {
	run -0 --separate-stderr smtp_bytes -- "${START}BDAT 3\r\na:bNOOP\r\nBDAT 3 LAST\r\n\r\nxMAIL FROM:<>\r\nRCPT TO:<alice@mx.test.example>\r\nBDAT 3\r\na:bRSET\r\nBDAT 4 LAST\r\nQUITQUIT\r\n"
	codes_are 220 250 250 250 250 250 250 250 250 250 250 503 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "pipelined chunks and transactions get one reply each, in order" {
	run -0 --separate-stderr smtp_bytes -- "${START}$(chunk 'a:b')$(chunk '\r\n')$(chunk '\r\nx\r\n')$(chunk 'y\r\n' LAST)MAIL FROM:<>\r\nRCPT TO:<bob@mx.test.example>\r\nBDAT 5 LAST\r\n\r\nz\r\nQUIT\r\n"
	codes_are 220 250 250 250 250 250 250 250 250 250 250 221
	count_is 1 mbox_count "$MAIL/alice"
	count_is 1 maildir_count "$MAIL/bob"
}

@test "with LMTP, BDAT LAST gets one reply per recipient" {
	chmod 000 "$MAIL/bob/tmp"
	run -0 --separate-stderr smtp_bytes -L -- "LHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<alice@mx.test.example>\r\nRCPT TO:<bob@mx.test.example>\r\nBDAT 3\r\nx:yBDAT 5 LAST\r\n\r\nz\r\nQUIT\r\n"
	codes_are 220 250 250 250 250 250 250 451 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "the end of input inside a chunk delivers nothing" {
	run -0 --separate-stderr smtp_bytes -- "${START}BDAT 100 LAST\r\nSubject: t\r\n\r\nx\r\n"
	codes_are 220 250 250 250
	count_is 0 mbox_count "$MAIL/alice"
}

@test "-T bounds the reads of a chunk" {
	run -0 --separate-stderr bash -c '{ printf "%b" "$1"; sleep 4; } |
	    timeout 10 "${@:2}" -h mx.test.example -t 8 -T 1' _ \
	    "${START}BDAT 100 LAST\r\nSubject: t\r\n" "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL"
	codes_are 220 250 250 250 421
	esc_is 5 4.4.2
}

@test "-T counts from the first chunk of the message" {
	run -0 --separate-stderr bash -c '{ printf "%b" "$1"; sleep 2; printf "%b" "$2"; sleep 4; } |
	    timeout 10 "${@:3}" -h mx.test.example -t 8 -T 1' _ \
	    "${START}BDAT 3\r\na:b" "BDAT 5 LAST\r\nx" "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL"
	codes_are 220 250 250 250 250 421
}

teardown() {
	stop_launcher
}

# Exim as a real CHUNKING and SMTPUTF8 client.  Debian's package conflicts
# with Postfix's, so the test runs an unpacked one:
#   sh test/fetch-exim DIR    (as .ci/run does)
# and EXIM4_ROOT=DIR/root.  Exim needs its compiled-in user, which is added in
# a private mount namespace only.
exim_send() {
	local tmp=$BATS_TEST_TMPDIR/exim
	mkdir -p "$tmp/spool" "$tmp/log"
	cp /etc/passwd "$tmp/passwd"
	cp /etc/group "$tmp/group"
	echo 'Debian-exim:x:60999:60999::/nonexistent:/usr/sbin/nologin' >>"$tmp/passwd"
	echo 'Debian-exim:x:60999:' >>"$tmp/group"
	chown -R 60999:60999 "$tmp/spool" "$tmp/log"
	cat >"$tmp/conf" <<CONF
exim_path = $EXIM4_ROOT/usr/sbin/exim4
primary_hostname = client.example
spool_directory = $tmp/spool
log_file_path = $tmp/log/%slog
keep_environment =
smtputf8_advertise_hosts = *
acl_smtp_rcpt = accept
begin routers
to_smtpd:
  driver = manualroute
  domains = *
  route_list = * 127.0.0.1
  self = send
  transport = smtpd_t
begin transports
smtpd_t:
  driver = smtp
  port = $PORT
  hosts_try_chunking = *
  hosts_avoid_tls = *
  allow_localhost
CONF
	unshare -m sh -c 'mount --bind "$1/passwd" /etc/passwd &&
	    mount --bind "$1/group" /etc/group && shift && exec "$@"' _ "$tmp" \
	    "$EXIM4_ROOT/usr/sbin/exim4" -C "$tmp/conf" -odf "$@"
	EXIM_LOG=$tmp/log/mainlog
}

@test "Exim delivers through CHUNKING and SMTPUTF8" {
	[ -x "${EXIM4_ROOT-}/usr/sbin/exim4" ] || skip "no unpacked Exim (EXIM4_ROOT)"
	[ "$(id -u)" = 0 ] || skip "needs root"
	needs systemd-socket-activate
	mkmbox 'josé'
	launch_socket_activate -d "$MAIL" -h "$HOST"
	# 200 kB: several chunks; a dot line and a From line on the way.
	{ printf 'Subject: via exim\n\n..dot\nFrom here\n'
	  printf 'line %05d of a long message\n' {1..4000}; } \
		>"$BATS_TEST_TMPDIR/msg"
	exim_send -oi -f s@client.example "alice@$HOST" "bob@$HOST" <"$BATS_TEST_TMPDIR/msg"
	grep -q "=> alice@$HOST .* K C=\"250 2.0.0 " "$EXIM_LOG"
	grep -q -- "-> bob@$HOST .* K C=\"250 2.0.0 " "$EXIM_LOG"
	sed '1,/^$/d' "$BATS_TEST_TMPDIR/msg" >"$BATS_TEST_TMPDIR/want"
	maildir_msg "$MAIL/bob" 1 body | cmp - "$BATS_TEST_TMPDIR/want"
	printf 'EHLO c\r\nMAIL FROM:<jörg@bücher.example> SMTPUTF8\r\nRCPT TO:<josé@%s>\r\nDATA\r\nSubject: grüße\r\n\r\nhallo\r\n.\r\nQUIT\r\n' "$HOST" |
		exim_send -bs >/dev/null
	grep -q "=> josé@$HOST .* K C=\"250 2.0.0 " "$EXIM_LOG"
	grep -q ' with UTF8SMTP id ' "$MAIL/josé"
	head -n 1 "$MAIL/josé" | grep -q '^From jörg@bücher.example '
}
