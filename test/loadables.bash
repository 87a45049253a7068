# Where Debian's bash-builtins is installed, bash's own mkdir, mktemp, rm,
# ln, mkfifo and seq stand in for the programs: a process less each time,
# about 10 ms here, and the suite starts thousands.  test/run names this
# file in BASH_ENV, so every bash of the run loads them (bats' own scripts
# make two directories and remove a file for each test); helper.bash
# loads it too, for bats run by hand.  The options the suite uses are
# theirs too (not so for id, head or stat, left out).
# Once per shell: BASH_ENV loads them before helper.bash asks again.
[ -z "${SMTPD_LOADABLES-}" ] || return 0
SMTPD_LOADABLES=1
for b in mkdir mktemp rm ln mkfifo seq; do
	[ ! -f "/usr/lib/bash/$b" ] || enable -f "/usr/lib/bash/$b" "$b" 2>/dev/null || true
done
unset b
# bats 1.8 reads the clock for every test as $(date +%s%N): bash's own
# clock gives the same digits without the process.
date() {
	if [ "$*" = +%s%N ] && [ -n "${EPOCHREALTIME-}" ]; then
		echo "${EPOCHREALTIME//[!0-9]/}000"
	else
		command date "$@"
	fi
}
