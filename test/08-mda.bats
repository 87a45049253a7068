#!/usr/bin/env bats
# The external delivery agent (-m) and forwarder (-f): argv, environment,
# stdin, exit status, time-out.

load helper

setup() {
	smtp_setup
	agent_setup
	ALIASES=$BATS_TEST_DIRNAME/fixtures/aliases
}

mda_session() {
	smtp -m "$AGENT -d %u -r %r -- %s" "$@" -- "HELO c" "MAIL FROM:<$FROM>" \
		"RCPT TO:<alice@$HOST>" DATA "Subject: mda" "" "line one" "..dotted" . QUIT
}

@test "the MDA gets %u %r %s as single words, the message on stdin" {
	FROM=s@c.example
	run -0 --separate-stderr mda_session
	smtp_ok 220 250 250 250 354 250 221
	run_argv_is -d alice -r "alice@$HOST" -- s@c.example
	# stdin: smtpd's Received: header, then the message, LF line ends.
	run cat "$REC"/*.stdin
	[ "${lines[0]}" = "Received: from c" ]
	[ "${lines[4]}" = "Subject: mda" ]
	[ "${lines[5]}" = "line one" ]
	[ "${lines[6]}" = ".dotted" ]
	! grep -q '^Return-Path:' "$REC"/*.stdin
	! grep -q '^Delivered-To:' "$REC"/*.stdin
	no_cr "$(ls "$REC"/*.stdin)"
	[ "$(mbox_count "$MAIL/alice")" = 0 ]
}

@test "hostile senders stay one literal argv word" {
	FROM='"$(id);rm -rf /"@c.example'
	run -0 --separate-stderr mda_session
	codes_are 220 250 250 250 354 250 221
	run_argv_is -d alice -r "alice@$HOST" -- '"$(id);rm -rf /"@c.example'
}

@test "a %r inside the sender stays literal and %% is a percent sign" {
	run -0 --separate-stderr smtp -m "$AGENT %s-%% %r" -- "HELO c" 'MAIL FROM:<"%r %u"@c.example>' \
		"RCPT TO:<alice@$HOST>" DATA x . QUIT
	codes_are 220 250 250 250 354 250 221
	run_argv_is '"%r %u"@c.example-%' "alice@$HOST"
}

@test "a sender or recipient beginning with a dash is refused" {
	run -0 --separate-stderr smtp -m "$AGENT %s" -- "HELO c" "MAIL FROM:<-oQ/tmp@c.example>" \
		'MAIL FROM:<"-oQ/tmp"@c.example>' "MAIL FROM:<s@c.example>" "RCPT TO:<-alice@$HOST>" QUIT
	codes_are 220 250 501 501 250 501 221
	[ -z "$(ls "$REC")" ]
}

@test "the null sender is an empty argv word" {
	FROM=
	run -0 --separate-stderr mda_session
	codes_are 220 250 250 250 354 250 221
	run_argv_is -d alice -r "alice@$HOST" -- ""
}

@test "the agent's environment is small and clean" {
	FROM=s@c.example
	export SECRET=leak
	run -0 --separate-stderr mda_session
	codes_are 220 250 250 250 354 250 221
	run cat "$REC"/*.env
	! grep -q SECRET "$REC"/*.env
	grep -qx 'PATH=/usr/local/bin:/usr/bin:/bin' "$REC"/*.env
	grep -qx 'SENDER=s@c.example' "$REC"/*.env
	grep -qx "RECIPIENT=alice@$HOST" "$REC"/*.env
	grep -qx 'USER=alice' "$REC"/*.env
	! grep -qv -e '^PATH=' -e '^SENDER=' -e '^RECIPIENT=' -e '^USER=' -e '^HOME=' "$REC"/*.env
}

@test "the agent's output never reaches the client" {
	FROM=s@c.example
	run -0 --separate-stderr mda_session
	[[ $output != *noise* ]]
	smtp_ok
}

@test "exit 75 is a temporary failure, any other a permanent one" {
	FROM=s@c.example
	echo 75 >"$AGENT_DIR/exit"
	run -0 --separate-stderr mda_session
	codes_are 220 250 250 250 354 451 221
	esc_is 6 4.*
	echo 1 >"$AGENT_DIR/exit"
	run -0 --separate-stderr mda_session
	codes_are 220 250 250 250 354 554 221
	esc_is 6 5.*
}

@test "a hanging agent is killed after -k and counts as temporary" {
	FROM=s@c.example
	touch "$AGENT_DIR/hang"
	run -0 --separate-stderr mda_session -k 1
	codes_are 220 250 250 250 354 451 221
	! pgrep -f "$AGENT_DIR" >/dev/null
}

@test "a missing agent program stops start-up" {
	run -1 --separate-stderr smtp -m "/nonexistent/mda %u" -- QUIT
	codes_are 421
	run -1 --separate-stderr smtp -m "relative/mda %u" -- QUIT
	codes_are 421
}

@test "with -m an alias may name a user without a mailbox file" {
	run -0 --separate-stderr smtp -a "$ALIASES" -m "$AGENT %u" -- "HELO c" "MAIL FROM:<s@c.example>" \
		"RCPT TO:<ghost@$HOST>" "RCPT TO:<nosuchbox@$HOST>" DATA x . QUIT
	codes_are 220 250 250 250 550 354 250 221
	run_argv_is nosuchbox
}

@test "each forwarded recipient runs the forwarder once with the message" {
	run -0 --separate-stderr smtp -a "$ALIASES" -f "$AGENT -f %s -- %r" -- "HELO c" \
		"MAIL FROM:<s@c.example>" "RCPT TO:<ext@$HOST>" "RCPT TO:<alice@$HOST>" DATA "Subject: f" "" body . QUIT
	codes_are 220 250 250 251 250 354 250 221
	run_argv_is -f s@c.example -- someone@remote.example
	count_is 1 mbox_count "$MAIL/alice"
	grep -qx 'Subject: f' "$REC"/*.stdin
}

@test "the MDA and the forwarder get no descriptor above 2 that the launcher left open" {
	cat >"$AGENT_DIR/bin/fds" <<'PY'
#!/usr/bin/env python3
import os, sys
sys.stdin.read()
open_ = []
for fd in range(3, 256):
    try:
        os.fstat(fd)
        open_.append(str(fd))
    except OSError:
        pass
with open(os.path.join(os.path.dirname(sys.argv[0]), "..", "rec", sys.argv[1]), "w") as f:
    f.write(" ".join(open_) + "\n")
PY
	chmod 0755 "$AGENT_DIR/bin/fds"
	give_to_smtpd "$AGENT_DIR"
	: >"$BATS_TEST_TMPDIR/stray"
	run -0 --separate-stderr smtp -a "$ALIASES" -m "$AGENT_DIR/bin/fds mda" \
	    -f "$AGENT_DIR/bin/fds fwd" -- "HELO c" "MAIL FROM:<a@c.example>" \
	    "RCPT TO:<alice@$HOST>" "RCPT TO:<ext@$HOST>" DATA "Subject: fds" "" x . QUIT \
	    5>"$BATS_TEST_TMPDIR/stray" 7<"$BATS_TEST_TMPDIR/stray" 9<>"$BATS_TEST_TMPDIR/stray"
	smtp_ok 220 250 250 250 251 354 250 221
	[ "$(cat "$REC/mda")" = "" ]
	[ "$(cat "$REC/fwd")" = "" ]
}
