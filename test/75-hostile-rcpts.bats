load helper
# bats file_tags=slow

# The long one of the hostile inputs (see 75-hostile.bats): a million
# pipelined RCPTs take some 15 s of CPU, more than any other test, so make
# check-all runs it and make check does not.
# Under a sanitizer or valgrind (SMTPD_NO_RSS=1) RSS is not checked.

setup() {
	smtp_setup
	hostile_setup
}

@test "a million pipelined RCPTs: -n 5 holds, memory bounded, 5 copies delivered" {
	for i in 0 1 2 3 4 5 6 7 8 9; do
		mkmbox "u$i"
	done
	hostile rcpts -n 5
	[[ $output == *" codes=220 250*7 452*999995 354 250 221" ]]
	for i in 0 1 2 3 4; do
		count_is 1 mbox_count "$MAIL/u$i"
	done
	for i in 5 6 7 8 9; do
		[ ! -s "$MAIL/u$i" ]
	done
}
