load helper
load stop

# SIGTERM, SIGHUP and SIGINT while a copy is written into an mbox, one
# case each (72-stop-each-write.bats tries every write): the copy is
# finished and fsync'd, the locks released, and the reply true.

setup() {
	smtp_setup
	needs_strace
}

@test "SIGTERM to a session and its delivery at the copy's second write: the copy is finished, then 250" {
	stop_session TERM 2 all
	[[ $STOPPED == *"copy whole, codes 220 250 250 250 354 250" ]]
}

@test "SIGHUP to smtpd -q and its delivery at the copy's second write: the copy is finished and leaves the queue" {
	stop_queue HUP 2 all
	[[ $STOPPED == *"copy whole"* ]]
}

@test "SIGINT to a session and its delivery waiting for the mbox lock: nothing written, 451" {
	stop_session INT 0 all
	[[ $STOPPED == *"nothing written, codes 220 250 250 250 354 451" ]]
}

@test "SIGTERM during the first of two copies: it is finished, the second is queued, not begun" {
	mkmbox carol
	python3 -S - "$BATS_TEST_TMPDIR/in" <<'PY'
import sys
body = "".join("line %05d %s\r\n" % (i, "x" * 66) for i in range(2100))
open(sys.argv[1], "w").write("HELO c\r\nMAIL FROM:<a@b.example>\r\n"
    "RCPT TO:<alice@mx.test.example>\r\nRCPT TO:<carol@mx.test.example>\r\n"
    "DATA\r\nSubject: big\r\n\r\n" + body + ".\r\nQUIT\r\n")
PY
	slowed
	run --separate-stderr python3 -S "$BATS_TEST_DIRNAME/fixtures/stop.py" TERM 2 all \
	    "$MAIL/alice" "$BATS_TEST_TMPDIR/in" -- "${SLOWED[@]}"
	echo "$output$stderr"
	[[ $output == "ok SIGTERM at 2 (all): copy whole, codes 220 250 250 250 250 354 250" ]]
	[ ! -s "$MAIL/carol" ]
	[ "$(find "$MAIL/.queue" -type f ! -name 'tmp.*' | wc -l)" -eq 1 ]
	run --separate-stderr timeout 20 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -q -F
	count_is 1 mbox_count "$MAIL/carol"
	count_is 1 mbox_count "$MAIL/alice"
}
