load helper

MSG=("Subject: queued" "" "hello")

teardown() {
	local p
	for p in ${BG_PIDS-}; do
		kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
	done
}

# runq OPTIONS: one queue run (or -p listing) over $MAIL.
runq() {
	timeout 20 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" "$@"
}

# mixed SENDER OPTIONS -- BODY...: one transaction from SENDER to alice and bob.
mixed() {
	local from=$1
	shift
	split_opts "$@"
	smtp "${OPTS[@]}" -- "HELO client.example" "MAIL FROM:<$from>" \
	    "RCPT TO:<alice@$HOST>" "RCPT TO:<bob@$HOST>" DATA "${ARGS[@]}" . QUIT
}

# Bob's Maildir fails temporarily while its tmp/ cannot be written.
break_bob() {
	chmod 0555 "$MAIL/bob/tmp"
}

fix_bob() {
	chmod 0755 "$MAIL/bob/tmp"
}

# entries: the names of the queue entries (regular files, not tmp.*), one
# per line in name order; entry_count: how many.  Globs, not processes:
# _queued fills ENTRIES.
entries() {
	untraced _queued
	[ "${#ENTRIES[@]}" = 0 ] || printf '%s\n' "${ENTRIES[@]}"
}

entry_count() {
	untraced _queued
	echo "${#ENTRIES[@]}"
}

_queued() {
	local f
	ENTRIES=()
	for f in "$MAIL/.queue"/.[!.]* "$MAIL/.queue"/*; do
		[ -f "$f" ] && [ ! -L "$f" ] && [[ ${f##*/} != tmp.* ]] &&
		    ENTRIES+=("${f##*/}")
	done
	return 0
}

# Reads message N of an mbox with Python's email package and prints what
# a multipart/report (RFC 3464) says: one "key value" line per fact.
PY_REPORT='
import email, mailbox, sys
mb = mailbox.mbox(sys.argv[1], create=False)
keys = sorted(mb.keys())
msg = email.message_from_bytes(mb.get_bytes(keys[int(sys.argv[2]) - 1]))
print("type", msg.get_content_type())
print("report-type", msg.get_param("report-type"))
print("return-path", msg["Return-Path"])
print("auto-submitted", msg["Auto-Submitted"])
print("defects", len(msg.defects))
parts = msg.get_payload()
print("parts", " ".join(p.get_content_type() for p in parts))
status = parts[1].get_payload()
print("reporting-mta", status[0]["Reporting-MTA"])
print("arrival", "yes" if status[0]["Arrival-Date"] else "no")
for r in status[1:]:
    print("recipient", r["Final-Recipient"], r["Action"], r["Status"])
hdrs = parts[2].get_payload()
print("subject", email.message_from_string(hdrs)["Subject"])
'

report() {
	python3 -S -c "$PY_REPORT" "$@"
}

@test "a mixed outcome answers 250 2.0.0 and queues only the failed recipient" {
	break_bob
	run -0 --separate-stderr mixed "a@b.example" -- "${MSG[@]}"
	smtp_ok 220 250 250 250 250 354 250 221
	esc_is 7 2.0.0
	count_is 1 mbox_count "$MAIL/alice"
	count_is 0 maildir_count "$MAIL/bob"
	count_is 1 entry_count
	entry=$MAIL/.queue/$(entries)
	grep -q "^local bob	bob@$HOST\$" "$entry"
	! grep -q "^local alice" "$entry"
}

@test "when every copy fails temporarily the reply stays 451 and nothing is queued" {
	break_bob
	run -0 --separate-stderr send_to bob -- "${MSG[@]}"
	smtp_ok 220 250 250 250 354 451 221
	count_is 0 entry_count
}

@test "a queue entry keeps the spooled message exactly" {
	break_bob
	run -0 --separate-stderr mixed "a@b.example" -- "Subject: x" "" "From the start" "..dot" "end"
	entry=$MAIL/.queue/$(entries)
	sed '1,/^$/d' "$entry" >"$BATS_TEST_TMPDIR/queued"
	mbox_msg "$MAIL/alice" 1 raw | sed '1,2d' >"$BATS_TEST_TMPDIR/delivered"
	# mbox quotes the From line; the queue holds the spool as received.
	sed 's/^>From the start$/From the start/' "$BATS_TEST_TMPDIR/delivered" |
	    cmp - "$BATS_TEST_TMPDIR/queued"
	no_cr "$entry"
}

@test "smtpd -q leaves an entry alone until its retry time" {
	break_bob
	run -0 --separate-stderr mixed "a@b.example" -- "${MSG[@]}"
	fix_bob
	run -0 --separate-stderr runq -q
	count_is 1 entry_count
	count_is 0 maildir_count "$MAIL/bob"
	[ -z "$output" ]
	smtp_ok
}

@test "smtpd -q -F delivers the queued copy once the mailbox works and removes the entry" {
	break_bob
	run -0 --separate-stderr mixed "a@b.example" -- "${MSG[@]}"
	fix_bob
	run -0 --separate-stderr runq -q -F
	[ -z "$output" ]
	smtp_ok
	count_is 0 entry_count
	count_is 1 maildir_count "$MAIL/bob"
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(maildir_msg "$MAIL/bob" 1 header Return-Path)" = "<a@b.example>" ]
	[ "$(maildir_msg "$MAIL/bob" 1 header Delivered-To)" = "bob@$HOST" ]
	[ "$(maildir_msg "$MAIL/bob" 1 body)" = hello ]
	[ "$(maildir_msg "$MAIL/bob" 1 names | head -n 3 | tr '\n' ' ')" = "Return-Path Delivered-To Received " ]
	run -0 --separate-stderr runq -q -F
	count_is 1 maildir_count "$MAIL/bob"
}

@test "a copy that fails again stays queued with one more attempt and a later retry" {
	break_bob
	run -0 --separate-stderr mixed "a@b.example" -- "${MSG[@]}"
	run -0 --separate-stderr runq -q -F -R 600
	count_is 1 entry_count
	entry=$MAIL/.queue/$(entries)
	grep -qx 'attempts 2' "$entry"
	arrival=$(sed -n 's/^arrival //p' "$entry")
	next=$(sed -n 's/^next //p' "$entry")
	# -R 600 doubles to 1200 for the third attempt.
	[ "$next" -ge $((arrival + 1200)) ]
	count_is 0 maildir_count "$MAIL/bob"
	count_is 1 mbox_count "$MAIL/alice"
}

@test "-I caps the doubling retry delay" {
	break_bob
	run -0 --separate-stderr mixed "a@b.example" -- "${MSG[@]}"
	run -0 --separate-stderr runq -q -F -R 600 -I 700
	run -0 --separate-stderr runq -q -F -R 600 -I 700
	entry=$MAIL/.queue/$(entries)
	grep -qx 'attempts 3' "$entry"
	arrival=$(sed -n 's/^arrival //p' "$entry")
	next=$(sed -n 's/^next //p' "$entry")
	# Uncapped, the fourth attempt would wait 2400 seconds.
	[ "$next" -ge $((arrival + 700)) ]
	[ "$next" -lt $((arrival + 2400)) ]
}

@test "smtpd -p lists id, sender, attempts and pending recipients" {
	break_bob
	run -0 --separate-stderr mixed "a@b.example" -- "${MSG[@]}"
	id=$(entries)
	run -0 --separate-stderr runq -p
	[[ ${lines[0]} == "$id "*"attempts 1"*"<a@b.example>" ]]
	[ "${lines[1]}" = $'\t'"<bob@$HOST>" ]
	[[ ${lines[2]} == $'\t'"(451 4.3.0 "* ]]
	smtp_ok
}

@test "smtpd -p says so when the queue is empty" {
	run -0 --separate-stderr runq -p
	[ "$output" = "Queue is empty" ]
}

@test "an entry past the maximum age bounces to a local sender with a multipart/report" {
	break_bob
	run -0 --separate-stderr mixed "alice@$HOST" -- "${MSG[@]}"
	codes_are 220 250 250 250 250 354 250 221
	run -0 --separate-stderr runq -q -F -A 0
	smtp_ok
	count_is 0 entry_count
	count_is 2 mbox_count "$MAIL/alice"
	run -0 report "$MAIL/alice" 2
	printf '%s\n' "$output" >&2
	[ "${lines[0]}" = "type multipart/report" ]
	[ "${lines[1]}" = "report-type delivery-status" ]
	[ "${lines[2]}" = "return-path <>" ]
	[ "${lines[3]}" = "auto-submitted auto-replied" ]
	[ "${lines[4]}" = "defects 0" ]
	[ "${lines[5]}" = "parts text/plain message/delivery-status text/rfc822-headers" ]
	[ "${lines[6]}" = "reporting-mta dns; $HOST" ]
	[ "${lines[7]}" = "arrival yes" ]
	[ "${lines[8]}" = "recipient rfc822; bob@$HOST failed 4.4.7" ]
	[ "${lines[9]}" = "subject queued" ]
	[ "${#lines[@]}" -eq 10 ]
	head -n 1 "$MAIL/alice" | grep -q "^From alice@$HOST "
	grep -q '^From MAILER-DAEMON ' "$MAIL/alice"
}

@test "a bounce for a sender that is not local goes to the local postmaster" {
	break_bob
	run -0 --separate-stderr mixed "someone@elsewhere.example" -- "${MSG[@]}"
	run -0 --separate-stderr runq -q -F -A 0
	count_is 0 entry_count
	count_is 1 mbox_count "$MAIL/alice"
	count_is 1 mbox_count "$MAIL/postmaster"
	run -0 report "$MAIL/postmaster" 1
	[ "${lines[0]}" = "type multipart/report" ]
	[ "${lines[8]}" = "recipient rfc822; bob@$HOST failed 4.4.7" ]
}

@test "a message from the null sender never bounces" {
	break_bob
	run -0 --separate-stderr mixed "" -- "${MSG[@]}"
	codes_are 220 250 250 250 250 354 250 221
	count_is 1 entry_count
	run -0 --separate-stderr runq -q -F -A 0
	count_is 0 entry_count
	count_is 1 mbox_count "$MAIL/alice"
	[ ! -s "$MAIL/postmaster" ]
	count_is 0 maildir_count "$MAIL/bob"
}

@test "a permanent failure beside a delivered copy answers 250 and notifies the sender" {
	run -0 --separate-stderr mixed "alice@$HOST" -- "Delivered-To: bob@$HOST" "${MSG[@]}"
	codes_are 220 250 250 250 250 354 250 221
	esc_is 7 2.0.0
	count_is 0 entry_count
	count_is 0 maildir_count "$MAIL/bob"
	count_is 2 mbox_count "$MAIL/alice"
	run -0 report "$MAIL/alice" 2
	[ "${lines[0]}" = "type multipart/report" ]
	[ "${lines[8]}" = "recipient rfc822; bob@$HOST failed 5.4.6" ]
}

@test "an entry locked by another runner is skipped and delivered by the next run" {
	break_bob
	run -0 --separate-stderr mixed "a@b.example" -- "${MSG[@]}"
	fix_bob
	entry=$MAIL/.queue/$(entries)
	run -0 python3 -S -c '
import fcntl, subprocess, sys
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
sys.exit(subprocess.call(sys.argv[2:]))
' "$entry" timeout 20 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -q -F
	count_is 0 maildir_count "$MAIL/bob"
	count_is 1 entry_count
	run -0 --separate-stderr runq -q -F
	count_is 1 maildir_count "$MAIL/bob"
	count_is 0 entry_count
}

@test "two runners at once deliver every entry exactly once" {
	local lines=("HELO client.example") i
	for i in $(seq 1 20); do
		lines+=("MAIL FROM:<a@b.example>" "RCPT TO:<alice@$HOST>"
		    "RCPT TO:<bob@$HOST>" DATA "Subject: $i" "" "body $i" .)
	done
	break_bob
	run -0 --separate-stderr smtp -- "${lines[@]}" QUIT
	count_is 20 entry_count
	fix_bob
	runq -q -F 3>&- &
	p1=$!
	runq -q -F 3>&- &
	p2=$!
	BG_PIDS="$p1 $p2"
	wait "$p1"
	wait "$p2"
	count_is 0 entry_count
	count_is 20 maildir_count "$MAIL/bob"
	for i in $(seq 1 20); do
		grep -rlx "Subject: $i" "$MAIL/bob/new" | wc -l | grep -qx 1
	done
}

@test "a runner killed mid-delivery loses nothing: the next run delivers the copy" {
	command -v setsid >/dev/null || skip "needs setsid"
	command -v pgrep >/dev/null || skip "needs pgrep"
	mkmbox carol
	: >"$MAIL/carol.lock"
	give_to_smtpd "$MAIL/carol.lock"
	run -0 --separate-stderr smtp -w 1 -- "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@$HOST>" "RCPT TO:<carol@$HOST>" DATA "${MSG[@]}" . QUIT
	codes_are 220 250 250 250 250 354 250 221
	count_is 1 entry_count
	# The runner's delivery child waits for the dotlock; kill both.
	setsid "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -q -F -w 60 3>&- &
	pid=$!
	BG_PIDS=$pid
	timeout 10 sh -c "until pgrep -P $pid >/dev/null; do :; done"
	kill -KILL -- "-$pid"
	wait "$pid" || true
	rm "$MAIL/carol.lock"
	count_is 1 entry_count
	[ ! -s "$MAIL/carol" ]
	run -0 --separate-stderr runq -q -F
	count_is 0 entry_count
	count_is 1 mbox_count "$MAIL/carol"
	[ ! -e "$MAIL/carol.lock" ]
}

@test "-Q moves the queue and -q finds it there" {
	mkdir "$BATS_TEST_TMPDIR/q"
	give_to_smtpd "$BATS_TEST_TMPDIR/q"
	break_bob
	run -0 --separate-stderr mixed "a@b.example" -Q "$BATS_TEST_TMPDIR/q" -- "${MSG[@]}"
	codes_are 220 250 250 250 250 354 250 221
	[ ! -e "$MAIL/.queue" ]
	[ "$(find "$BATS_TEST_TMPDIR/q" -type f | wc -l)" -eq 1 ]
	fix_bob
	run -0 --separate-stderr runq -q -F -Q "$BATS_TEST_TMPDIR/q"
	count_is 1 maildir_count "$MAIL/bob"
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/q")" ]
}

@test "smtpd -q refuses to run as root without -u" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	break_bob
	run -0 --separate-stderr mixed "a@b.example" -- "${MSG[@]}"
	fix_bob
	run -1 --separate-stderr timeout 20 "$SMTPD" -d "$MAIL" -h "$HOST" -q -F
	[ -n "$stderr" ]
	count_is 1 entry_count
	count_is 0 maildir_count "$MAIL/bob"
}

@test "the queue directory is not a mailbox" {
	break_bob
	run -0 --separate-stderr mixed "a@b.example" -- "${MSG[@]}"
	run -0 --separate-stderr smtp -- "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<\".queue\"@$HOST>" QUIT
	codes_are 220 250 250 550 221
}

@test "a queue that cannot be written keeps the old 451 for a mixed outcome" {
	break_bob
	mkdir "$BATS_TEST_TMPDIR/ro"
	chmod 0555 "$BATS_TEST_TMPDIR/ro"
	run -0 --separate-stderr mixed "a@b.example" -Q "$BATS_TEST_TMPDIR/ro/q" -- "${MSG[@]}"
	codes_are 220 250 250 250 250 354 451 221
	esc_is 7 4.3.0
	[ ! -e "$BATS_TEST_TMPDIR/ro/q" ]
}

@test "a remote alias member the forwarder defers is queued and forwarded by a later run" {
	agent_setup
	echo 75 >"$AGENT_DIR/exit"
	run -0 --separate-stderr smtp -a "$BATS_TEST_DIRNAME/fixtures/aliases" \
	    -f "$AGENT -f %s -- %r" -- "HELO c" "MAIL FROM:<s@c.example>" \
	    "RCPT TO:<mix@$HOST>" DATA "${MSG[@]}" . QUIT
	codes_are 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	entry=$MAIL/.queue/$(entries)
	grep -qx "remote other@remote.example" "$entry"
	! grep -q "^local" "$entry"
	# Without -f the runner keeps the copy.
	rm "$REC"/*
	run -0 --separate-stderr runq -q -F
	count_is 1 entry_count
	[ -z "$(ls -A "$REC")" ]
	echo 0 >"$AGENT_DIR/exit"
	run -0 --separate-stderr runq -q -F -f "$AGENT -f %s -- %r"
	count_is 0 entry_count
	run_argv_is -f s@c.example -- other@remote.example
	# The forwarder reads the message, not the queue's envelope.
	run cat "$REC"/*.stdin
	[ "${lines[0]}" = "Received: from c" ]
	[ "${lines[4]}" = "Subject: queued" ]
	[ "${lines[5]}" = "hello" ]
	[ "${#lines[@]}" -eq 6 ]
}

@test "a queued local copy handed to the -m agent starts at the message" {
	agent_setup
	break_bob
	run -0 --separate-stderr mixed "s@c.example" -- "${MSG[@]}"
	codes_are 220 250 250 250 250 354 250 221
	run -0 --separate-stderr runq -q -F -m "$AGENT -d %u -- %s"
	count_is 0 entry_count
	run_argv_is -d bob -- s@c.example
	run cat "$REC"/*.stdin
	# Two recipients: no "for" line in Received:; bats drops the empty line.
	[ "${lines[0]}" = "Received: from client.example" ]
	[ "${lines[3]}" = "Subject: queued" ]
	[ "${lines[4]}" = "hello" ]
	[ "${#lines[@]}" -eq 5 ]
}

@test "an alias naming one mailbox twice queues one copy" {
	cat >"$BATS_TEST_TMPDIR/aliases" <<-END
	pair: bob, bob@$HOST, alice
	END
	break_bob
	run -0 --separate-stderr smtp -a "$BATS_TEST_TMPDIR/aliases" -- "HELO c" \
	    "MAIL FROM:<s@c.example>" "RCPT TO:<pair@$HOST>" "RCPT TO:<bob@$HOST>" \
	    DATA "${MSG[@]}" . QUIT
	codes_are 220 250 250 250 250 354 250 221
	[ "$(grep -c '^local bob' "$MAIL/.queue/$(entries)")" -eq 1 ]
	fix_bob
	run -0 --separate-stderr runq -q -F
	count_is 1 maildir_count "$MAIL/bob"
}

@test "bad -A, -I and -R values are refused at start-up" {
	for opt in "-A -1" "-I 0" "-R x" "-A 1s"; do
		# shellcheck disable=SC2086
		run -1 --separate-stderr runq -q $opt
		smtp_ok 421
	done
}

@test "smtpd -p only reads, so root may run it without -u" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	break_bob
	run -0 --separate-stderr mixed "a@b.example" -- "${MSG[@]}"
	run -0 --separate-stderr timeout 20 "$SMTPD" -d "$MAIL" -p
	[[ ${lines[0]} == "$(entries) "* ]]
	[ "${lines[1]}" = $'\t'"<bob@$HOST>" ]
	count_is 1 entry_count
}

@test "a notification that cannot be delivered yet is queued itself" {
	mkmbox carol
	break_bob
	run -0 --separate-stderr mixed "carol@$HOST" -- "${MSG[@]}"
	codes_are 220 250 250 250 250 354 250 221
	: >"$MAIL/carol.lock"
	give_to_smtpd "$MAIL/carol.lock"
	run -0 --separate-stderr runq -q -F -A 0 -w 1
	count_is 1 entry_count
	entry=$MAIL/.queue/$(entries)
	grep -qx "sender " "$entry"
	grep -qx "local carol	carol@$HOST" "$entry"
	[ ! -s "$MAIL/carol" ]
	rm "$MAIL/carol.lock"
	run -0 --separate-stderr runq -q -F
	count_is 0 entry_count
	count_is 1 mbox_count "$MAIL/carol"
	run -0 report "$MAIL/carol" 1
	[ "${lines[0]}" = "type multipart/report" ]
	[ "${lines[2]}" = "return-path <>" ]
	[ "${lines[8]}" = "recipient rfc822; bob@$HOST failed 4.4.7" ]
}

@test "a corrupt entry is left alone and listed as unreadable" {
	mkdir "$MAIL/.queue"
	printf 'not an entry\n' >"$MAIL/.queue/junk"
	give_to_smtpd "$MAIL/.queue"
	run -0 --separate-stderr runq -q -F
	[ "$(cat "$MAIL/.queue/junk")" = "not an entry" ]
	run -0 --separate-stderr runq -p
	[ "$output" = "junk  (unreadable entry)" ]
}

@test "temp files abandoned a day ago are removed, fresh ones are not" {
	mkdir "$MAIL/.queue"
	: >"$MAIL/.queue/tmp.1.1"
	: >"$MAIL/.queue/tmp.2.1"
	touch -d '2 days ago' "$MAIL/.queue/tmp.1.1"
	give_to_smtpd "$MAIL/.queue"
	run -0 --separate-stderr runq -q
	[ ! -e "$MAIL/.queue/tmp.1.1" ]
	[ -e "$MAIL/.queue/tmp.2.1" ]
	run -0 --separate-stderr runq -p
	[ "$output" = "Queue is empty" ]
}

@test "smtpd -p shows an entry a runner holds as being tried" {
	break_bob
	run -0 --separate-stderr mixed "a@b.example" -- "${MSG[@]}"
	entry=$MAIL/.queue/$(entries)
	run -0 python3 -S -c '
import fcntl, subprocess, sys
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
sys.exit(subprocess.call(sys.argv[2:]))
' "$entry" timeout 20 "$SMTPD" -d "$MAIL" -p
	[[ ${lines[0]} == *"attempts 1  being tried  <a@b.example>" ]]
}

@test "a client that learned the message id cannot forge a MIME part in a bounce" {
	# The id of the second message follows from the first one's 250.
	run -0 --separate-stderr python3 -S -c '
import subprocess, sys
host = sys.argv[1]
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def reply():
    while True:
        line = p.stdout.readline().decode()
        if line[3:4] != "-":
            return line.strip()
def say(*lines):
    for line in lines:
        p.stdin.write(line.encode() + b"\r\n")
    p.stdin.flush()
    return reply()
reply()
say("HELO client.example")
say("MAIL FROM:<alice@%s>" % host)
say("RCPT TO:<alice@%s>" % host)
say("DATA")
first = say("Subject: one", "", "x", ".").split()[-1]
guess = first.rsplit(".", 1)[0] + ".2"
say("MAIL FROM:<alice@%s>" % host)
say("RCPT TO:<alice@%s>" % host)
say("RCPT TO:<bob@%s>" % host)
say("DATA")
print(say("Delivered-To: bob@%s" % host, "Subject: two",
    "--=_smtpd_" + guess, "Content-Type: text/html", "", "body", "."))
say("QUIT")
' "$HOST" timeout 10 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST"
	[[ $output == "250 2.0.0 "* ]]
	smtp_ok
	count_is 3 mbox_count "$MAIL/alice"
	run -0 report "$MAIL/alice" 3
	[ "${lines[0]}" = "type multipart/report" ]
	[ "${lines[4]}" = "defects 0" ]
	[ "${lines[5]}" = "parts text/plain message/delivery-status text/rfc822-headers" ]
	[ "${lines[8]}" = "recipient rfc822; bob@$HOST failed 5.4.6" ]
	grep -q '^--=_smtpd_.*\.2$' "$MAIL/alice"
}

@test "two bounces of one entry use different MIME boundaries, neither in the quoted text" {
	break_bob
	run -0 --separate-stderr mixed "alice@$HOST" -- "${MSG[@]}"
	entry=$MAIL/.queue/$(entries)
	cp -p "$entry" "$BATS_TEST_TMPDIR/entry"
	run -0 --separate-stderr runq -q -F -A 0
	cp -p "$BATS_TEST_TMPDIR/entry" "$entry"
	run -0 --separate-stderr runq -q -F -A 0
	count_is 3 mbox_count "$MAIL/alice"
	b2=$(mbox_msg "$MAIL/alice" 2 raw | sed -n 's/^	boundary="\(.*\)"$/\1/p')
	b3=$(mbox_msg "$MAIL/alice" 3 raw | sed -n 's/^	boundary="\(.*\)"$/\1/p')
	[ -n "$b2" ] && [ -n "$b3" ]
	[ "$b2" != "$b3" ]
	[ "$(mbox_msg "$MAIL/alice" 2 raw | grep -cF -- "$b2")" -eq 5 ]
	run -0 report "$MAIL/alice" 3
	[ "${lines[4]}" = "defects 0" ]
}
