load helper
load launch

# DSN with a real client: esmtp (libESMTP) sends NOTIFY and RET to smtpd
# behind systemd-socket-activate on a loopback port, and the report is read
# back with Python's email package.  (esmtp 1.2 takes no -V: it answers
# "Invalid operation mode", so ENVID is left to 15-dsn.)

setup() {
	smtp_setup
	needs systemd-socket-activate esmtp
	launch_socket_activate -d "$MAIL" -h "$HOST"
	RC=$BATS_TEST_TMPDIR/esmtprc
	printf 'hostname = 127.0.0.1:%s\nstarttls = disabled\n' "$PORT" >"$RC"
	chmod 0600 "$RC"
}

teardown() {
	stop_launcher
}

# esmtp_send ARGS...: one message from alice through esmtp.
esmtp_send() {
	printf 'Subject: via esmtp\nFrom: alice@%s\n\nhello from esmtp\n' "$HOST" |
	    timeout 20 esmtp -C "$RC" -f "alice@$HOST" "$@"
}

PY_DSN='
import email, mailbox, sys
mb = mailbox.mbox(sys.argv[1], create=False)
msg = email.message_from_bytes(mb.get_bytes(sorted(mb.keys())[int(sys.argv[2]) - 1]))
print(msg.get_content_type(), msg.get_param("report-type"), len(msg.defects))
status = msg.get_payload()[1].get_payload()
print("envid", status[0]["Original-Envelope-Id"])
for r in status[1:]:
    print(r["Final-Recipient"], r["Action"], r["Status"])
'

@test "esmtp -N success gets a delivered report" {
	run -0 --separate-stderr esmtp_send -N success -R hdrs "bob@$HOST"
	count_is 1 maildir_count "$MAIL/bob"
	[ "$(maildir_msg "$MAIL/bob" 1 header Subject)" = "via esmtp" ]
	count_is 1 mbox_count "$MAIL/alice"
	run -0 python3 -S -c "$PY_DSN" "$MAIL/alice" 1
	printf '%s\n' "$output" >&2
	[ "${lines[0]}" = "multipart/report delivery-status 0" ]
	[ "${lines[1]}" = "envid None" ]
	[ "${lines[2]}" = "rfc822; bob@$HOST delivered 2.0.0" ]
}

@test "esmtp -N never and -N failure,delay get no report of a delivery" {
	run -0 --separate-stderr esmtp_send -N never "bob@$HOST"
	run -0 --separate-stderr esmtp_send -N failure,delay "bob@$HOST"
	count_is 2 maildir_count "$MAIL/bob"
	count_is 0 mbox_count "$MAIL/alice"
}
