load helper
load launch

# Deadlines on both directions: a client that does not read its replies,
# or that drips a line, is cut off by -t, not only by -T or by TCP.

# unread CMD...: run CMD on 20000 pipelined HELP commands from a file,
# its replies going into a FIFO that nobody reads: opened for reading
# and writing, the FIFO does not block the open, and the shell that holds
# its read end never reads.  $status is 124 if timeout had to kill smtpd.
unread() {
	local fifo=$BATS_TEST_TMPDIR/out in=$BATS_TEST_TMPDIR/in
	mkfifo "$fifo"
	printf 'HELP\r\n%.0s' {1..20000} >"$in"
	run --separate-stderr "$@" bash -c \
	    'exec 5<>"$0" && in=$1 && shift && exec "$@" <"$in" >&5' \
	    "$fifo" "$in" timeout 20 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" \
	    -h "$HOST" -t 1
}

@test "a client that never reads its replies is cut off after -t seconds" {
	unread
	[ "$status" -eq 1 ]
	smtp_ok
}

@test "a write that times out is logged" {
	needs_log
	unread logged
	[ "$status" -eq 1 ]
	log_has 'client=local error=write-timeout'
}

@test "a text line dripped byte by byte inside DATA is cut off by -t: 421, nothing stored" {
	run -0 --separate-stderr bash -c '{
		printf "HELO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@mx.test.example>\r\nDATA\r\n"
		for i in 1 2 3 4 5 6 7 8 9 10; do printf x; sleep 0.4; done
		printf "\r\n.\r\nQUIT\r\n"
	} | timeout 10 "$@" -h mx.test.example -t 1' _ "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL"
	smtp_ok 220 250 250 250 354 421
	esc_is 6 4.4.2
	[ ! -s "$MAIL/alice" ]
}

@test "a message of many lines may take longer than -t as long as each line is on time" {
	run -0 --separate-stderr bash -c '{
		printf "HELO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@mx.test.example>\r\nDATA\r\n"
		for i in 1 2 3 4 5 6 7 8; do printf "line %s\r\n" $i; sleep 0.4; done
		printf ".\r\nQUIT\r\n"
	} | timeout 10 "$@" -h mx.test.example -t 2' _ "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL"
	smtp_ok 220 250 250 250 354 250 221
}
