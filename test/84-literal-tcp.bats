load helper
load launch

# Deployment: address literals over real TCP.  The address the client
# reached comes from the socket smtpd was handed, as the launchers set it
# up: systemd-socket-activate on 127.0.0.1, on [::1] and on a dual-stack
# [::] socket (IPv4 clients arrive as ::ffff:127.0.0.1), and tcpserver.

setup() {
	smtp_setup
}

teardown() {
	stop_launcher
}

# has_ipv6: can a socket bind [::1] here?
has_ipv6() {
	python3 -S -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null
}

# send_lit HOST RCPT...: Python smtplib sends one message to each RCPT
# through HOST:$PORT; prints "ok" or the refusals (code and enhanced code).
send_lit() {
	timeout 20 python3 -S -c '
import smtplib, sys
host, port, rcpts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
s = smtplib.SMTP(host, port, timeout=10)
s.ehlo("client.example")
for r in rcpts:
    try:
        s.sendmail("a@b.example", [r], b"Subject: literal\r\n\r\nto " + r.encode() + b"\r\n")
        print("ok", r)
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients[r]
        print(code, text.split()[0].decode(), r)
s.quit()
' "$1" "$PORT" "${@:2}"
}

@test "smtplib over 127.0.0.1: [127.0.0.1] is local, another literal is relaying" {
	needs systemd-socket-activate
	launch_socket_activate -d "$MAIL" -h "$HOST"
	run -0 --separate-stderr send_lit 127.0.0.1 "alice@[127.0.0.1]" \
	    "alice@[IPv6:::ffff:127.0.0.1]" "alice@[127.0.0.2]" "postmaster@[127.0.0.1]"
	[ "${lines[0]}" = "ok alice@[127.0.0.1]" ]
	[ "${lines[1]}" = "ok alice@[IPv6:::ffff:127.0.0.1]" ]
	[ "${lines[2]}" = "550 5.7.1 alice@[127.0.0.2]" ]
	[ "${lines[3]}" = "ok postmaster@[127.0.0.1]" ]
	count_is 2 mbox_count "$MAIL/alice"
	count_is 1 mbox_count "$MAIL/postmaster"
}

@test "smtplib over [::1]: [IPv6:::1] in any spelling is local, [127.0.0.1] is not" {
	needs systemd-socket-activate
	has_ipv6 || skip "no IPv6 on this machine: cannot bind [::1]"
	PORT=$(free_port)
	launch "Listening on" systemd-socket-activate --accept --inetd -l "[::1]:$PORT" \
	    "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST"
	run -0 --separate-stderr send_lit ::1 "alice@[IPv6:::1]" "alice@[IPv6:0:0:0:0:0:0:0:1]" \
	    "alice@[127.0.0.1]"
	[ "${lines[0]}" = "ok alice@[IPv6:::1]" ]
	[ "${lines[1]}" = "ok alice@[IPv6:0:0:0:0:0:0:0:1]" ]
	[ "${lines[2]}" = "550 5.7.1 alice@[127.0.0.1]" ]
	count_is 2 mbox_count "$MAIL/alice"
}

@test "an IPv4 client of a dual-stack socket reaches [127.0.0.1]" {
	needs systemd-socket-activate
	has_ipv6 || skip "no IPv6 on this machine: no dual-stack socket"
	PORT=$(free_port)
	launch "Listening on" systemd-socket-activate --accept --inetd -l "[::]:$PORT" \
	    "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST"
	run -0 --separate-stderr send_lit 127.0.0.1 "alice@[127.0.0.1]"
	[ "${lines[0]}" = "ok alice@[127.0.0.1]" ]
	count_is 1 mbox_count "$MAIL/alice"
}

@test "swaks through tcpserver delivers to the literal of the address it reached" {
	needs tcpserver swaks
	launch_tcpserver -d "$MAIL" -h "$HOST" -e +
	run -0 --separate-stderr timeout 20 swaks --server 127.0.0.1 --port "$PORT" \
	    --helo client.example --from a@b.example --to "alice+tcp@[127.0.0.1]" \
	    --header "Subject: literal via tcpserver"
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Delivered-To)" = "alice+tcp@$HOST" ]
}
