load helper

# Regression tests for bugs found by the fault, load and fuzz tests.

@test "a second, shorter message in one session is delivered whole" {
	run -0 --separate-stderr smtp -- "HELO client" \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" \
	    "RCPT TO:<bob@mx.test.example>" DATA "Subject: one" "" \
	    "a first message that is longer than the second one" . \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" \
	    "RCPT TO:<bob@mx.test.example>" DATA "Subject: two" "" "short" . QUIT
	smtp_ok 220 250 250 250 250 354 250 250 250 250 354 250 221
	count_is 2 mbox_count "$MAIL/alice"
	count_is 2 maildir_count "$MAIL/bob"
	[ "$(mbox_msg "$MAIL/alice" 2 body)" = short ]
}

