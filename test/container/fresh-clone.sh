#!/bin/bash
# The README's quick start on a fresh Debian 12 (booted, with a network of
# its own), as a newcomer would run it: a normal user with a clean clone of
# the checkout in their home, only the packages the README names, then
# `make demo` and the test command, `make check`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

fresh_tree
# Exactly the packages of the quick start's apt-get line in README.md.
pkgs=$(sed -n 's/^ *apt-get install -y //p' "$SRC/README.md" | head -n 1)
[ -n "$pkgs" ] || fail "no apt-get line in README.md"
# shellcheck disable=SC2086
apt_install $pkgs
in_tree useradd -m dev
mv "$TREE/root/smtpd" "$TREE/home/dev/smtpd"
in_tree chown -R dev: /home/dev/smtpd
# Booted, as a fresh machine is: systemd-analyze, for one, needs /run/systemd.
boot
as_dev() {
	cx runuser -u dev -- env HOME=/home/dev USER=dev LOGNAME=dev \
	    sh -c 'cd /home/dev/smtpd && exec "$@"' sh "$@"
}
log "make demo"
as_dev make demo >"$TREE/demo.log" 2>&1 || { cat "$TREE/demo.log"; fail "make demo"; }
tail -n 5 "$TREE/demo.log"
log "make check"
rc=0
as_dev make check >"$TREE/check.log" 2>&1 || rc=$?
grep -v '^ok ' "$TREE/check.log" || true
[ "$rc" = 0 ] || fail "make check in a fresh clone"
log "PASS: make demo and make check in a fresh Debian 12 clone"
