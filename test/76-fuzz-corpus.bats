load helper

# The fuzz seed corpus and any crash inputs kept beside it, replayed
# through the real binary: each session ends normally with clean replies.

@test "every session input of the fuzz corpus ends normally with well-formed replies" {
	local f n=0
	for f in "$BATS_TEST_DIRNAME"/../fuzz/corpus/session/*; do
		run --separate-stderr smtp_raw -n 10 -s 65536 <"$f"
		if [ "$status" -ne 0 ] || [ -n "$stderr" ]; then
			echo "$f: exit $status, stderr $stderr" >&2
			return 1
		fi
		parse_replies
		if [[ " ${REPLY_CODES[*]} " == *" ??? "* ]]; then
			echo "$f: a line that is not a reply" >&2
			show_output
			return 1
		fi
		n=$((n + 1))
	done
	[ "$n" -gt 0 ]
}
