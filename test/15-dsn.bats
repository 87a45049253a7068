load helper

# RFC 3461 DSN: the RET, ENVID, NOTIFY and ORCPT parameters, and the RFC
# 3464 reports they ask for, read back with Python's email package.

MSG=("Subject: dsn" "" "hello")

# runq OPTIONS: one queue run over $MAIL.
runq() {
	timeout 20 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" "$@"
}

# tx MAIL-ARGS RCPT-LINE... -- BODY...: EHLO, one transaction, QUIT.
tx() {
	local mail=$1 rcpts=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		rcpts+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	[ $# -gt 0 ] || set -- "${MSG[@]}"
	smtp -- "EHLO client.example" "MAIL FROM:$mail" "${rcpts[@]}" DATA "$@" . QUIT
}

entries() {
	[ -d "$MAIL/.queue" ] || return 0
	find "$MAIL/.queue" -maxdepth 1 -type f ! -name 'tmp.*' -printf '%f\n' | sort
}

# Bob's Maildir fails temporarily while its tmp/ cannot be written.
break_bob() {
	chmod 0555 "$MAIL/bob/tmp"
}

# dsn MBOX N: what message N of the mbox says as a report, one fact a line:
# the content type, subject, per-message fields, then per recipient
# "rcpt ORIGINAL|FINAL|ACTION|STATUS", then the third part's type and
# whether it holds the body.
PY_DSN='
import email, mailbox, sys
mb = mailbox.mbox(sys.argv[1], create=False)
msg = email.message_from_bytes(mb.get_bytes(sorted(mb.keys())[int(sys.argv[2]) - 1]))
print("type", msg.get_content_type(), msg.get_param("report-type"))
print("subject", msg["Subject"])
print("return-path", msg["Return-Path"])
print("defects", len(msg.defects))
parts = msg.get_payload()
status = parts[1].get_payload()
if parts[1].get_content_type() == "message/global-delivery-status":
    # Not known to the email package: its field groups are split here.
    text = parts[1].as_bytes().decode("utf-8").split("\n\n", 1)[1]
    status = [email.message_from_string(g) for g in text.strip("\n").split("\n\n")]
print("envid", status[0]["Original-Envelope-Id"])
for r in status[1:]:
    print("rcpt %s|%s|%s|%s" % (r["Original-Recipient"], r["Final-Recipient"],
        r["Action"], r["Status"]))
    if r["Will-Retry-Until"]:
        print("will-retry-until yes")
print("returned", parts[2].get_content_type(),
    "body" if "hello" in parts[2].as_string() else "headers")
'

dsn() {
	python3 -S -c "$PY_DSN" "$@"
}

@test "EHLO and LHLO advertise DSN" {
	run -0 --separate-stderr smtp -- "EHLO c" QUIT
	ehlo_keywords | grep -qx DSN
	run -0 --separate-stderr smtp -L -- "LHLO c" QUIT
	ehlo_keywords | grep -qx DSN
	smtp_ok
}

@test "MAIL takes RET and ENVID, RCPT NOTIFY and ORCPT, in any case" {
	run -0 --separate-stderr smtp -- "EHLO c" \
	    "MAIL FROM:<a@b.example> ret=hdrs envid=QQ+2B1" \
	    "RCPT TO:<alice@$HOST> notify=success,Failure,DELAY orcpt=RFC822;alice+40b.example" \
	    "RCPT TO:<bob@$HOST> NOTIFY=NEVER" RSET \
	    "MAIL FROM:<a@b.example> RET=FULL ENVID=x" "RCPT TO:<bob@$HOST> ORCPT=x400;c+3Dfr" QUIT
	smtp_ok 220 250 250 250 250 250 250 250 221
}

@test "after HELO the DSN parameters are unknown" {
	run -0 --separate-stderr smtp -- "HELO c" "MAIL FROM:<a@b.example> RET=FULL" \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice@$HOST> NOTIFY=NEVER" QUIT
	smtp_ok 220 250 555 250 555 221
	escs_are - - 5.5.4 2.1.0 5.5.4 2.0.0
}

@test "malformed, repeated and overlong DSN parameters get 501 5.5.4" {
	local m=(RET RET=SOME "RET=FULL RET=HDRS" ENVID ENVID= ENVID=a+ ENVID=a+2b ENVID=a+0A
	    ENVID=a=b ENVID=$'\xc3\xa9' "ENVID=$(pad 101)" "ENVID=x ENVID=y")
	local r=(NOTIFY NOTIFY= NOTIFY=NEVER,SUCCESS NOTIFY=SUCCESS, NOTIFY=SOMETIMES
	    "NOTIFY=DELAY NOTIFY=DELAY" ORCPT ORCPT=rfc822 "ORCPT=;a@b" "ORCPT=rf(c;a@b"
	    "ORCPT=rfc822;a+4" "ORCPT=rfc822;a+0Db" "ORCPT=rfc822;a@b ORCPT=rfc822;a@b"
	    "ORCPT=rfc822;$(pad 494)" "ORCPT=utf-8;a+40b" "ORCPT=utf-8;a\\x{40}b"
	    "ORCPT=utf-8;a\\x{e9}@b" "ORCPT=utf-8;a\\x{D800}@b" "ORCPT=utf-8;a\\x{0E9}@b"
	    "ORCPT=utf-8;not-an-address")
	local lines=("EHLO c") want=(220 250) p
	for p in "${m[@]}"; do
		lines+=("MAIL FROM:<a@b.example> $p")
		want+=(501)
	done
	lines+=("MAIL FROM:<a@b.example>")
	want+=(250)
	for p in "${r[@]}"; do
		lines+=("RCPT TO:<alice@$HOST> $p")
		want+=(501)
	done
	# Fewer than 20 errors in a row, or the session ends.
	lines=("${lines[@]:0:24}" NOOP "${lines[@]:24}")
	want=("${want[@]:0:25}" 250 "${want[@]:25}")
	run -0 --separate-stderr smtp -- "${lines[@]}" QUIT
	smtp_ok "${want[@]}" 221
	for p in $(seq 3 $((${#want[@]}))); do
		[ "${want[$((p - 1))]}" = 250 ] || esc_is "$p" 5.5.4
	done
}

@test "ENVID of 100 and ORCPT of 500 characters fit, and so do their command lines" {
	local orcpt="rfc822;$(pad 240)@$(pad 252)"
	[ "${#orcpt}" = 500 ]
	run -0 --separate-stderr smtp -- "EHLO c" \
	    "MAIL FROM:<$(pad 64)@$(pad 180)> ENVID=$(pad 100) RET=HDRS" \
	    "RCPT TO:<$(pad 64)@$HOST> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=$orcpt" \
	    "RCPT TO:<alice@$HOST> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=$orcpt" \
	    "VRFY $(pad 506)" QUIT
	smtp_ok 220 250 250 550 250 500 221
	esc_is 4 5.1.1
}

@test "ORCPT=utf-8 takes utf-8-addr-xtext, and raw UTF-8 only with SMTPUTF8" {
	run -0 --separate-stderr smtp -- "EHLO c" "MAIL FROM:<a@b.example>" \
	    'RCPT TO:<alice@mx.test.example> ORCPT=utf-8;jos\x{E9}@b.example' \
	    $'RCPT TO:<alice@mx.test.example> ORCPT=utf-8;jos\xc3\xa9@b.example' RSET \
	    "MAIL FROM:<a@b.example> SMTPUTF8" \
	    $'RCPT TO:<alice@mx.test.example> ORCPT=utf-8;jos\xc3\xa9@b.example' \
	    $'RCPT TO:<alice@mx.test.example> ORCPT=utf-8;jos\xc3@b.example' QUIT
	smtp_ok 220 250 250 250 553 250 250 250 501 221
	esc_is 5 5.6.7
}

@test "NOTIFY=SUCCESS reports the delivery to the sender, with ENVID and ORCPT" {
	run -0 --separate-stderr tx "<alice@$HOST> ENVID=env+2B1" \
	    "RCPT TO:<bob@$HOST> NOTIFY=SUCCESS ORCPT=rfc822;Bob+40old.example" \
	    "RCPT TO:<alice@$HOST>"
	smtp_ok 220 250 250 250 250 354 250 221
	count_is 1 maildir_count "$MAIL/bob"
	count_is 2 mbox_count "$MAIL/alice"
	run -0 dsn "$MAIL/alice" 2
	printf '%s\n' "$output" >&2
	[ "${lines[0]}" = "type multipart/report delivery-status" ]
	[ "${lines[1]}" = "subject Successful Mail Delivery Report" ]
	[ "${lines[2]}" = "return-path <>" ]
	[ "${lines[3]}" = "defects 0" ]
	[ "${lines[4]}" = "envid env+1" ]
	[ "${lines[5]}" = "rcpt rfc822; Bob@old.example|rfc822; bob@$HOST|delivered|2.0.0" ]
	[ "${lines[6]}" = "returned text/rfc822-headers headers" ]
	[ "${#lines[@]}" = 7 ]
}

@test "without NOTIFY=SUCCESS, and from <>, a delivery is not reported" {
	run -0 --separate-stderr tx "<alice@$HOST>" "RCPT TO:<bob@$HOST> NOTIFY=FAILURE,DELAY"
	run -0 --separate-stderr tx "<>" "RCPT TO:<bob@$HOST> NOTIFY=SUCCESS"
	count_is 2 maildir_count "$MAIL/bob"
	count_is 0 mbox_count "$MAIL/alice"
	[ ! -e "$MAIL/postmaster" ]
}

@test "a success report for a sender that is not local is not sent to postmaster" {
	run -0 --separate-stderr tx "<a@b.example>" "RCPT TO:<bob@$HOST> NOTIFY=SUCCESS"
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 maildir_count "$MAIL/bob"
	[ ! -e "$MAIL/postmaster" ]
}

@test "NOTIFY=NEVER suppresses the failure report, NOTIFY=SUCCESS alone too" {
	# A Delivered-To: loop fails bob for good beside alice's copy.
	run -0 --separate-stderr tx "<alice@$HOST>" "RCPT TO:<alice@$HOST>" \
	    "RCPT TO:<bob@$HOST> NOTIFY=NEVER" -- "Delivered-To: bob@$HOST" "${MSG[@]}"
	smtp_ok 220 250 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	run -0 --separate-stderr tx "<alice@$HOST>" "RCPT TO:<alice@$HOST>" \
	    "RCPT TO:<bob@$HOST> NOTIFY=SUCCESS" -- "Delivered-To: bob@$HOST" "${MSG[@]}"
	count_is 2 mbox_count "$MAIL/alice"
	run -0 --separate-stderr tx "<alice@$HOST>" "RCPT TO:<alice@$HOST>" \
	    "RCPT TO:<bob@$HOST> NOTIFY=FAILURE" -- "Delivered-To: bob@$HOST" "${MSG[@]}"
	count_is 4 mbox_count "$MAIL/alice"
	run -0 dsn "$MAIL/alice" 4
	[ "${lines[5]}" = "rcpt None|rfc822; bob@$HOST|failed|5.4.6" ]
}

@test "NOTIFY=NEVER suppresses the report when a queued copy expires" {
	break_bob
	run -0 --separate-stderr tx "<alice@$HOST>" "RCPT TO:<alice@$HOST>" "RCPT TO:<bob@$HOST> NOTIFY=NEVER"
	smtp_ok 220 250 250 250 250 354 250 221
	run -0 --separate-stderr runq -q -F -A 0
	smtp_ok
	[ -z "$(entries)" ]
	count_is 1 mbox_count "$MAIL/alice"
}

@test "NOTIFY=DELAY reports once, at the first queue run that finds the copy still waiting" {
	break_bob
	run -0 --separate-stderr tx "<alice@$HOST> ENVID=q1" "RCPT TO:<alice@$HOST>" \
	    "RCPT TO:<bob@$HOST> NOTIFY=DELAY,FAILURE ORCPT=rfc822;b+40c.example"
	smtp_ok 220 250 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	entry=$MAIL/.queue/$(entries)
	grep -qx "envid q1" "$entry"
	grep -qx "local bob	bob@$HOST	6	rfc822;b@c.example" "$entry"
	run -0 --separate-stderr runq -q -F
	count_is 2 mbox_count "$MAIL/alice"
	run -0 dsn "$MAIL/alice" 2
	printf '%s\n' "$output" >&2
	[ "${lines[1]}" = "subject Delayed Mail (still being retried)" ]
	[ "${lines[4]}" = "envid q1" ]
	[ "${lines[5]}" = "rcpt rfc822; b@c.example|rfc822; bob@$HOST|delayed|4.3.0" ]
	[ "${lines[6]}" = "will-retry-until yes" ]
	run -0 --separate-stderr runq -q -F
	count_is 2 mbox_count "$MAIL/alice"
	run -0 --separate-stderr runq -q -F -A 0
	count_is 3 mbox_count "$MAIL/alice"
	run -0 dsn "$MAIL/alice" 3
	[ "${lines[5]}" = "rcpt rfc822; b@c.example|rfc822; bob@$HOST|failed|4.4.7" ]
}

@test "without NOTIFY a waiting copy gets no delay report, as before" {
	break_bob
	run -0 --separate-stderr tx "<alice@$HOST>" "RCPT TO:<alice@$HOST>" "RCPT TO:<bob@$HOST>"
	run -0 --separate-stderr runq -q -F
	run -0 --separate-stderr runq -q -F
	count_is 1 mbox_count "$MAIL/alice"
	[ -n "$(entries)" ]
}

@test "RET=FULL returns the whole message in a failure report, RET=HDRS the headers" {
	break_bob
	run -0 --separate-stderr tx "<alice@$HOST> RET=FULL" "RCPT TO:<alice@$HOST>" "RCPT TO:<bob@$HOST>"
	run -0 --separate-stderr runq -q -F -A 0
	run -0 dsn "$MAIL/alice" 2
	[ "${lines[5]}" = "rcpt None|rfc822; bob@$HOST|failed|4.4.7" ]
	[ "${lines[6]}" = "returned message/rfc822 body" ]
	run -0 --separate-stderr tx "<alice@$HOST> RET=HDRS" "RCPT TO:<alice@$HOST>" "RCPT TO:<bob@$HOST>"
	run -0 --separate-stderr runq -q -F -A 0
	run -0 dsn "$MAIL/alice" 4
	[ "${lines[6]}" = "returned text/rfc822-headers headers" ]
}

@test "RET=FULL does not return the message in a success report" {
	run -0 --separate-stderr tx "<alice@$HOST> RET=FULL" "RCPT TO:<bob@$HOST> NOTIFY=SUCCESS"
	run -0 dsn "$MAIL/alice" 1
	[ "${lines[5]}" = "rcpt None|rfc822; bob@$HOST|delivered|2.0.0" ]
	[ "${lines[6]}" = "returned text/rfc822-headers headers" ]
}

@test "a UTF-8 ORCPT makes the report global and keeps its encoded form" {
	run -0 --separate-stderr tx "<alice@$HOST> SMTPUTF8" \
	    $'RCPT TO:<bob@mx.test.example> NOTIFY=SUCCESS ORCPT=utf-8;b\xc3\xb6b@old.example'
	smtp_ok 220 250 250 250 354 250 221
	run -0 dsn "$MAIL/alice" 1
	printf "%s\n" "$output" >&2
	[ "${lines[0]}" = "type multipart/report global-delivery-status" ]
	[ "${lines[5]}" = $'rcpt utf-8; b\xc3\xb6b@old.example|rfc822; bob@mx.test.example|delivered|2.0.0' ]
}

@test "a version 1 queue entry, without DSN fields, still reads and is delivered" {
	mkdir -p "$MAIL/.queue"
	printf '%s\n' "smtpd-queue 1" "sender alice@$HOST" "arrival 1700000000" \
	    "attempts 1" "next 1700000000" "has-from 0" "error 451 4.3.0 x" \
	    "local bob	bob@$HOST" "" "Subject: old" "" "from the old queue" \
	    >"$MAIL/.queue/OLD.1"
	chmod 0600 "$MAIL/.queue/OLD.1"
	chmod 0700 "$MAIL/.queue"
	give_to_smtpd "$MAIL/.queue"
	run -0 --separate-stderr runq -p
	[[ ${lines[0]} == "OLD.1 "*"<alice@$HOST>" ]]
	run -0 --separate-stderr runq -q
	smtp_ok
	[ -z "$(entries)" ]
	count_is 1 maildir_count "$MAIL/bob"
	[ "$(maildir_msg "$MAIL/bob" 1 body)" = "from the old queue" ]
}

@test "LMTP reports the deliveries NOTIFY=SUCCESS asks for, and no failure" {
	run -0 --separate-stderr smtp -L -- "LHLO c" "MAIL FROM:<alice@$HOST> ENVID=l1" \
	    "RCPT TO:<bob@$HOST> NOTIFY=SUCCESS" "RCPT TO:<alice@$HOST> NOTIFY=SUCCESS,FAILURE" \
	    DATA "Delivered-To: alice@$HOST" "${MSG[@]}" . QUIT
	smtp_ok 220 250 250 250 250 354 250 554 221
	count_is 1 maildir_count "$MAIL/bob"
	count_is 1 mbox_count "$MAIL/alice"
	run -0 dsn "$MAIL/alice" 1
	[ "${lines[4]}" = "envid l1" ]
	[ "${lines[5]}" = "rcpt None|rfc822; bob@$HOST|delivered|2.0.0" ]
	[ "${#lines[@]}" = 7 ]
}

@test "a MAIL line over 640 octets and a RCPT line over 1056 get 500 5.5.2" {
	local mail="MAIL FROM:<a@b.example> ENVID=" rcpt="RCPT TO:<alice@$HOST> ORCPT=rfc822;"
	mail+=$(pad $((641 - 2 - ${#mail})))
	rcpt+=$(pad $((1057 - 2 - ${#rcpt})))
	run -0 --separate-stderr smtp -- "EHLO c" "$mail" "MAIL FROM:<a@b.example>" "$rcpt" \
	    "${rcpt%x}" QUIT
	smtp_ok 220 250 500 250 500 501 221
	escs_are - - 5.5.2 2.1.0 5.5.2 5.5.4 2.0.0
}
