load helper
# bats file_tags=slow

# SIGKILL of a session and its delivery child during DATA and after the
# final dot: mailboxes hold whole copies only, and 250 means stored.

@test "a session killed at many points leaves nothing new or the whole message, and 250 means stored" {
	run --separate-stderr timeout 280 python3 -S "$BATS_TEST_DIRNAME/fixtures/mailtest.py" \
	    kill "$MAIL" -- "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST"
	echo "$output$stderr"
	[ "$status" -eq 0 ]
	[[ $output == "ok 29 kills, "*" seen as 250, "*" half-written appends cut off, mbox and Maildir hold only whole copies" ]]
	mbox_count "$MAIL/alice"
}
