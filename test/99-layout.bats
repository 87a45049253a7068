#!/usr/bin/env bats
# The layout of the source: calls flow one way, as smtpd.h's picture says.

load helper

# objects: every object of the Makefile's OBJ line in the test's
# directory: the ones make built (for make check) when each is newer than
# its source and the headers, else compiled afresh.
objects() {
	local top=$BATS_TEST_DIRNAME/.. o h objs=() fresh=1
	read -r -a objs < <(sed -n 's/^OBJ[	 ]*=//p' "$top/Makefile")
	for o in "${objs[@]}"; do
		for h in "$top/${o%.o}.c" "$top"/*.h; do
			[ "$top/$o" -nt "$h" ] || fresh=0
		done
	done
	if [ "$fresh" = 1 ]; then
		ln -s "${objs[@]/#/$top/}" "$BATS_TEST_TMPDIR/"
		return
	fi
	for o in "${objs[@]}"; do
		${CC:-cc} -std=c99 -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE \
			-c -o "$BATS_TEST_TMPDIR/$o" "$top/${o%.o}.c" || return 1
	done
}

@test "the call graph has no cycle and matches the picture in smtpd.h" {
	objects
	run -0 --separate-stderr sh "$BATS_TEST_DIRNAME/callgraph.sh" \
		"$BATS_TEST_TMPDIR"
	[ -z "$stderr" ]
	# smtpd.c is called by nobody; log.c and conf.c call nobody.
	! grep -E '^[a-z]+:.* smtpd( |$)' <<<"$output"
	grep -qx 'log:' <<<"$output"
	grep -qx 'conf:' <<<"$output"
	grep -qx 'io: conf log' <<<"$output"
}

@test "no source file is over 800 lines and no function over 60" {
	local top=$BATS_TEST_DIRNAME/.. f
	for f in "$top"/*.c "$top"/*.h; do
		[ "$(wc -l <"$f")" -le 800 ] || { echo "$f is long"; false; }
	done
	# A function: from its name at the start of a line to the next "}".
	run -0 awk '/^[a-z_][a-z_0-9]*\(/ { name = FILENAME ": " $0; start = FNR }
		/^}/ && start { if (FNR - start + 1 > 60) print name; start = 0 }' \
		"$top"/*.c
	[ -z "$output" ]
}
