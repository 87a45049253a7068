# Debian 12 containers for the tests in this directory (bash, as root).
#
# A debootstrap tree of bookworm is cached in $CACHE/bookworm and made again
# when it is missing; every test runs in a fresh copy of it, holding a clean
# clone of the checkout under /root/smtpd.  Packages come from the archive
# that the host's apt uses; the downloaded .debs are kept in $CACHE/archives.

CACHE=${SMTPD_CI_CACHE:-/var/cache/smtpd-ci}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
TREE=
NSPAWN_PID=
CPID=

log() {
	printf '%s: %s\n' "${0##*/}" "$*"
}

fail() {
	log "FAIL: $*"
	exit 1
}

# mirror: the Debian archive of the host's apt sources for bookworm.
mirror() {
	local m
	m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
	    awk '/^URIs:/ { u = $2 } /^Suites:.*bookworm( |$)/ && u != "" { print u; exit }')
	[ -n "$m" ] || m=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' \
	    /etc/apt/sources.list 2>/dev/null)
	printf '%s\n' "${m:-http://deb.debian.org/debian}"
}

# base_tree: the cached bookworm tree, made with debootstrap if missing.
base_tree() {
	if [ ! -f "$CACHE/bookworm/etc/debian_version" ]; then
		log "debootstrap bookworm from $(mirror) into $CACHE/bookworm"
		mkdir -p "$CACHE"
		rm -rf "$CACHE/bookworm.new"
		debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus \
		    bookworm "$CACHE/bookworm.new" "$(mirror)" >"$CACHE/debootstrap.log" 2>&1 ||
		    { tail -n 20 "$CACHE/debootstrap.log"; fail "debootstrap"; }
		mv "$CACHE/bookworm.new" "$CACHE/bookworm"
	fi
	mkdir -p "$CACHE/archives/partial"
}

# fresh_tree: TREE gets a new copy of the base tree with a clean clone of
# the checkout in /root/smtpd.  cleanup removes it.
fresh_tree() {
	base_tree
	TREE=$(mktemp -d "${TMPDIR:-/var/tmp}/smtpd-ct.XXXXXX")
	cp -a "$CACHE/bookworm/." "$TREE/"
	git clone -q --no-hardlinks "$SRC" "$TREE/root/smtpd" || fail "git clone"
	log "tree $TREE, clone of $(git -C "$TREE/root/smtpd" rev-parse --short HEAD)"
}

# in_tree CMD...: one command in the (not booted) tree, with the host's
# network, so apt-get reaches the archive.
in_tree() {
	systemd-nspawn -q -D "$TREE" --register=no --keep-unit \
	    --bind="$CACHE/archives:/var/cache/apt/archives" \
	    --setenv=DEBIAN_FRONTEND=noninteractive -E PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# apt_install PACKAGES...: installs packages in the tree (one at a time
# per cache: the trees share the downloaded packages).
apt_install() {
	exec 9>"$CACHE/apt.lock"
	flock 9
	in_tree sh -c 'apt-get -q update >/dev/null && apt-get -q install -y --no-install-recommends "$@"' \
	    sh "$@" >"$TREE/root/apt.log" 2>&1 ||
	    { tail -n 20 "$TREE/root/apt.log"; fail "apt-get install $*"; }
	exec 9>&-
}

# boot: boots the tree with systemd as PID 1 and a network of its own
# (loopback only); CPID is its PID 1, for nsenter.
boot() {
	local i
	systemd-nspawn -q -D "$TREE" --register=no --keep-unit -b \
	    --console=passive --private-network >"$TREE.console" 2>&1 &
	NSPAWN_PID=$!
	CPID=
	for i in $(seq 100); do
		# nspawn's first child may be a short-lived helper: PID 1 is the
		# child that runs systemd.
		for p in $(pgrep -P "$NSPAWN_PID"); do
			if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ]; then
				CPID=$p
				break
			fi
		done
		[ -n "$CPID" ] && break
		kill -0 "$NSPAWN_PID" 2>/dev/null || { cat "$TREE.console"; fail "nspawn exited"; }
		sleep 0.2
	done
	[ -n "$CPID" ] || fail "no PID 1 in the container"
	# systemctl needs systemd's private socket, made early in the boot.
	for i in $(seq 150); do
		cx test -S /run/systemd/private && break
		sleep 0.2
	done
	state=$(cx timeout 120 systemctl is-system-running --wait) || true
	log "booted (PID 1 is $CPID on the host): $state"
	[ "$state" = running ] || { cx systemctl --failed --no-pager; fail "system $state"; }
}

# cx CMD...: one command inside the booted container, as root.
cx() {
	nsenter -t "$CPID" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	    HOME=/root LANG=C.UTF-8 "$@"
}

cleanup() {
	local i
	if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		cx systemctl poweroff >/dev/null 2>&1 ||
		    kill "$NSPAWN_PID" 2>/dev/null || true
		for i in $(seq 150); do
			kill -0 "$NSPAWN_PID" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$NSPAWN_PID" 2>/dev/null || true
		wait "$NSPAWN_PID" 2>/dev/null || true
	fi
	if [ -n "$TREE" ]; then
		rm -rf "$TREE" "$TREE.console"
	fi
	return 0
}

[ "$(id -u)" = 0 ] || fail "needs root"
for c in debootstrap systemd-nspawn nsenter git; do
	command -v "$c" >/dev/null || fail "needs $c (apt-get install debootstrap systemd-container git)"
done
trap 'rc=$?; set +e; cleanup; exit $rc' EXIT
trap 'exit 1' INT TERM
