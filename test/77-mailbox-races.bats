#!/usr/bin/env bats
# Mailboxes that change under smtpd: replaced by a reader while it waits
# for the lock, tails left by killed deliveries, a delivery killed while it
# makes its dotlock, and mail directories other users may write.

load helper
load launch

# The input of one such session, for commands that run smtpd themselves.
session_input() {
	lines "HELO c" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "Subject: race" "" "body" . QUIT
}

# A mail reader: holds the fcntl lock of the mbox, starts smtpd, waits until
# smtpd's delivery waits for that lock (seen in /proc/locks), then replaces
# the mbox (rename: keep the old one aside; unlink: gone) and lets go.
PY_READER='
import fcntl, os, subprocess, sys, time
how, mbox, inp = sys.argv[1], sys.argv[2], sys.argv[3]
f = open(mbox, "r+")
fcntl.lockf(f, fcntl.LOCK_EX)
st = os.fstat(f.fileno())
p = subprocess.Popen(sys.argv[4:], stdin=open(inp, "rb"), stdout=subprocess.PIPE)
def waiting():
    with open("/proc/locks") as locks:
        return any("->" in l and l.split()[6].endswith(":%d" % st.st_ino) for l in locks)
end = time.monotonic() + 8
while not waiting():
    if p.poll() is not None or time.monotonic() > end:
        sys.exit("smtpd never waited for the lock")
    time.sleep(0.01)
if how == "rename":
    os.rename(mbox, mbox + ".old")
    fd = os.open(mbox, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchown(fd, st.st_uid, st.st_gid)
    os.close(fd)
else:
    os.unlink(mbox)
f.close()
sys.stdout.buffer.write(p.communicate()[0])
'

reader_races() {
	[ -r /proc/locks ] || skip "needs /proc/locks"
	session_input >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr python3 -S -c "$PY_READER" "$1" "$MAIL/alice" "$BATS_TEST_TMPDIR/in" \
	    timeout 10 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -w 5
}

@test "a mailbox a reader replaces while smtpd waits for its lock gets the message at its path" {
	reader_races rename
	[ "$status" -eq 0 ]
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	[ ! -s "$MAIL/alice.old" ]
	[ ! -e "$MAIL/alice.lock" ]
}

@test "a mailbox a reader removes while smtpd waits for its lock is a temporary failure, not a lost 250" {
	reader_races unlink
	[ "$status" -eq 0 ]
	smtp_ok 220 250 250 250 354 451 221
	esc_is 6 4.*
	[ ! -e "$MAIL/alice" ]
	[ ! -e "$MAIL/alice.lock" ]
}

# dead_pid: a process id that no longer runs.
dead_pid() {
	sh -c 'echo $$'
}

# A whole message as another writer (an MDA that only uses fcntl) appends it.
OTHER=$'From other@c.example Thu Jan  1 00:00:00 2026\nSubject: other\n\nkeep me\n\n'

@test "a dead delivery's lock does not cut messages other writers appended after it" {
	run --separate-stderr send_to alice
	codes_are 220 250 250 250 354 250 221
	start=$(stat -c %s "$MAIL/alice")
	printf 'From a@b.example Thu Jan  1 00:00:00 2026\nReturn-Path: <a@b.ex' >>"$MAIL/alice"
	printf '%s' "$OTHER" >>"$MAIL/alice"
	printf 'smtpd %s %s\n' "$(dead_pid)" "$start" >"$MAIL/alice.lock"
	give_to_smtpd "$MAIL/alice.lock"
	cp "$MAIL/alice" "$BATS_TEST_TMPDIR/before"
	run --separate-stderr send_to alice -w 1
	smtp_ok 220 250 250 250 354 250 221
	# Nothing before the new copy was cut.
	cmp -n "$(stat -c %s "$BATS_TEST_TMPDIR/before")" "$BATS_TEST_TMPDIR/before" "$MAIL/alice"
	grep -qx 'keep me' "$MAIL/alice"
	[ ! -e "$MAIL/alice.lock" ]
}

# dead_lock START END [MARKLEN]: the lock a killed delivery of this mbox
# leaves, its marker the first MARKLEN bytes (default: all, up to 2048) of
# what the mbox holds from START.
dead_lock() {
	local len=${3:-$(($(stat -c %s "$MAIL/alice") - $1))}
	[ "$len" -le 2048 ] || len=2048
	{
		printf '%-127s\n' "smtpd $(dead_pid) $(stat -c %d "$MAIL/alice") $(stat -c %i "$MAIL/alice") $1 $2 $len"
		tail -c +$(($1 + 1)) "$MAIL/alice" | head -c "$len"
	} >"$MAIL/alice.lock"
	give_to_smtpd "$MAIL/alice.lock"
}

@test "a dead delivery's own half-written tail is cut off" {
	run --separate-stderr send_to alice
	start=$(stat -c %s "$MAIL/alice")
	cp "$MAIL/alice" "$BATS_TEST_TMPDIR/before"
	printf 'From a@b.example Thu Jan  1 00:00:00 2026\nReturn-Path: <a@b.ex' >>"$MAIL/alice"
	dead_lock "$start" $((start + 500))
	run --separate-stderr send_to alice -w 1
	smtp_ok 220 250 250 250 354 250 221
	count_is 2 mbox_count "$MAIL/alice"
	cmp -n "$start" "$BATS_TEST_TMPDIR/before" "$MAIL/alice"
	! grep -q 'a@b\.ex\($\|From\)' "$MAIL/alice"
}

@test "a dead delivery's tail followed by another writer's message is left alone" {
	run --separate-stderr send_to alice
	start=$(stat -c %s "$MAIL/alice")
	printf 'From a@b.example Thu Jan  1 00:00:00 2026\nReturn-Path: <a@b.ex\n' >>"$MAIL/alice"
	printf '%s' "$OTHER" >>"$MAIL/alice"
	cp "$MAIL/alice" "$BATS_TEST_TMPDIR/before"
	dead_lock "$start" $((start + 5000))
	run --separate-stderr send_to alice -w 1
	smtp_ok 220 250 250 250 354 250 221
	cmp -n "$(stat -c %s "$BATS_TEST_TMPDIR/before")" "$BATS_TEST_TMPDIR/before" "$MAIL/alice"
}

# dead_tail_kept: alice's mbox from $start on is still all of
# $BATS_TEST_TMPDIR/before after the next delivery, which got 250.
dead_tail_kept() {
	cp "$MAIL/alice" "$BATS_TEST_TMPDIR/before"
	run --separate-stderr send_to alice -w 1
	smtp_ok 220 250 250 250 354 250 221
	cmp -n "$(stat -c %s "$BATS_TEST_TMPDIR/before")" "$BATS_TEST_TMPDIR/before" "$MAIL/alice"
	[ ! -e "$MAIL/alice.lock" ]
}

@test "a dead delivery's tail is not cut when the mbox is longer than its whole copy" {
	printf 'From a@b.example Thu Jan  1 00:00:00 2026\nReturn-Path: <a@b.example>\n' >"$MAIL/alice"
	dead_lock 0 40
	printf 'no From line here\n' >>"$MAIL/alice"
	dead_tail_kept
}

@test "a dead delivery's tail is not cut when it does not begin with the marker its lock recorded" {
	printf 'From a@b.example Thu Jan  1 00:00:00 2026\nReturn-Path: <a@b.example>\n' >"$MAIL/alice"
	dead_lock 0 5000
	printf 'From c@d.example Thu Jan  1 00:00:00 2026\nReturn-Path: <c@d.example>\n' >"$MAIL/alice"
	dead_tail_kept
}

@test "a lock of the old form, without a marker, never cuts" {
	printf 'From a@b.example Thu Jan  1 00:00:00 2026\nReturn-Path: <a@b.ex' >"$MAIL/alice"
	printf 'smtpd %s %s %s 0 5000\n' "$(dead_pid)" "$(stat -c %d "$MAIL/alice")" \
	    "$(stat -c %i "$MAIL/alice")" >"$MAIL/alice.lock"
	give_to_smtpd "$MAIL/alice.lock"
	dead_tail_kept
}

@test "a dead delivery's lock with a second link is a stranger's lock: waited for, nothing cut" {
	printf 'From a@b.example Thu Jan  1 00:00:00 2026\nReturn-Path: <a@b.ex' >"$MAIL/alice"
	dead_lock 0 5000
	ln "$MAIL/alice.lock" "$BATS_TEST_TMPDIR/link"
	cp "$MAIL/alice" "$BATS_TEST_TMPDIR/before"
	run --separate-stderr send_to alice -w 1
	smtp_ok 220 250 250 250 354 451 221
	cmp "$BATS_TEST_TMPDIR/before" "$MAIL/alice"
}

# needs_strace: skip unless strace can trace here.
needs_strace() {
	needs strace
	strace -o /dev/null true 2>/dev/null || skip "ptrace not permitted"
}

# big_input LINES [TEXT]: a session sending one message of LINES lines of
# 78 bytes to alice (so 160 KB is 2100 lines), the first body line TEXT.
big_input() {
	python3 -S -c '
import sys
n, first = int(sys.argv[1]), sys.argv[2]
body = first + "\r\n" + "".join("line %05d %s\r\n" % (i, "x" * 66) for i in range(n))
sys.stdout.write("HELO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<alice@mx.test.example>\r\n"
    "DATA\r\nSubject: big\r\n\r\n" + body + ".\r\nQUIT\r\n")' "$1" "${2-first line}"
}

# killed_at N [LINES [TEXT]]: a delivery to alice whose child is killed as
# it enters its Nth write to the mbox; its lock and what it wrote stay.
killed_at() {
	needs_strace
	big_input "${2:-20}" "${3-first line}" >"$BATS_TEST_TMPDIR/big"
	run --separate-stderr strace -f -o /dev/null -P "$MAIL/alice" -e trace=write \
	    -e inject=write:signal=KILL:when="$1" \
	    timeout 10 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" <"$BATS_TEST_TMPDIR/big"
	codes_are 220 250 250 250 354 451 221
	[ -s "$MAIL/alice.lock" ]
}

# An MDA that locks with fcntl only: it appends a whole message.
PY_APPEND='
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
fcntl.lockf(fd, fcntl.LOCK_EX)
os.write(fd, sys.argv[2].encode())
os.fsync(fd)
fcntl.lockf(fd, fcntl.LOCK_UN)
'

@test "a message an fcntl-only writer appends after a delivery killed at its first write is kept" {
	killed_at 1
	[ ! -s "$MAIL/alice" ]
	python3 -S -c "$PY_APPEND" "$MAIL/alice" "$OTHER"
	dead_tail_kept
	grep -qx 'keep me' "$MAIL/alice"
	count_is 2 mbox_count "$MAIL/alice"
}

@test "a message an fcntl-only writer appends mid-line after a 160 KB delivery killed at its second write is kept" {
	killed_at 2 2100
	[ "$(stat -c %s "$MAIL/alice")" -eq 65536 ]
	[ -n "$(tail -c 1 "$MAIL/alice" | tr -d '\n')" ]	# it ends mid-line
	python3 -S -c "$PY_APPEND" "$MAIL/alice" "$OTHER"
	dead_tail_kept
	grep -q 'keep me' "$MAIL/alice"
}

@test "a 160 KB delivery killed at its second write has its own tail cut by the next one" {
	killed_at 2 2100
	[ "$(stat -c %s "$MAIL/alice")" -eq 65536 ]
	run --separate-stderr send_to alice -w 1
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	! grep -q 'line 00001' "$MAIL/alice"
	[ ! -e "$MAIL/alice.lock" ]
}

@test "a killed delivery's tail with a From inside a line is left alone, not cut" {
	killed_at 2 2100 "as said From the start"
	dead_tail_kept
	grep -q 'line 00001' "$MAIL/alice"
	# The next copy begins a message of its own after the partial one.
	count_is 2 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 2 header subject)" = test ]
}

# A writer that locks with fcntl only, started once a dead delivery's lock
# is there: it waits until the next smtpd has recovered and announced its
# own copy (a record of 6 or more fields with another pid), then tries the
# lock without waiting, and appends its message once it has it.
PY_PROBE='
import fcntl, os, subprocess, sys, time
mbox, inp, msg = sys.argv[1], sys.argv[2], sys.argv[3].encode()
dead = open(mbox + ".lock", "rb").read(128).split()[1]
p = subprocess.Popen(sys.argv[4:], stdin=open(inp, "rb"), stdout=subprocess.PIPE)
fd = os.open(mbox, os.O_WRONLY | os.O_APPEND)
def announced():
    try:
        w = open(mbox + ".lock", "rb").read(128).split()
    except OSError:
        return False
    return len(w) >= 6 and w[0] == b"smtpd" and w[1] != dead
end = time.monotonic() + 8
while not announced():
    if p.poll() is not None or time.monotonic() > end:
        sys.exit("smtpd never announced its copy")
    time.sleep(0.005)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("probe got the lock while smtpd wrote its copy", file=sys.stderr)
except OSError:
    print("probe locked out", file=sys.stderr)
    fcntl.lockf(fd, fcntl.LOCK_EX)
os.write(fd, msg)
fcntl.lockf(fd, fcntl.LOCK_UN)
sys.stdout.write(p.communicate()[0].decode())
'

@test "recovering a killed delivery's tail keeps the fcntl lock while the copy is written" {
	killed_at 2 2100
	session_input >"$BATS_TEST_TMPDIR/in"
	# The next delivery's writes to the mbox are slowed down, so that the
	# probe tries the lock while smtpd writes its copy.
	run --separate-stderr python3 -S -c "$PY_PROBE" "$MAIL/alice" "$BATS_TEST_TMPDIR/in" "$OTHER" \
	    strace -f -o /dev/null -P "$MAIL/alice" -e trace=write \
	    -e inject=write:delay_enter=1000000:when=1 \
	    timeout 10 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -w 5
	echo "$stderr"
	[ "$stderr" = "probe locked out" ]
	codes_are 220 250 250 250 354 250 221
	# The cut tail is gone, smtpd's copy whole, then the probe's message.
	count_is 2 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header subject)" = race ]
	grep -qx 'keep me' "$MAIL/alice"
}

@test "a delivery killed while it holds its dotlock does not block the mailbox" {
	command -v strace >/dev/null || skip "needs strace"
	strace -o /dev/null true 2>/dev/null || skip "ptrace not permitted"
	session_input >"$BATS_TEST_TMPDIR/in"
	# The delivery is killed at its second open of the lock (as when the
	# content goes into a lock first created empty) or else when it removes
	# the lock after writing the copy; either way its lock stays behind.
	run --separate-stderr strace -f -o /dev/null -P "$MAIL/alice.lock" \
	    -e inject=open,openat:signal=KILL:when=2 \
	    -e inject=unlink,unlinkat:signal=KILL:when=1 \
	    timeout 10 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -w 1 <"$BATS_TEST_TMPDIR/in"
	codes_are 220 250 250 250 354 451 221
	[ -e "$MAIL/alice.lock" ]
	[ -s "$MAIL/alice.lock" ]
	run --separate-stderr send_to alice -w 1
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	[ ! -e "$MAIL/alice.lock" ]
}

# shared_dir: $MAIL as FreeBSD's /var/mail, world-writable and sticky.
shared_dir() {
	needs_root
	chmod 1777 "$MAIL"
}

@test "in a sticky world-writable mail directory a mailbox another user made gets no mail" {
	shared_dir
	for u in carol postmaster; do
		install -m 0666 -o 4242 /dev/null "$MAIL/$u"
		run --separate-stderr send_to "$u" -w 1
		smtp_ok 220 250 250 250 354 451 221
		esc_is 6 4.*
		[ ! -s "$MAIL/$u" ]
	done
}

@test "in a sticky world-writable mail directory smtpd's own mailboxes get mail" {
	shared_dir
	run --separate-stderr send_to alice -w 1
	codes_are 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	run --separate-stderr send_to postmaster -w 1
	smtp_ok 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/postmaster"
}

@test "a lock another user left in a sticky mail directory is a logged temporary failure" {
	shared_dir
	needs_log
	install -m 0600 -o 4242 /dev/null "$MAIL/alice.lock"
	touch -d '1 hour ago' "$MAIL/alice.lock"
	run -0 --separate-stderr smtp_logged -w 1 -- "HELO c" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "Subject: x" "" x . QUIT
	smtp_ok 220 250 250 250 354 451 221
	esc_is 6 4.*
	log_has 'alice\.lock: lock held by uid 4242, cannot remove'
	[ ! -s "$MAIL/alice" ]
}

@test "a world-writable mail directory without the sticky bit gets no mail" {
	chmod 0777 "$MAIL"
	run --separate-stderr send_to alice -w 1
	smtp_ok 220 250 250 250 354 451 221
	[ ! -s "$MAIL/alice" ]
}

@test "a world-writable mailbox gets no mail" {
	chmod 0666 "$MAIL/alice"
	run --separate-stderr send_to alice -w 1
	smtp_ok 220 250 250 250 354 451 221
	[ ! -s "$MAIL/alice" ]
}
