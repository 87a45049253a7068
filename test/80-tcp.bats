load helper
load launch

# Deployment: smtpd behind systemd-socket-activate on a loopback port, with
# real clients (Python smtplib, swaks).

setup() {
	smtp_setup
	needs systemd-socket-activate
	# TCPREMOTEIP is set to show that getpeername(0) wins over it.
	launch_socket_activate TCPREMOTEIP=203.0.113.5 -d "$MAIL" -h "$HOST"
}

teardown() {
	stop_launcher
}

@test "Python smtplib delivers to an mbox and a Maildir user over TCP" {
	# smtplib dot-stuffs the line ".dot" itself; smtpd must store ".dot".
	run -0 --separate-stderr timeout 20 python3 -S -c '
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
code, msg = s.ehlo("client.example")
assert code == 250, (code, msg)
for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "help"):
    assert s.has_extn(ext), ext
assert s.esmtp_features["size"] == "10240000", s.esmtp_features
refused = s.sendmail("a@b.example", ["alice@mx.test.example", "bob@mx.test.example"],
    b"Subject: over tcp\r\n\r\nhello over tcp\r\n.dot\r\n")
assert refused == {}, refused
try:
    s.sendmail("a@b.example", ["nobody@mx.test.example"], b"Subject: x\r\n\r\nx\r\n")
    sys.exit("unknown user accepted")
except smtplib.SMTPRecipientsRefused as e:
    code, text = e.recipients["nobody@mx.test.example"]
    assert code == 550 and text.startswith(b"5.1.1"), e.recipients
code, msg = s.quit()
assert code == 221, (code, msg)
print("ok")
' "$PORT"
	[ "$output" = ok ]
	count_is 1 mbox_count "$MAIL/alice"
	count_is 1 maildir_count "$MAIL/bob"
	[ "$(mbox_msg "$MAIL/alice" 1 header Subject)" = "over tcp" ]
	[ "$(mbox_msg "$MAIL/alice" 1 body)" = $'hello over tcp\n.dot' ]
	[ "$(maildir_msg "$MAIL/bob" 1 body)" = $'hello over tcp\n.dot' ]
	rcvd=$(mbox_msg "$MAIL/alice" 1 header Received)
	echo "Received: $rcvd" >&2
	re='^from client\.example \(\[127\.0\.0\.1\]\).* by mx\.test\.example( \([^)]*\))? with ESMTP id [^ ;]+'
	[[ $rcvd =~ $re ]]
	no_cr "$MAIL/alice"
	smtp_ok
}

@test "swaks delivers a message with pipelining over TCP" {
	command -v swaks >/dev/null || skip "needs swaks"
	run -0 --separate-stderr timeout 20 swaks --server 127.0.0.1 --port "$PORT" \
	    --helo client.example --from a@b.example --to alice@mx.test.example \
	    --header "Subject: from swaks" --body "hello from swaks" --pipeline
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Subject)" = "from swaks" ]
	mbox_msg "$MAIL/alice" 1 body | grep -q '^hello from swaks$'
	[ "$(mbox_msg "$MAIL/alice" 1 header Return-Path)" = "<a@b.example>" ]
	rcvd=$(mbox_msg "$MAIL/alice" 1 header Received)
	[[ $rcvd == "from client.example ([127.0.0.1])"* ]]
	no_cr "$MAIL/alice"
}

@test "swaks sees a refused recipient over TCP and nothing is delivered" {
	command -v swaks >/dev/null || skip "needs swaks"
	run --separate-stderr timeout 20 swaks --server 127.0.0.1 --port "$PORT" \
	    --helo client.example --from a@b.example --to alice@elsewhere.example
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ]
	grep -q '<\*\* 550 5\.7\.1' <<<"$output"
	[ ! -s "$MAIL/alice" ]
}
