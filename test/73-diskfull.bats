load helper

# A full disk, as RLIMIT_FSIZE (prlimit): no 250 for a copy that was not
# stored, the mbox byte-identical and readable, and SIGXFSZ does not kill
# smtpd.

# body N: a message of N bytes of 100-octet lines, for smtp's arguments.
body() {
	untraced _body "$@"
}

_body() {
	local i line
	printf -v line '%099d' 0
	BODY=("Subject: big" "")
	for ((i = 0; i < $1 / 101; i++)); do
		BODY+=("$line")
	done
}

# limited BYTES OPTIONS -- LINES...: smtp under a file size limit.
limited() {
	local lim=$1
	shift
	split_opts "$@"
	lines "${ARGS[@]}" | timeout 10 prlimit --fsize="$lim" \
	    "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" "${OPTS[@]}"
}

setup() {
	smtp_setup
	command -v prlimit >/dev/null || skip "needs prlimit (util-linux)"
}

@test "an mbox append over the file size limit gets 451 and leaves the mbox byte-identical" {
	body 20000
	run -0 --separate-stderr smtp -- "HELO c" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "${BODY[@]}" . \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" DATA "${BODY[@]}" . QUIT
	cp "$MAIL/alice" "$BATS_TEST_TMPDIR/before"
	size=$(stat -c %s "$MAIL/alice")
	body 30000
	run -0 --separate-stderr limited $((size + 10000)) -- "HELO c" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA "${BODY[@]}" . QUIT
	smtp_ok 220 250 250 250 354 451 221
	esc_is 6 4.3.0
	cmp "$MAIL/alice" "$BATS_TEST_TMPDIR/before"
	count_is 2 mbox_count "$MAIL/alice"
	[ ! -e "$MAIL/alice.lock" ]
}

@test "a spool over the file size limit gets 452 4.3.1, stores nothing, and the next message goes through" {
	body 30000
	run -0 --separate-stderr limited 8192 -- "HELO c" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" "RCPT TO:<bob@mx.test.example>" DATA "${BODY[@]}" . \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<alice@mx.test.example>" DATA "Subject: small" "" x . QUIT
	smtp_ok 220 250 250 250 250 354 452 250 250 354 250 221
	esc_is 7 4.3.1
	count_is 1 mbox_count "$MAIL/alice"
	[ "$(mbox_msg "$MAIL/alice" 1 header Subject)" = small ]
	count_is 0 maildir_count "$MAIL/bob"
	[ -z "$(ls -A "$MAIL/bob/tmp")" ]
}

@test "a Maildir copy over the file size limit gets 451 and leaves new/ and tmp/ as they were" {
	body 30000
	msg=("HELO c" "MAIL FROM:<a@b.example>" "RCPT TO:<bob@mx.test.example>" DATA "${BODY[@]}" . QUIT)
	run -0 --separate-stderr smtp -- "${msg[@]}"
	codes_are 220 250 250 250 354 250 221
	stored=$(stat -c %s "$MAIL"/bob/new/*)
	envelope=$(printf 'Return-Path: <a@b.example>\nDelivered-To: bob@%s\n' "$HOST" | wc -c)
	# The spool fits under the limit; the copy, with its envelope headers, does not.
	run -0 --separate-stderr limited $((stored - envelope + 8)) -- "${msg[@]}"
	smtp_ok 220 250 250 250 354 451 221
	count_is 1 maildir_count "$MAIL/bob"
	[ -z "$(ls -A "$MAIL/bob/tmp")" ]
}
