load helper

# Hostile input: smtpd survives it with bounded memory (peak RSS of the
# session under 4 MiB, from /usr/bin/time) and cuts off slow clients.
# Under a sanitizer or valgrind (SMTPD_NO_RSS=1) RSS is not checked.

setup() {
	smtp_setup
	hostile_setup
}

@test "4 MiB of random bytes end in 421 after 20 errors, with bounded memory" {
	hostile random
	[[ $output == *" codes=220 500*20 421" ]]
}

@test "2 MiB of NUL bytes are one overlong line, and the session goes on" {
	hostile nul
	[[ $output == *" codes=220 250 500 250 221" ]]
}

@test "a 10 MB command line without a newline is read to EOF with bounded memory" {
	hostile longline
	[[ $output == *" codes=220 250" ]]
}

@test "a 10 MB line in DATA is refused 500 once, nothing stored, memory bounded" {
	hostile longdata
	[[ $output == *" codes=220 250*3 354 500 221" ]]
	[ ! -s "$MAIL/alice" ]
}

@test "thousands of bad commands between good ones are answered one by one, then 20 in a row end it" {
	hostile badcmds
	[[ $output == *" hist=220:1,250:5001,421:1,500:5020 "* ]]
	[[ $output == *" codes=220 250 500 250 500 "* ]]
}

@test "a command line sent one byte a second is cut off with 421 by -t" {
	run -0 --separate-stderr timeout 60 python3 -S "$BATS_TEST_DIRNAME/fixtures/mailtest.py" \
	    drip command -- "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -t 2
	echo "$output"
	[[ $output =~ ^exit=0\ sent=([0-9]+)\ of\ 27\ codes=220\ 421$ ]]
	# Cut off long before the line was complete.
	[ "${BASH_REMATCH[1]}" -lt 15 ]
}

@test "a DATA phase sent one byte a second is cut off with 421 by -T, nothing stored" {
	run -0 --separate-stderr timeout 60 python3 -S "$BATS_TEST_DIRNAME/fixtures/mailtest.py" \
	    drip data -- "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -t 3 -T 2
	echo "$output"
	[[ $output =~ ^exit=0\ sent=([0-9]+)\ of\ 53\ codes=220\ 250\*3\ 354\ 421$ ]]
	[ "${BASH_REMATCH[1]}" -lt 30 ]
	[ ! -s "$MAIL/alice" ]
}
