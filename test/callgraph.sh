#!/bin/sh
# The call graph of smtpd from its object files: for each X.o, the files
# whose defined symbols X.o leaves undefined.  Prints "caller: callees"
# lines and fails when the graph has a cycle, when smtpd.o defines more
# than main, when a leaf (log.o, conf.o) or io.o calls above itself, or
# when the graph differs from the picture at the top of smtpd.h.
# Usage: test/callgraph.sh [DIR]  (DIR holds the .o files; default .)
dir=${1:-.}
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=${TMPDIR:-/tmp}/callgraph.$$
trap 'rm -f "$tmp".*' EXIT
fail=0

for o in "$dir"/*.o; do
	nm --defined-only -g "$o" | awk -v f="$(basename "$o" .o)" \
	    '{ print $3, f }'
done | sort >"$tmp.defs"

for o in "$dir"/*.o; do
	f=$(basename "$o" .o)
	nm -u "$o" | awk '{ print $NF }' | sort -u |
	    join - "$tmp.defs" | awk -v f="$f" '$2 != f { print f, $2 }'
done | sort -u >"$tmp.edges"

for o in "$dir"/*.o; do
	f=$(basename "$o" .o)
	printf '%s:%s\n' "$f" "$(awk -v f="$f" '$1 == f { printf " %s", $2 }' \
	    "$tmp.edges")"
done | tee "$tmp.graph"

# tsort reports a loop on stderr; each pair also lists itself so that
# files without edges are still nodes.
if awk '{ print; print $1, $1; print $2, $2 }' "$tmp.edges" |
    tsort 2>&1 >/dev/null | grep -q .; then
	echo "callgraph: cycle" >&2
	fail=1
fi

defs=$(nm --defined-only -g "$dir/smtpd.o" | awk '$2 ~ /[TtDdBbRr]/ { print $3 }')
if [ "$defs" != main ]; then
	echo "callgraph: smtpd.o defines more than main:" $defs >&2
	fail=1
fi
for leaf in log conf; do
	if grep -q "^$leaf: ." "$tmp.graph"; then
		echo "callgraph: $leaf.o calls" \
		    "$(grep "^$leaf:" "$tmp.graph")" >&2
		fail=1
	fi
done
if grep '^io:' "$tmp.graph" | tr ' ' '\n' | grep -qv -e '^io:$' \
    -e '^log$' -e '^conf$'; then
	echo "callgraph: io.o calls above log.o and conf.o" >&2
	fail=1
fi

# The picture: " *	X.c	-> callees" lines, callees in any order; conf
# is read by all and left out, "-" means none.
sed -n '1,/\*\//p' "$src/smtpd.h" |
    sed -n 's/^ \*[	 ]*\([a-z]*\)\.c[	 ]*->\(.*\)$/\1:\2/p' |
    while IFS=: read -r f callees; do
	printf '%s:' "$f"
	for c in $(printf '%s\n' $callees | sort); do
		[ "$c" = - ] || printf ' %s' "$c"
	done
	echo
done | sort >"$tmp.picture"
sed 's/ conf\b//g' "$tmp.graph" | grep -v '^conf:' | sort >"$tmp.actual"
if ! diff -u "$tmp.picture" "$tmp.actual" >&2; then
	echo "callgraph: smtpd.h's picture differs from the objects (+)" >&2
	fail=1
fi
exit $fail
