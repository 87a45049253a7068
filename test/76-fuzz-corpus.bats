load helper

# The fuzz seed corpus and any crash inputs kept beside it, replayed
# through the real binary: each session ends normally with clean replies.

# REPLAY, run as sh -c REPLAY sh DIR SMTPD-COMMAND...: each input of
# $CORPUS through the command, its replies to DIR/NAME; a line on stderr
# for each session that failed or wrote to stderr, and the number of
# inputs on stdout.  Each session has a timeout(1) of its own: one for
# the whole loop would have to allow for valgrind (test/memcheck), under
# which a session takes a second.
REPLAY='
dir=$1
shift
n=0
for f in "$CORPUS"/*; do
	timeout 10 "$@" <"$f" >"$dir/${f##*/}" 2>"$dir.err"
	rc=$?
	if [ "$rc" -ne 0 ] || [ -s "$dir.err" ]; then
		echo "${f##*/}: exit $rc, stderr: $(cat "$dir.err")" >&2
	fi
	n=$((n + 1))
done
echo "$n"'

@test "every session input of the fuzz corpus ends normally with well-formed replies" {
	local dir=$BATS_TEST_TMPDIR/replies
	mkdir "$dir"
	CORPUS=$BATS_TEST_DIRNAME/../fuzz/corpus/session run --separate-stderr \
	    sh -c "$REPLAY" sh "$dir" \
	    "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -n 10 -s 65536
	[ "$status" = 0 ] && [ -z "$stderr" ] || { echo "exit $status: $stderr" >&2; return 1; }
	[ "$output" -gt 0 ]
	# Every line a reply: code, then "-" or " " or nothing, then CRLF.
	run grep -L '' "$dir"/*
	[ -z "$output" ] || { echo "no reply at all: $output" >&2; return 1; }
	run grep -anvE $'^[2-5][0-9]{2}([- ][^\r]*)?\r$' "$dir"/*
	[ -z "$output" ] || { echo "not a reply line: $output" >&2; return 1; }
}
