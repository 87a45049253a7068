# Helpers for the smtpd bats suite; every .bats file starts with `load helper`.
bats_require_minimum_version 1.5.0

SMTPD=${SMTPD:-$BATS_TEST_DIRNAME/../smtpd}
HOST=mx.test.example

# Started as root, smtpd needs -u: the suite then runs it as nobody, who
# owns the mail directory, so permission tests mean what they say.
if [ "$EUID" = 0 ]; then
	SMTPD_USER=${SMTPD_USER:-nobody}
fi
# The options every test session starts with: "${SMTPD_UOPT[@]}".
SMTPD_UOPT=()
[ -z "${SMTPD_USER-}" ] || SMTPD_UOPT=(-u "$SMTPD_USER")

# bash's own mkdir, mktemp, rm, ln, mkfifo and seq, where installed.
. "$BATS_TEST_DIRNAME/loadables.bash"

# bats runs a DEBUG trap before every command of a test, to name the line
# of a failure; it costs 0.2 ms a command, 20 ms for one parse of a
# session's replies.  A helper that loops is defined as "NAME() { untraced
# _NAME "$@"; }": the loop runs without the trap, the status is passed on,
# and a failure inside it is reported at the line that called it.  (bats
# 1.8's trap; it is set again only where bats set it.)
untraced() {
	local rc=0
	trap - DEBUG
	"$@" || rc=$?
	if declare -F bats_debug_trap >/dev/null; then
		trap 'bats_debug_trap "$BASH_SOURCE"' DEBUG
	fi
	return "$rc"
}

# The suite runs under umask 022, whatever its caller's: the modes it
# checks are the ones it made.  setup_file (bats runs it in the process
# that starts each test, so the umask holds when bats makes a test's
# directory) also makes the run's directories searchable for the user
# smtpd runs as, once per file: give_to_smtpd need not, for paths in a
# test's own directory.  A file with a setup_file of its own calls this one.
umask 022
setup_file() {
	local d=$BATS_RUN_TMPDIR dirs=()
	umask 022
	[ -n "${SMTPD_USER-}" ] || return 0
	mkdir -p "$d/test"
	dirs=("$d/test")
	while [ -n "$d" ]; do
		dirs+=("$d")
		d=${d%/*}
	done
	chmod o+x "${dirs[@]}"
	export SMTPD_REACHABLE=$BATS_RUN_TMPDIR
}

# give_to_smtpd PATH...: make paths belong to the user smtpd runs as, and
# their parent directories searchable by it.
give_to_smtpd() {
	untraced _give_to_smtpd "$@"
}

_give_to_smtpd() {
	local p d dirs=()
	[ -n "${SMTPD_USER-}" ] || return 0
	chown -R "$SMTPD_USER" "$@" || return 1
	for p in "$@"; do
		# The parents, as dirname would name them, without a process
		# each; those setup_file made searchable are left out.
		d=$p
		while [[ $d == */* ]]; do
			d=${d%/*}
			if [ "${SMTPD_REACHABLE-}" = "$BATS_RUN_TMPDIR" ] &&
			    [ "$d" = "$BATS_TEST_TMPDIR" ]; then
				break
			fi
			[ -z "$d" ] || dirs+=("$d")
		done
	done
	[ "${#dirs[@]}" = 0 ] || chmod o+x "${dirs[@]}"
}

# mkmbox NAME / mkmaildir NAME: one more mailbox in $MAIL.
mkmbox() {
	umask 077
	: >"$MAIL/$1"
	umask 022
	give_to_smtpd "$MAIL/$1"
}

mkmaildir() {
	mkdir -p "$MAIL/$1/tmp" "$MAIL/$1/new" "$MAIL/$1/cur"
	give_to_smtpd "$MAIL/$1"
}

# A fresh mail directory: mbox user alice, Maildir user bob.
smtp_setup() {
	unset TCPREMOTEIP REMOTE_ADDR
	MAIL=$BATS_TEST_TMPDIR/mail
	mkdir -p "$MAIL/bob/tmp" "$MAIL/bob/new" "$MAIL/bob/cur"
	umask 077
	: >"$MAIL/alice"
	umask 022
	give_to_smtpd "$MAIL"
}

setup() {
	smtp_setup
}

# split_opts WORDS...: OPTS gets the words before "--", ARGS those after.
# The prologue of every "NAME OPTIONS -- LINES..." helper is this one call,
# then "${OPTS[@]}" and "${ARGS[@]}" (expanded before the next helper
# splits again).
split_opts() {
	untraced _split_opts "$@"
}

_split_opts() {
	OPTS=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		OPTS+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	ARGS=("$@")
}

# lines LINE...: the lines with CRLF, as a client sends them; nothing for
# no lines.
lines() {
	[ $# -eq 0 ] || printf '%s\r\n' "$@"
}

# smtp OPTIONS -- LINES...: one session, the lines sent at once with CRLF.
# The input is a file, not a pipe: one process less per session.
smtp() {
	split_opts "$@"
	lines "${ARGS[@]}" >"$BATS_FILE_TMPDIR/in.$BASHPID"
	smtp_raw "${OPTS[@]}" <"$BATS_FILE_TMPDIR/in.$BASHPID"
}

# smtp_raw OPTIONS: one session fed the raw bytes of stdin.
smtp_raw() {
	timeout 10 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" "$@"
}

# smtp_bytes OPTIONS -- STRING: one session fed printf '%b' STRING, so
# \r, \n and \xNN are exact and nothing is added.
smtp_bytes() {
	split_opts "$@"
	printf '%b' "${ARGS[*]}" >"$BATS_FILE_TMPDIR/in.$BASHPID"
	smtp_raw "${OPTS[@]}" <"$BATS_FILE_TMPDIR/in.$BASHPID"
}

# send_to USER [OPTIONS] [-- BODY...]: a session that sends one message
# from a@b.example to USER@$HOST, or to USER as it is if it has an @ (the
# body "Subject: test", "", "hello" unless given), then QUIT.  Replies:
# 220 250 250 250 354 250 221.
send_to() {
	local to=$1
	shift
	[[ $to == *@* ]] || to=$to@$HOST
	split_opts "$@"
	[ ${#ARGS[@]} -gt 0 ] || ARGS=("Subject: test" "" "hello")
	smtp "${OPTS[@]}" -- "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<$to>" DATA "${ARGS[@]}" . QUIT
}

# pad N: N letters x.
pad() {
	local s
	printf -v s '%*s' "$1" ''
	printf '%s' "${s// /x}"
}

# Splits $output into replies.  REPLY_CODES, REPLY_ESCS and REPLY_LINES get
# the code, the enhanced code ("-" if none) and the text of the last line of
# each reply; a line that is not a reply line counts as a reply "???".
parse_replies() {
	untraced _parse_replies "$@"
}

_parse_replies() {
	local line code rest esc
	# Parsed already (codes_are, then esc_is on the same output)?
	[ "${REPLIES_OF-}" = "$output" ] && [ -n "${REPLY_CODES+set}" ] && return 0
	REPLIES_OF=$output
	REPLY_CODES=()
	REPLY_ESCS=()
	REPLY_LINES=()
	while IFS= read -r line; do
		line=${line%$'\r'}
		[ -z "$line" ] && continue
		if [[ $line =~ ^[2-5][0-9][0-9]- ]]; then
			continue
		fi
		if [[ $line =~ ^([2-5][0-9][0-9])( (.*))?$ ]]; then
			code=${BASH_REMATCH[1]}
			rest=${BASH_REMATCH[3]}
			esc=-
			if [[ $rest =~ ^([245]\.[0-9]{1,3}\.[0-9]{1,3})( |$) ]]; then
				esc=${BASH_REMATCH[1]}
			fi
		else
			code='???'
			esc='???'
		fi
		REPLY_CODES+=("$code")
		REPLY_ESCS+=("$esc")
		REPLY_LINES+=("$line")
	done <<<"$output"
}

show_output() {
	printf 'output:\n%s\n' "${output//$'\r'/}" >&2
}

# codes_are CODE...: the replies in $output have exactly these codes.
codes_are() {
	parse_replies
	all_are codes "${REPLY_CODES[*]}" "$@"
}

# all_are WHAT GOT WANT...: GOT (the codes or enhanced codes of all
# replies, joined by spaces) is WANT.
all_are() {
	local what=$1 got=$2
	shift 2
	if [ "$got" != "$*" ]; then
		printf 'expected %s: %s\n     got %s: %s\n' "$what" "$*" "$what" "$got" >&2
		show_output
		return 1
	fi
}

# smtp_ok [CODE...]: the session run last wrote nothing to stderr and its
# replies have exactly these codes (with no CODE, only stderr is checked).
smtp_ok() {
	if [ -n "${stderr-}" ]; then
		printf 'stderr:\n%s\n' "$stderr" >&2
		return 1
	fi
	[ $# -eq 0 ] || codes_are "$@"
}

# escs_are ESC...: the enhanced codes of all replies ("-" for none).
escs_are() {
	parse_replies
	all_are 'enhanced codes' "${REPLY_ESCS[*]}" "$@"
}

# esc_is N ESC: reply N (1 is the greeting) has enhanced code ESC; a pattern
# such as "4.*" is allowed.
esc_is() {
	parse_replies
	nth_is 'enhanced code' "$1" "$2" "${REPLY_ESCS[$(($1 - 1))]-none}"
}

# code_is N CODE: reply N has code CODE (a pattern such as "45?" is allowed).
code_is() {
	parse_replies
	nth_is code "$1" "$2" "${REPLY_CODES[$(($1 - 1))]-none}"
}

# nth_is WHAT N PATTERN GOT: GOT, the WHAT of reply N, matches PATTERN.
nth_is() {
	# shellcheck disable=SC2053
	if [[ $4 != $3 ]]; then
		printf 'reply %s: expected %s %s, got %s\n' "$2" "$1" "$3" "$4" >&2
		show_output
		return 1
	fi
}

# ehlo_keywords: the extension lines of the first 250 multi-line reply,
# keyword and arguments, one per line.
ehlo_keywords() {
	untraced _ehlo_keywords "$@"
}

_ehlo_keywords() {
	local line first=1
	while IFS= read -r line; do
		line=${line%$'\r'}
		case $line in
		250-*|'250 '*)
			if [ "$first" = 1 ]; then
				first=0
				[ "${line:3:1}" = ' ' ] && return 0
				continue
			fi
			printf '%s\n' "${line:4}"
			[ "${line:3:1}" = ' ' ] && return 0
			;;
		esac
	done <<<"$output"
}

# Mailboxes are read back with Python's mailbox module, a real reader:
# test/fixtures/mailread.py.
MAILREAD=$BATS_TEST_DIRNAME/fixtures/mailread.py

# mbox_count FILE / maildir_count DIR: the number of messages, counted as
# readers count them without Python's 0.1 s of imports per call: in an
# mbox, the lines that begin "From "; in a Maildir, the files in new/ and
# cur/ whose names do not begin with a dot.
mbox_count() {
	[ -f "$1" ] || { echo "mbox_count: no mbox $1" >&2; return 1; }
	grep -ac '^From ' -- "$1" || [ $? = 1 ]
}

maildir_count() {
	untraced _maildir_count "$@"
}

_maildir_count() {
	local n=0 f
	[ -d "$1/new" ] && [ -d "$1/cur" ] ||
	    { echo "maildir_count: no Maildir $1" >&2; return 1; }
	for f in "$1"/new/[!.]* "$1"/cur/[!.]*; do
		[ -f "$f" ] && n=$((n + 1))
	done
	echo "$n"
}

# mbox_msg FILE N PART [HEADER] / maildir_msg DIR N PART [HEADER]: print part
# of message N (file order for mbox, name order for Maildir).  PART is raw,
# headers, body, names (header names in order), header NAME (every value,
# unfolded, one per line) or, for mbox, from (the From_ line after "From ").
mbox_msg() {
	untraced mailbox_read mbox "$@"
}

maildir_msg() {
	untraced mailbox_read maildir "$@"
}

# mailbox_read ARGS...: mailread.py ARGS.  Python and its imports cost
# 60 ms a start, most of a test that reads mail, so one reader serves the
# reads of a whole file (mailread.py --serve, started by the first read,
# gone after 10 s without one); each read still opens the mailbox afresh.
# Should the server not answer, the read is done by a python3 of its own.
mailbox_read() {
	local d=$BATS_FILE_TMPDIR/mailread id=$BASHPID pid= rc= fd q req
	if ! { read -r pid <"$d/pid" && kill -0 "$pid"; } 2>/dev/null; then
		mkdir -p "$d"
		[ -p "$d/req" ] || mkfifo "$d/req"
		# From a subshell, so that no wait of the test waits for it;
		# it closes the rest of bats' descriptors itself.
		(python3 -S "$MAILREAD" --serve "$d" </dev/null >/dev/null 2>&1 &
		echo "$!" >"$d/pid")
	fi
	rm -f "$d/$id" "$d/$id.out" "$d/$id.err"
	mkfifo "$d/$id"
	exec {fd}<>"$d/$id"
	printf -v req '%s\t' "$id" "$@"
	# A FIFO keeps what is written only while it is open: until the
	# answer, even if the server has yet to open it.
	exec {q}<>"$d/req"
	echo "${req%$'\t'}" >&"$q"
	read -r -t 10 -u "$fd" rc
	exec {fd}<&- {q}>&-
	rm -f "$d/$id"
	if [ -n "$rc" ]; then
		cat "$d/$id.out"
		[ ! -f "$d/$id.err" ] || cat "$d/$id.err" >&2
		rm -f "$d/$id.out" "$d/$id.err"
		return "$rc"
	fi
	python3 -S "$MAILREAD" "$@"
}

# count_is WANT GOT-COMMAND...: compare a count, printing both.
count_is() {
	local want=$1 got
	shift
	got=$("$@") || return 1
	if [ "$got" != "$want" ]; then
		printf '%s: expected %s, got %s\n' "$*" "$want" "$got" >&2
		return 1
	fi
}

# no_cr FILE: no CR anywhere in FILE.
no_cr() {
	if grep -q $'\r' "$1"; then
		printf '%s contains CR\n' "$1" >&2
		return 1
	fi
}

# agent_setup: a recording delivery agent at $AGENT; what it saw lands in
# $REC/PID.{argv,env,stdin}.  Write a status to $AGENT_DIR/exit, or touch
# $AGENT_DIR/hang to make it hang.
agent_setup() {
	AGENT_DIR=$BATS_TEST_TMPDIR/agent
	mkdir -p "$AGENT_DIR/bin" "$AGENT_DIR/rec"
	cp "$BATS_TEST_DIRNAME/fixtures/recorder" "$AGENT_DIR/bin/rec"
	AGENT=$AGENT_DIR/bin/rec
	REC=$AGENT_DIR/rec
	give_to_smtpd "$AGENT_DIR"
}

# run_argv_is ARG...: the single recorded agent run had exactly this argv.
run_argv_is() {
	local f want got
	f=$(ls "$REC"/*.argv)
	[ "$(printf '%s\n' "$f" | wc -l)" = 1 ] || { echo "runs: $f" >&2; return 1; }
	want=$(printf '%s\n' "$@")
	got=$(cat "$f")
	if [ "$want" != "$got" ]; then
		printf 'expected argv:\n%s\ngot argv:\n%s\n' "$want" "$got" >&2
		return 1
	fi
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	python3 -S -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# hostile_setup: the hostile-input tests (75) need /usr/bin/time, which
# measures the peak RSS of a session; it must stay under RSS_LIMIT_KB
# unless SMTPD_NO_RSS is set (sanitizers, valgrind).
RSS_LIMIT_KB=4096

hostile_setup() {
	[ -x /usr/bin/time ] || skip "needs /usr/bin/time (package time)"
}

# hostile KIND OPTIONS: feed input KIND (fixtures/mailtest.py) to a session;
# $output is then "exit=... stderr=... rss=... codes=...".
hostile() {
	local kind=$1
	shift
	run -0 --separate-stderr timeout 200 python3 -S "$BATS_TEST_DIRNAME/fixtures/mailtest.py" \
	    hostile "$kind" -- "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" "$@"
	echo "$output"
	smtp_ok
	[[ $output =~ ^exit=0\ stderr=0\ rss=([0-9]+)\  ]]
	if [ -z "${SMTPD_NO_RSS-}" ] && [ "${BASH_REMATCH[1]}" -gt "$RSS_LIMIT_KB" ]; then
		echo "peak RSS ${BASH_REMATCH[1]} KiB over $RSS_LIMIT_KB KiB" >&2
		return 1
	fi
}

# A program run as another user (setpriv, inetd's user field, a unit's
# User=) may not reach the checkout: a clone in root's home or in a
# mktemp -d directory is 0700, and so are bats' own directories.
# reachable_copy FILE: print the path of a copy of FILE, with its mode, in
# $BATS_TEST_TMPDIR/reach, a 0755 directory whose parents every user can
# search; bats removes it with the test.
reachable_copy() {
	local dir=$BATS_TEST_TMPDIR/reach d
	mkdir -p "$dir"
	chmod 0755 "$dir"
	d=${dir%/*}
	while [ -n "$d" ]; do
		chmod o+x "$d"
		d=${d%/*}
	done
	cp -p "$1" "$dir/" && chmod a+r "$dir/${1##*/}" || return 1
	printf '%s\n' "$dir/${1##*/}"
}

# smtpd_for USER: SMTPD becomes a copy of the binary that USER can run,
# wherever the checkout is.  A wrapper script (test/valgrind) that USER
# cannot reach is not copied: the test is skipped.
smtpd_for() {
	local g
	g=$(id -g "$1") || return 1
	if [ "$(head -c 2 "$SMTPD")" = '#!' ]; then
		setpriv --reuid="$1" --regid="$g" --clear-groups test -x "$SMTPD" ||
		    skip "$1 cannot run $SMTPD, a script in a directory it cannot reach"
		return 0
	fi
	SMTPD=$(reachable_copy "$SMTPD")
}
