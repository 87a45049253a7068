load helper
# bats file_tags=slow

# Load: concurrent sessions into one mbox and one Maildir.

@test "16 concurrent sessions of 25 messages each leave 400 whole copies in the mbox and the Maildir" {
	run --separate-stderr timeout 280 python3 -S "$BATS_TEST_DIRNAME/fixtures/mailtest.py" \
	    load 16 25 "$MAIL" -- "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -w 120
	echo "$output$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "ok 400 messages in the mbox and in the Maildir" ]
	count_is 400 mbox_count "$MAIL/alice"
	count_is 400 maildir_count "$MAIL/bob"
	[ -z "$(ls "$MAIL/bob/tmp")" ]
	[ ! -e "$MAIL/alice.lock" ]
}

@test "16 concurrent sessions of 60 small messages each lose none of the 960 in the mbox" {
	run --separate-stderr timeout 280 python3 -S "$BATS_TEST_DIRNAME/fixtures/mailtest.py" \
	    load 16 60 "$MAIL" small -- "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -w 120
	echo "$output$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = "ok 960 messages in the mbox and in the Maildir" ]
	count_is 960 mbox_count "$MAIL/alice"
}
