#!/usr/bin/env bats
# Subaddresses (-e, RFC 5233): alice+lists@ reaches alice's mailbox when
# alice+lists is neither a mailbox nor an alias of its own; the whole name
# stays in Delivered-To:, and the detail reaches an agent as %e.

load helper
load launch

PTYHELPER=$BATS_TEST_DIRNAME/ptyhelper

setup() {
	smtp_setup
	agent_setup
	ALIASES=$BATS_TEST_TMPDIR/aliases
	printf '%s\n' "staff: alice, bob" "team+x: bob" "carol: <carol@remote.example>" >"$ALIASES"
	give_to_smtpd "$ALIASES"
}

# rcpts OPTIONS -- ADDRESS...: one transaction with a RCPT for each
# address, and a message if any is taken.
rcpts() {
	local r cmds=()
	split_opts "$@"
	for r in "${ARGS[@]}"; do
		cmds+=("RCPT TO:<$r>")
	done
	smtp "${OPTS[@]}" -- "EHLO client" "MAIL FROM:<a@b.example>" "${cmds[@]}" \
	    DATA "Subject: sub" "" "hello" . QUIT
}

@test "without -e a subaddress is an unknown user" {
	run -0 --separate-stderr smtp -- "EHLO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice+lists@$HOST>" QUIT
	smtp_ok 220 250 250 550 221
	esc_is 4 5.1.1
}

@test "with -e + a subaddress reaches the mailbox, whole name in Delivered-To:" {
	run -0 --separate-stderr rcpts -e + -- "alice+lists@$HOST" "Bob+News@$HOST"
	smtp_ok 220 250 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Delivered-To)" = "alice+lists@$HOST" ]
	count_is 1 maildir_count "$MAIL/bob"
	[ "$(maildir_msg "$MAIL/bob" 1 header Delivered-To)" = "bob+news@$HOST" ]
}

@test "a mailbox or an alias of the whole name wins over the split" {
	: >"$MAIL/alice+own"
	chmod 0600 "$MAIL/alice+own"
	give_to_smtpd "$MAIL/alice+own"
	run -0 --separate-stderr rcpts -e + -a "$ALIASES" -- "alice+own@$HOST" "team+x@$HOST"
	smtp_ok 220 250 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice+own"
	[ "$(mbox_msg "$MAIL/alice+own" 1 header Delivered-To)" = "alice+own@$HOST" ]
	count_is 0 mbox_count "$MAIL/alice"
	count_is 1 maildir_count "$MAIL/bob"
}

@test "a subaddress of an alias expands the alias" {
	run -0 --separate-stderr rcpts -e + -a "$ALIASES" -- "staff+all@$HOST"
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	count_is 1 maildir_count "$MAIL/bob"
	# The members are reached by their own names.
	[ "$(mbox_msg "$MAIL/alice" 1 header Delivered-To)" = "alice@$HOST" ]
}

@test "a set of delimiters splits at the first; an empty user or a bad detail is unknown" {
	run -0 --separate-stderr rcpts -e +- -- "alice-x+y@$HOST" "alice+@$HOST" \
	    "+x@$HOST" "-x@$HOST" "nobody+x@$HOST" "alice+-x@$HOST" "alice+.x@$HOST" \
	    '"alice+a b"@'"$HOST"
	smtp_ok 220 250 250 250 250 550 501 550 550 550 550 354 250 221
	count_is 2 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Delivered-To)" = "alice-x+y@$HOST" ]
	[ "$(mbox_msg "$MAIL/alice" 2 header Delivered-To)" = "alice+@$HOST" ]
}

@test "the agent gets the detail as %e and EXTENSION, the whole address as %r" {
	run -0 --separate-stderr rcpts -e + -m "$AGENT -d %u -m %e -a %r" -- "Alice+Lists@$HOST"
	smtp_ok 220 250 250 250 354 250 221
	run_argv_is -d alice -m lists -a "Alice+Lists@$HOST"
	grep -qx "EXTENSION=lists" "$REC"/*.env
	grep -qx "USER=alice" "$REC"/*.env
}

@test "without a detail %e is an empty word and EXTENSION is unset" {
	run -0 --separate-stderr rcpts -e + -m "$AGENT %u %e" -- "alice@$HOST"
	smtp_ok 220 250 250 250 354 250 221
	run_argv_is alice ""
	! grep -q "^EXTENSION=" "$REC"/*.env
}

@test "each detail is a copy of its own; the same detail twice is one copy" {
	run -0 --separate-stderr rcpts -e + -m "$AGENT %e" -- "alice+a@$HOST" "alice+b@$HOST" \
	    "ALICE+A@$HOST" "alice@$HOST"
	smtp_ok 220 250 250 250 250 250 250 354 250 221
	[ "$(cat "$REC"/*.argv | sort | tr '\n' ' ')" = " a b " ]
}

@test "a Delivered-To: of the whole name is a loop; of the user alone it is not" {
	run -0 --separate-stderr smtp -e + -- "EHLO client" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice+x@$HOST>" DATA "Delivered-To: alice+X@$HOST" "" "looped" . \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice+x@$HOST>" DATA \
	    "Delivered-To: alice@$HOST" "" "not looped" . QUIT
	smtp_ok 220 250 250 250 354 554 250 250 354 250 221
	esc_is 6 5.4.6
	count_is 1 mbox_count "$MAIL/alice"
}

@test "VRFY and EXPN treat a subaddress as RCPT does" {
	run -0 --separate-stderr smtp -e + -V -E -a "$ALIASES" -- "EHLO client" \
	    "VRFY alice+x" "VRFY <bob+y@$HOST>" "VRFY nobody+x" "EXPN staff+x" "EXPN alice+x" \
	    "VRFY carol+x" QUIT
	smtp_ok 220 250 250 250 550 250 550 551 221
	[[ $output == *"<alice+x@$HOST>"* ]]
	[[ $output == *"<bob+y@$HOST>"* ]]
	[[ $output == *"250-2.1.5 <alice@$HOST>"* ]]
	run -0 --separate-stderr smtp -V -- "EHLO client" "VRFY alice+x@$HOST" QUIT
	smtp_ok 220 250 550 221
}

@test "SEND to a subaddress reaches the user's terminal" {
	[ -x "$PTYHELPER" ] || skip "test/ptyhelper not built (make check builds it)"
	: >"$BATS_TEST_TMPDIR/utmp"
	chmod 0644 "$BATS_TEST_TMPDIR/utmp"
	run -0 --separate-stderr timeout 10 "$PTYHELPER" -f "$BATS_TEST_TMPDIR/utmp" -n alice \
	    -c "$BATS_TEST_TMPDIR/tty.out" -o "$(stat -c %u "$MAIL/alice")" -- \
	    "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -U "$BATS_TEST_TMPDIR/utmp" -e + \
	    < <(lines "HELO c" "SEND FROM:<carol@client.example>" "RCPT TO:<alice+chat@$HOST>" \
	    DATA "hi there" . QUIT)
	smtp_ok 220 250 250 250 354 250 221
	grep -q "hi there" "$BATS_TEST_TMPDIR/tty.out"
}

@test "-e takes only punctuation a dot-atom allows" {
	for d in "" a . / "+ " '"' @ '+\'; do
		run -1 --separate-stderr smtp -e "$d" -- QUIT
		[[ $output == "421 4.3.0 "* ]]
	done
	run -0 --separate-stderr smtp -e '+-_=' -- QUIT
	smtp_ok 220 221
}

@test "-e is listed in the usage message" {
	needs_log
	run -1 --separate-stderr logged "$SMTPD" -x </dev/null
	log_has '\[-e delimiters\]'
}
