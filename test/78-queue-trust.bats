load helper

# The queue trusts only itself: a queue directory and entries that belong
# to the user smtpd runs as and that nobody else can write.  Anything else
# in a shared mail directory may be a forgery planted by another user.

MSG=("Subject: queued" "" "hello")

# runq OPTIONS: one queue run (or -p listing) over $MAIL.
runq() {
	timeout 20 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" "$@"
}

# forge DIR NAME: a well-formed entry in DIR for alice, due now, from a
# sender nobody sent.
forge() {
	printf 'smtpd-queue 1\nsender forged@evil.example\narrival %s\n' "$(date +%s)" >"$1/$2"
	printf 'attempts 1\nnext 0\nhas-from 0\nerror x\n' >>"$1/$2"
	printf 'local alice\talice@%s\n\nSubject: forged\n\nhi\n' "$HOST" >>"$1/$2"
}

# A queue directory of the smtpd user: mode MODE, with a forged entry.
own_queue() {
	mkdir "$MAIL/.queue"
	forge "$MAIL/.queue" forged
	give_to_smtpd "$MAIL/.queue"
	chmod "$1" "$MAIL/.queue"
}

# watched PATHS -- COMMAND...: runs the command and prints "opened" if
# any of the comma-separated PATHS was opened meanwhile, else "untouched".
watched() {
	python3 -S -c '
import ctypes, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
for p in sys.argv[1].split(","):
    if libc.inotify_add_watch(fd, p.encode(), 0x20) < 0:	# IN_OPEN
        sys.exit("inotify_add_watch " + p)
rc = subprocess.call(sys.argv[3:], stdout=subprocess.DEVNULL)
try:
    print("opened" if os.read(fd, 65536) else "untouched")
except BlockingIOError:
    print("untouched")
sys.exit(rc)
' "$@"
}

@test "a group-writable queue directory is refused by -q and -p" {
	own_queue 0770
	run -1 --separate-stderr runq -q -F
	smtp_ok
	count_is 0 mbox_count "$MAIL/alice"
	[ -e "$MAIL/.queue/forged" ]
	run -1 --separate-stderr runq -p
	[ -z "$output" ]
	smtp_ok
}

@test "a world-writable queue directory of another user is refused and its entry never delivered" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	mkdir -m 0777 "$MAIL/.queue"
	forge "$MAIL/.queue" forged
	chmod 0666 "$MAIL/.queue/forged"
	chown -R daemon "$MAIL/.queue"
	run -1 --separate-stderr runq -q -F
	count_is 0 mbox_count "$MAIL/alice"
	[ -e "$MAIL/.queue/forged" ]
}

@test "a queue directory of another user is refused even when only its owner can write it" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	own_queue 0755
	chmod 0666 "$MAIL/.queue/forged"
	chown -R daemon "$MAIL/.queue"
	run -1 --separate-stderr runq -q -F
	count_is 0 mbox_count "$MAIL/alice"
	run -1 --separate-stderr runq -p
	[ -z "$output" ]
}

@test "a symlinked queue directory is refused by -q and -p" {
	mkdir "$MAIL/elsewhere"
	forge "$MAIL/elsewhere" forged
	give_to_smtpd "$MAIL/elsewhere"
	chmod 0700 "$MAIL/elsewhere"
	ln -s elsewhere "$MAIL/.queue"
	run -1 --separate-stderr runq -p
	[ -z "$output" ]
	run -1 --separate-stderr runq -q -F
	count_is 0 mbox_count "$MAIL/alice"
	[ -e "$MAIL/elsewhere/forged" ]
}

@test "root's smtpd -p refuses a symlinked queue directory" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	mkdir -m 0700 "$MAIL/elsewhere"
	forge "$MAIL/elsewhere" forged
	ln -s elsewhere "$MAIL/.queue"
	run -1 --separate-stderr timeout 20 "$SMTPD" -d "$MAIL" -p
	[ -z "$output" ]
}

@test "a session does not queue into a queue directory others can write: 451" {
	own_queue 0777
	rm "$MAIL/.queue/forged"
	chmod 0555 "$MAIL/bob/tmp"
	run -0 --separate-stderr smtp -- "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@$HOST>" "RCPT TO:<bob@$HOST>" DATA "${MSG[@]}" . QUIT
	codes_are 220 250 250 250 250 354 451 221
	esc_is 7 4.3.0
	[ -z "$(ls -A "$MAIL/.queue")" ]
}

@test "an entry that others can write is skipped; the rest of the queue runs" {
	own_queue 0700
	forge "$MAIL/.queue" writable
	give_to_smtpd "$MAIL/.queue/writable"
	chmod 0666 "$MAIL/.queue/writable"
	run -0 --separate-stderr runq -q -F
	count_is 1 mbox_count "$MAIL/alice"
	[ ! -e "$MAIL/.queue/forged" ]
	[ -e "$MAIL/.queue/writable" ]
	run -0 --separate-stderr runq -p
	[ "$output" = "writable  (unreadable entry)" ]
}

@test "an entry of another user is skipped" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	own_queue 0700
	chown daemon "$MAIL/.queue/forged"
	chmod 0644 "$MAIL/.queue/forged"
	run -0 --separate-stderr runq -p
	[ "$output" = "forged  (unreadable entry)" ]
	run -0 --separate-stderr runq -q -F
	count_is 0 mbox_count "$MAIL/alice"
	[ -e "$MAIL/.queue/forged" ]
}

@test "a FIFO entry is skipped by -q and -p without being opened" {
	own_queue 0700
	rm "$MAIL/.queue/forged"
	mkfifo "$MAIL/.queue/fifo"
	give_to_smtpd "$MAIL/.queue/fifo"
	chmod 0600 "$MAIL/.queue/fifo"
	run -0 --separate-stderr watched "$MAIL/.queue/fifo" -- timeout 20 \
	    "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -q -F
	[ "$output" = untouched ]
	run -0 --separate-stderr watched "$MAIL/.queue/fifo" -- timeout 20 \
	    "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -p
	[ "$output" = untouched ]
	[ -p "$MAIL/.queue/fifo" ]
}

@test "root's smtpd -p opens no FIFO or device node in the queue" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	own_queue 0700
	mkfifo -m 0600 "$MAIL/.queue/fifo"
	mknod -m 0600 "$MAIL/.queue/null" c 1 3
	give_to_smtpd "$MAIL/.queue"
	run -0 --separate-stderr watched "$MAIL/.queue/fifo,$MAIL/.queue/null" -- \
	    timeout 20 "$SMTPD" -d "$MAIL" -p
	[ "$output" = untouched ]
	run -0 --separate-stderr timeout 20 "$SMTPD" -d "$MAIL" -p
	[[ ${lines[0]} == "fifo  (unreadable entry)" ]]
	[[ ${lines[1]} == "forged "*"<forged@evil.example>" ]]
	[[ ${lines[4]} == "null  (unreadable entry)" ]]
}
