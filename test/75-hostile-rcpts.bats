load helper
# bats file_tags=slow

# The long one of the hostile inputs (see 75-hostile.bats, whose helper
# this repeats): a million pipelined RCPTs take some 15 s of CPU, more
# than any other test, so make check-all runs it and make check does not.
# Under a sanitizer or valgrind (SMTPD_NO_RSS=1) RSS is not checked.

RSS_LIMIT_KB=4096

setup() {
	smtp_setup
	[ -x /usr/bin/time ] || skip "needs /usr/bin/time (package time)"
}

# hostile KIND OPTIONS: feed input KIND; sets $result to "exit=... codes=...".
hostile() {
	local kind=$1
	shift
	run -0 --separate-stderr timeout 200 python3 "$BATS_TEST_DIRNAME/fixtures/mailtest.py" \
	    hostile "$kind" -- "$SMTPD" $(smtpd_user_opt) -d "$MAIL" -h "$HOST" "$@"
	echo "$output"
	smtp_ok
	[[ $output =~ ^exit=0\ stderr=0\ rss=([0-9]+)\  ]]
	if [ -z "${SMTPD_NO_RSS-}" ] && [ "${BASH_REMATCH[1]}" -gt "$RSS_LIMIT_KB" ]; then
		echo "peak RSS ${BASH_REMATCH[1]} KiB over $RSS_LIMIT_KB KiB" >&2
		return 1
	fi
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
