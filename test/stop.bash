# Stop signals during a copy (72-stop.bats, 72-stop-each-write.bats):
# stop.py sends one at one point of a delivery into alice's mbox, with
# every write of smtpd's to the mbox slowed down by strace so that each
# point can be reached, and checks what the stop left.

needs_strace() {
	command -v strace >/dev/null || skip "needs strace"
	strace -o /dev/null true 2>/dev/null || skip "ptrace not permitted"
	[ -r /proc/locks ] || skip "needs /proc/locks"
}

# big_session RCPT...: a session sending one 160 KB message (three writes
# of 64 KiB into an mbox) to the recipients.
big_session() {
	python3 -S -c '
import sys
body = "".join("line %05d %s\r\n" % (i, "x" * 66) for i in range(2100))
sys.stdout.write("HELO c\r\nMAIL FROM:<a@b.example>\r\n" +
    "".join("RCPT TO:<%s@mx.test.example>\r\n" % r for r in sys.argv[1:]) +
    "DATA\r\nSubject: big\r\n\r\n" + body + ".\r\nQUIT\r\n")' "$@"
}

# slowed: SLOWED gets the command of smtpd with its writes to alice's
# mbox slowed; options may follow it.
slowed() {
	SLOWED=(strace -f -o /dev/null -P "$MAIL/alice" -e trace=write
	    -e inject=write:delay_enter=300000
	    timeout 30 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -w 10)
}

# stop_session SIGNAL POINT WHO: one session to alice stopped there; the
# copy is whole (with 250) or not there (without), and a later session
# delivers into a clean mbox.  STOPPED gets what stop.py found.
stop_session() {
	big_session alice >"$BATS_TEST_TMPDIR/in"
	slowed
	run --separate-stderr python3 -S "$BATS_TEST_DIRNAME/fixtures/stop.py" "$1" "$2" "$3" \
	    "$MAIL/alice" "$BATS_TEST_TMPDIR/in" -- "${SLOWED[@]}"
	echo "$output$stderr"
	[ "$status" -eq 0 ]
	[[ $output == "ok "* ]]
	STOPPED=$output
	n=$(mbox_count "$MAIL/alice")
	run --separate-stderr send_to alice -w 1
	smtp_ok 220 250 250 250 354 250 221
	count_is $((n + 1)) mbox_count "$MAIL/alice"
}

# stop_queue SIGNAL POINT WHO: alice's copy, queued while a stranger's
# dotlock held her mbox, is delivered by "smtpd -q -F" stopped there; a
# later run leaves exactly one copy and an empty queue.
stop_queue() {
	: >"$MAIL/alice.lock"
	big_session alice bob >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr timeout 20 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -w 1 \
	    <"$BATS_TEST_TMPDIR/in"
	smtp_ok 220 250 250 250 250 354 250 221
	rm "$MAIL/alice.lock"
	slowed
	[ "$(find "$MAIL/.queue" -type f ! -name 'tmp.*' | wc -l)" -eq 1 ]
	run --separate-stderr python3 -S "$BATS_TEST_DIRNAME/fixtures/stop.py" "$1" "$2" "$3" \
	    "$MAIL/alice" /dev/null -- "${SLOWED[@]}" -q -F
	echo "$output$stderr"
	[ "$status" -eq 0 ]
	[[ $output == "ok "* ]]
	STOPPED=$output
	run --separate-stderr timeout 20 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -q -F
	[ "$status" -eq 0 ]
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(find "$MAIL/.queue" -type f ! -name 'tmp.*' | wc -l)" -eq 0 ]
	[ "$(mbox_msg "$MAIL/alice" 1 header subject)" = big ]
}
