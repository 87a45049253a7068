#!/usr/bin/env bats
# Address literals (RFC 5321 4.1.3, RFC 1123 5.2.17): user@[a.b.c.d] and
# user@[IPv6:...] are local when they name the address the client reached
# (here $TCPLOCALIP, as tcpserver sets it) or a -D literal.

load helper

# lit_session OPTIONS -- RCPT...: one transaction, one RCPT per address;
# the replies of the RCPTs start at the 4th.
lit_session() {
	local r cmds=()
	split_opts "$@"
	for r in "${ARGS[@]}"; do
		cmds+=("RCPT TO:<$r>")
	done
	smtp "${OPTS[@]}" -- "EHLO client" "MAIL FROM:<a@b.example>" "${cmds[@]}" QUIT
}

@test "a literal of the address the client reached is local, compared by value" {
	TCPLOCALIP=192.0.2.7 run -0 --separate-stderr lit_session -- \
	    "alice@[192.0.2.7]" "alice@[192.000.002.007]" "alice@[IPv6:::ffff:192.0.2.7]" \
	    "alice@[IPv6:0:0:0:0:0:FFFF:c000:207]" "alice@[192.0.2.8]"
	smtp_ok 220 250 250 250 250 250 250 550 221
	esc_is 8 5.7.1
}

@test "an IPv6 address the client reached matches its literal in every RFC 5321 form" {
	TCPLOCALIP=2001:db8::7 run -0 --separate-stderr lit_session -- \
	    "alice@[IPv6:2001:db8::7]" "alice@[IPv6:2001:DB8:0:0:0:0:0:7]" \
	    "alice@[IPv6:2001:db8:0::0:7]" "alice@[ipv6:2001:db8::0.0.0.7]" \
	    "alice@[IPv6:2001:db8:0:0:0:0:0.0.0.7]" "alice@[IPv6:2001:db8::8]" "alice@[2001:db8::7]"
	smtp_ok 220 250 250 250 250 250 250 250 550 550 221
	# Without its tag an IPv6 address is a General-address-literal.
	esc_is 9 5.7.1
	esc_is 10 5.7.1
}

@test "a message to a literal is delivered to the user's mailbox" {
	TCPLOCALIP=127.0.0.1 run -0 --separate-stderr send_to "alice@[127.0.0.1]"
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Delivered-To)" = "alice@$HOST" ]
}

@test "without a known local address every IP literal is relaying, 550 5.7.1" {
	run -0 --separate-stderr lit_session -- "alice@[127.0.0.1]" "alice@[IPv6:::1]" \
	    "postmaster@[127.0.0.1]"
	smtp_ok 220 250 250 550 550 550 221
	escs_are - - 2.1.0 5.7.1 5.7.1 5.7.1 2.0.0
}

@test "a -D literal is local, IPv4 or IPv6, by value" {
	run -0 --separate-stderr lit_session -D "[198.51.100.1]" -D "[IPv6:2001:db8::1:0:0:1]" -- \
	    "alice@[198.51.100.1]" "alice@[IPv6:2001:db8:0:0:1::1]" "alice@[IPv6:2001:db8::1]" \
	    "alice@[198.51.100.2]"
	smtp_ok 220 250 250 250 250 550 550 221
}

@test "postmaster at our own literal works like postmaster" {
	TCPLOCALIP=192.0.2.7 run -0 --separate-stderr smtp -- "EHLO client" \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<postmaster@[192.0.2.7]>" "RCPT TO:<Postmaster@[192.0.2.9]>" \
	    DATA "Subject: pm" "" x . QUIT
	smtp_ok 220 250 250 250 550 354 250 221
	count_is 1 mbox_count "$MAIL/postmaster"
}

@test "a general address literal is not ours: 550 5.7.1" {
	TCPLOCALIP=192.0.2.7 run -0 --separate-stderr lit_session -- "alice@[x400:c=us;a=b]" \
	    "alice@[tag-1:192.0.2.7]"
	smtp_ok 220 250 250 550 550 221
	esc_is 4 5.7.1
	esc_is 5 5.7.1
}

@test "a malformed literal is a 501 5.1.3 syntax error in RCPT and 501 5.1.7 in MAIL" {
	TCPLOCALIP=192.0.2.7 run -0 --separate-stderr lit_session -- \
	    "alice@[192.0.2]" "alice@[192.0.2.256]" "alice@[192.0.2.7.1]" "alice@[1920.0.2.7]" \
	    "alice@[IPv6:1:2:3:4:5:6:7:8:9]" "alice@[IPv6:1::2::3]" "alice@[IPv6:fe80::1%eth0]" \
	    "alice@[IPv6:12345::]" "alice@[IPv6:1:2:3:4:5:6:7:1.2.3.4]" "alice@[IPv6:]" \
	    "alice@[]" "alice@[foo]" "alice@[-:x]" "alice@[a:]" "alice@[192.0.2.7" "alice@[a:b]c]"
	want=(220 250 250)
	for i in $(seq 16); do want+=(501); done
	smtp_ok "${want[@]}" 221
	for i in $(seq 4 19); do esc_is "$i" 5.1.3; done
	TCPLOCALIP=192.0.2.7 run -0 --separate-stderr smtp -- "EHLO client" \
	    "MAIL FROM:<a@[192.0.2.300]>" "MAIL FROM:<a@[IPv6:::g]>" "MAIL FROM:<a@[192.0.2.1]>" QUIT
	smtp_ok 220 250 501 501 250 221
	esc_is 3 5.1.7
	esc_is 4 5.1.7
}

@test "VRFY of a user at our literal answers as for a local user" {
	TCPLOCALIP=192.0.2.7 run -0 --separate-stderr smtp -V -- "EHLO client" \
	    "VRFY <alice@[192.0.2.7]>" "VRFY alice@[192.0.2.8]" "VRFY alice@[192.0.2.777]" QUIT
	smtp_ok 220 250 250 550 501 221
}

@test "a -D literal that is not an IPv4 or IPv6 literal stops start-up" {
	for d in "[192.0.2]" "[x:y]" "[IPv6:zz]" "[1.2.3.4"; do
		run -1 --separate-stderr smtp -D "$d" -- QUIT
		[[ $output == "421 4.3.0 "* ]]
	done
}

@test "a garbage TCPLOCALIP makes no literal local" {
	TCPLOCALIP="127.0.0.1 x" run -0 --separate-stderr lit_session -- "alice@[127.0.0.1]"
	smtp_ok 220 250 250 550 221
}
