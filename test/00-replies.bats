#!/usr/bin/env bats
# The reply table in reply.h is the only place reply texts live.

load helper

@test "every reply in the table is set, well formed and has at most one marker" {
	${CC:-cc} -std=c99 -Wall -Wextra -o "$BATS_TEST_TMPDIR/replycheck" \
		"$BATS_TEST_DIRNAME/replycheck.c"
	run -0 "$BATS_TEST_TMPDIR/replycheck"
	[ -z "$output" ]
}

@test "no reply text lives outside reply.h" {
	run grep -n '"[2-5][0-9][0-9][ -]' "$BATS_TEST_DIRNAME"/../*.c
	[ "$status" -eq 1 ]
}

@test "with ENHANCEDSTATUSCODES every reply but greeting, HELO/EHLO and 354 carries one" {
	run -0 --separate-stderr smtp -- "EHLO c" "MAIL FROM:<a@b.example>" BOGUS \
		"RCPT TO:<alice@$HOST>" "RCPT TO:<x@elsewhere.example>" DATA x . \
		RSET NOOP "VRFY alice" "EXPN alice" TURN HELP QUIT
	parse_replies
	local i
	for i in "${!REPLY_CODES[@]}"; do
		case $i:${REPLY_CODES[$i]} in
		0:220|1:250|*:354) [ "${REPLY_ESCS[$i]}" = - ] ;;
		*) [[ ${REPLY_ESCS[$i]} == ${REPLY_CODES[$i]:0:1}.* ]] ;;
		esac
	done
}
