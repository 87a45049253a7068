#!/usr/bin/env bats
# SMTPUTF8 (RFC 6531): UTF-8 addresses in a transaction that asks for them.

load helper

setup() {
	smtp_setup
	mkmbox 'josé'
	mkmbox '用户'
}

# utf8_session OPTIONS -- ADDRESS-LINES...: EHLO, the lines, QUIT.
utf8_session() {
	split_opts "$@"
	smtp "${OPTS[@]}" -- "EHLO client.example" "${ARGS[@]}" QUIT
}

@test "EHLO and LHLO advertise SMTPUTF8" {
	run -0 --separate-stderr smtp -- "EHLO c" QUIT
	ehlo_keywords | grep -qx SMTPUTF8
	run -0 --separate-stderr smtp -L -- "LHLO c" QUIT
	ehlo_keywords | grep -qx SMTPUTF8
	smtp_ok
}

@test "with SMTPUTF8 a UTF-8 sender and recipient are accepted and delivered" {
	run -0 --separate-stderr utf8_session -- "MAIL FROM:<jörg@bücher.example> SMTPUTF8" \
		"RCPT TO:<josé@$HOST>" "RCPT TO:<用户@$HOST>" DATA "Subject: héllo" "" "grüße" .
	smtp_ok 220 250 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/josé"
	count_is 1 mbox_count "$MAIL/用户"
	# Python's mailbox reads From_ lines as ASCII: look at the bytes.
	[ "$(head -n 1 "$MAIL/josé" | cut -d' ' -f1,2)" = 'From jörg@bücher.example' ]
	mbox_msg "$MAIL/josé" 1 headers | grep -qx 'Return-Path: <jörg@bücher.example>'
	mbox_msg "$MAIL/josé" 1 headers | grep -qx 'Delivered-To: josé@mx.test.example'
	[ "$(mbox_msg "$MAIL/josé" 1 body)" = 'grüße' ]
}

@test "Received: says UTF8SMTP, or UTF8LMTP, for a SMTPUTF8 transaction only" {
	run -0 --separate-stderr utf8_session -- "MAIL FROM:<s@c.example> SMTPUTF8" \
		"RCPT TO:<josé@$HOST>" DATA x . "MAIL FROM:<s@c.example>" "RCPT TO:<alice@$HOST>" DATA y .
	codes_are 220 250 250 250 354 250 250 250 354 250 221
	mbox_msg "$MAIL/josé" 1 header Received | grep -q ' with UTF8SMTP id '
	mbox_msg "$MAIL/alice" 1 header Received | grep -q ' with ESMTP id '
	run -0 --separate-stderr smtp -L -- "LHLO c" "MAIL FROM:<s@c.example> SMTPUTF8" \
		"RCPT TO:<用户@$HOST>" DATA x . QUIT
	codes_are 220 250 250 250 354 250 221
	mbox_msg "$MAIL/用户" 1 header Received | grep -q ' with UTF8LMTP id '
}

@test "without SMTPUTF8 a non-ASCII sender or recipient gets 553 5.6.7" {
	run -0 --separate-stderr utf8_session -- "MAIL FROM:<jörg@c.example>" \
		"MAIL FROM:<s@bücher.example>" "MAIL FROM:<s@c.example>" \
		"RCPT TO:<josé@$HOST>" "RCPT TO:<alice@$HOST>"
	smtp_ok 220 250 553 553 250 553 250 221
	esc_is 3 5.6.7
	esc_is 4 5.6.7
	esc_is 6 5.6.7
}

@test "SMTPUTF8 holds for its own transaction only" {
	run -0 --separate-stderr utf8_session -- "MAIL FROM:<s@c.example> SMTPUTF8" \
		"RCPT TO:<josé@$HOST>" RSET "MAIL FROM:<s@c.example>" "RCPT TO:<josé@$HOST>"
	codes_are 220 250 250 250 250 250 553 221
	esc_is 7 5.6.7
}

@test "malformed UTF-8 in an address gets 501 even with SMTPUTF8" {
	local bad
	# Overlong, surrogate, past U+10FFFF, C1 control, lone continuation,
	# truncated, and a byte that is never UTF-8.
	for bad in '\xc0\xaf' '\xe0\x80\xaf' '\xed\xa0\x80' '\xf4\x90\x80\x80' \
	    '\xc2\x80' '\xc2\x9f' '\x80' '\xe2\x82' '\xff'; do
		run -0 --separate-stderr smtp_bytes -- "EHLO c\r\nMAIL FROM:<a${bad}b@c.example> SMTPUTF8\r\nMAIL FROM:<s@c.example> SMTPUTF8\r\nRCPT TO:<a${bad}b@$HOST>\r\nRCPT TO:<\"a${bad}\"@$HOST>\r\nRCPT TO:<alice@d${bad}.example>\r\nQUIT\r\n"
		smtp_ok 220 250 501 250 501 501 501 221
		escs_are - - 5.1.7 2.1.0 5.1.3 5.1.3 5.1.3 2.0.0
	done
}

@test "the largest and smallest well-formed sequences of each length are accepted" {
	local ok
	# U+00A0 U+07FF U+0800 U+D7FF U+E000 U+FFFF U+10000 U+10FFFF
	for ok in '\xc2\xa0' '\xdf\xbf' '\xe0\xa0\x80' '\xed\x9f\xbf' '\xee\x80\x80' \
	    '\xef\xbf\xbf' '\xf0\x90\x80\x80' '\xf4\x8f\xbf\xbf'; do
		run -0 --separate-stderr smtp_bytes -- "EHLO c\r\nMAIL FROM:<a${ok}b@c.example> SMTPUTF8\r\nMAIL FROM:<\"${ok}\"@d${ok}.example> SMTPUTF8\r\nQUIT\r\n"
		codes_are 220 250 250 503 221
	done
}

@test "SMTPUTF8 combines with SIZE and BODY, takes no value and needs EHLO" {
	run -0 --separate-stderr utf8_session -- \
		"MAIL FROM:<jörg@c.example> SIZE=100 SMTPUTF8 BODY=8BITMIME" RSET \
		"MAIL FROM:<jörg@c.example> smtputf8 SIZE=100" RSET \
		"MAIL FROM:<s@c.example> SMTPUTF8=yes" \
		"MAIL FROM:<jörg@c.example> SMTPUTF8 SIZE=x" \
		"MAIL FROM:<jörg@c.example> SMTPUTF8 SIZE=999999999999"
	codes_are 220 250 250 250 250 250 555 501 552 221
	run -0 --separate-stderr smtp -- "HELO c" "MAIL FROM:<s@c.example> SMTPUTF8" QUIT
	codes_are 220 250 555 221
}

@test "local parts count 64 octets, not characters" {
	local u31 u32
	u31=$(printf 'é%.0s' $(seq 31))	# 62 octets
	u32=$(printf 'é%.0s' $(seq 33))	# 66 octets
	run -0 --separate-stderr utf8_session -- "MAIL FROM:<${u31}xx@c.example> SMTPUTF8" \
		"RCPT TO:<${u32}@$HOST>" RSET "MAIL FROM:<${u31}xxx@c.example> SMTPUTF8"
	codes_are 220 250 250 501 250 501 221
}

@test "UTF-8 mailbox names keep the rules: no slash, no .lock, only ASCII folds" {
	mkmbox 'josÉ'
	run -0 --separate-stderr utf8_session -- "MAIL FROM:<s@c.example> SMTPUTF8" \
		"RCPT TO:<\"jo/sé\"@$HOST>" "RCPT TO:<josé.lock@$HOST>" \
		"RCPT TO:<JOSÉ@$HOST>" "RCPT TO:<José@$HOST>" "RCPT TO:<ÿser@$HOST>" \
		DATA x .
	codes_are 220 250 250 550 550 250 250 550 354 250 221
	count_is 1 mbox_count "$MAIL/josÉ"
	count_is 1 mbox_count "$MAIL/josé"
}

@test "a UTF-8 domain is local only when -D names it, byte for byte" {
	run -0 --separate-stderr utf8_session -D 'bücher.example' -- \
		"MAIL FROM:<s@c.example> SMTPUTF8" "RCPT TO:<josé@BÜCHER.example>" \
		"RCPT TO:<josé@xn--bcher-kva.example>" "RCPT TO:<josé@BüCHER.EXAMPLE>"
	codes_are 220 250 250 550 550 250 221
	esc_is 4 5.7.1
}

@test "an alias maps a UTF-8 name to a local user" {
	printf 'müller: alice\n用户组: alice, josé\n' >"$BATS_TEST_TMPDIR/aliases"
	run -0 --separate-stderr utf8_session -a "$BATS_TEST_TMPDIR/aliases" -- \
		"MAIL FROM:<s@c.example> SMTPUTF8" "RCPT TO:<MÜLLER@$HOST>" \
		"RCPT TO:<Müller@$HOST>" "RCPT TO:<用户组@$HOST>" DATA x .
	codes_are 220 250 250 550 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	count_is 1 mbox_count "$MAIL/josé"
}

@test "the MDA gets the UTF-8 addresses in %u %r %s" {
	agent_setup
	run -0 --separate-stderr utf8_session -m "$AGENT -d %u -r %r -- %s" -- \
		"MAIL FROM:<jörg@bücher.example> SMTPUTF8" "RCPT TO:<José@$HOST>" DATA x .
	codes_are 220 250 250 250 354 250 221
	run_argv_is -d josé -r "José@$HOST" -- 'jörg@bücher.example'
}

@test "without SMTPUTF8, 8-bit header text is still just data" {
	run -0 --separate-stderr utf8_session -- "MAIL FROM:<s@c.example>" \
		"RCPT TO:<alice@$HOST>" DATA "Subject: grüße" "" x .
	codes_are 220 250 250 250 354 250 221
	mbox_msg "$MAIL/alice" 1 headers | grep -qx 'Subject: grüße'
}

# Python's smtplib, talking to smtpd over a socket pair.
@test "smtplib sends with mail_options=['SMTPUTF8']" {
	run -0 --separate-stderr python3 -S - "$SMTPD" "$MAIL" "$HOST" "${SMTPD_UOPT[@]}" <<'PY'
import smtplib, socket, subprocess, sys
smtpd, mail, host, opts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
ours, theirs = socket.socketpair()
p = subprocess.Popen([smtpd] + opts + ["-d", mail, "-h", host],
                     stdin=theirs, stdout=theirs, stderr=subprocess.DEVNULL)
theirs.close()
c = smtplib.SMTP()
c.sock = ours
c._host = host
assert c.getreply()[0] == 220
c.ehlo("client.example")
assert c.has_extn("smtputf8")
msg = "From: jörg@bücher.example\r\nTo: josé@%s\r\nSubject: grüße\r\n\r\nhallo\r\n" % host
refused = c.sendmail("jörg@bücher.example", ["josé@" + host], msg.encode(),
                     mail_options=["SMTPUTF8"])
assert refused == {}, refused
c.quit()
sys.exit(p.wait(10))
PY
	count_is 1 mbox_count "$MAIL/josé"
	mbox_msg "$MAIL/josé" 1 headers | grep -qx 'Subject: grüße'
}

@test "a bounce to a UTF-8 sender is an RFC 6533 global report" {
	run -0 --separate-stderr utf8_session -- "MAIL FROM:<josé@$HOST> SMTPUTF8" \
		"RCPT TO:<alice@$HOST>" "RCPT TO:<用户@$HOST>" DATA "Delivered-To: 用户@$HOST" "Subject: grüße" "" x .
	codes_are 220 250 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	count_is 0 mbox_count "$MAIL/用户"
	count_is 1 mbox_count "$MAIL/josé"
	run -0 python3 -S - "$MAIL/josé" <<'PY'
import email, email.policy, sys
raw = open(sys.argv[1], "rb").read().split(b"\n", 1)[1]
msg = email.message_from_bytes(raw, policy=email.policy.default)
print(msg.get_content_type(), msg.get_param("report-type"))
for p in msg.iter_parts():
    print(p.get_content_type(), p.get_param("charset") or "-")
PY
	[ "${lines[0]}" = "multipart/report global-delivery-status" ]
	[ "${lines[1]}" = "text/plain utf-8" ]
	[ "${lines[2]}" = "message/global-delivery-status -" ]
	[ "${lines[3]}" = "message/global-headers -" ]
	grep -qx "Final-Recipient: utf-8; 用户@$HOST" "$MAIL/josé"
	grep -qx "Subject: grüße" "$MAIL/josé"
}

@test "a bounce with only ASCII addresses stays an RFC 3464 report" {
	run -0 --separate-stderr utf8_session -- "MAIL FROM:<alice@$HOST> SMTPUTF8" \
		"RCPT TO:<alice@$HOST>" "RCPT TO:<bob@$HOST>" DATA "Delivered-To: bob@$HOST" x .
	codes_are 220 250 250 250 250 354 250 221
	grep -qx 'Content-Type: message/delivery-status' "$MAIL/alice"
	grep -qx "Final-Recipient: rfc822; bob@$HOST" "$MAIL/alice"
}
