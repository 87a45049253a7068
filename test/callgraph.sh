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

# One nm for all objects: "DIR/X.o:VALUE TYPE NAME", or "DIR/X.o: U NAME"
# for a symbol X.o leaves undefined.  The edges X Y, then the graph: one
# line per object in name order, its callees sorted.
nm -A -g "$dir"/*.o | awk '
{
	f = $1; sub(/:.*/, "", f); sub(/.*\//, "", f); sub(/\.o$/, "", f)
	if ($(NF - 1) == "U")
		undef[f, $NF] = 1
	else if ($(NF - 1) !~ /^[wv]$/)
		def[$NF] = f
}
END {
	for (k in undef) {
		split(k, p, SUBSEP)
		if ((p[2] in def) && def[p[2]] != p[1])
			print p[1], def[p[2]]
	}
}' | sort -u >"$tmp.edges"
for o in "$dir"/*.o; do
	f=${o##*/}
	echo "${f%.o}"
done | awk 'NR == FNR { callees[$1] = callees[$1] " " $2; next }
	{ print $1 ":" callees[$1] }' "$tmp.edges" - | tee "$tmp.graph"

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
    sed -n 's/^ \*[	 ]*\([a-z]*\)\.c[	 ]*->\(.*\)$/\1 \2/p' |
    awk '{
	n = 0
	for (i = 2; i <= NF; i++)
		if ($i != "-")
			c[++n] = $i
	for (i = 2; i <= n; i++)	# insertion sort: a handful of names
		for (j = i; j > 1 && c[j - 1] > c[j]; j--) {
			t = c[j]; c[j] = c[j - 1]; c[j - 1] = t
		}
	line = $1 ":"
	for (i = 1; i <= n; i++)
		line = line " " c[i]
	print line
}' | sort >"$tmp.picture"
sed 's/ conf\b//g' "$tmp.graph" | grep -v '^conf:' | sort >"$tmp.actual"
if ! diff -u "$tmp.picture" "$tmp.actual" >&2; then
	echo "callgraph: smtpd.h's picture differs from the objects (+)" >&2
	fail=1
fi
exit $fail
