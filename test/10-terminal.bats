load helper
load launch

# SEND, SOML and SAML (RFC 821): alice is logged in on a pseudo-terminal
# that test/ptyhelper opens and records in a utmp file of the test's own.

PTYHELPER=$BATS_TEST_DIRNAME/ptyhelper

setup() {
	smtp_setup
	[ -x "$PTYHELPER" ] || skip "test/ptyhelper not built (make check builds it)"
	UTMP=$BATS_TEST_TMPDIR/utmp
	TTYOUT=$BATS_TEST_TMPDIR/tty.out
	TTYOUT2=$BATS_TEST_TMPDIR/tty2.out
	: >"$UTMP"	# 0644 under the suite's umask: every user reads it
	: >"$TTYOUT"
	# The terminal belongs to whoever owns the mailbox.
	OWNER=$(stat -c %u "$MAIL/alice")
	SMTPD_ARGS=()	# more smtpd options for on_tty
}

# on_tty HELPER-OPTIONS -- LINES...: one session, as smtp runs it, while
# alice is logged in; what reached her terminal is in $TTYOUT.
on_tty() {
	split_opts "$@"
	lines "${ARGS[@]}" | on_tty_raw "${OPTS[@]}"
}

# on_tty_raw HELPER-OPTIONS: the same, fed the raw bytes of stdin.
on_tty_raw() {
	timeout 10 "$PTYHELPER" -f "$UTMP" -n alice -c "$TTYOUT" -o "$OWNER" "$@" -- \
		"$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -U "$UTMP" "${SMTPD_ARGS[@]}"
}

# on_tty_bytes HELPER-OPTIONS -- STRING...: fed printf '%b' of each
# STRING, with nothing between or added.
on_tty_bytes() {
	split_opts "$@"
	printf '%b' "${ARGS[@]}" | on_tty_raw "${OPTS[@]}"
}

# tty_text [FILE]: what reached the terminal, without the CRs.
tty_text() {
	tr -d '\r' <"${1:-$TTYOUT}"
}

# tty_has STRING / tty_lacks STRING: a fixed string is / is not on it.
tty_has() {
	local t=
	# Without a process: a NUL would end the text early and fail the test.
	read -r -d '' t <"${2:-$TTYOUT}" || true
	if [[ ${t//$'\r'/} != *"$1"* ]]; then
		printf 'terminal lacks %q; it got:\n' "$1" >&2
		tty_text "${2-}" | od -c | head -40 >&2
		return 1
	fi
}

tty_lacks() {
	if grep -qF -- "$1" <(tty_text "${2-}"); then
		printf 'terminal got %q:\n' "$1" >&2
		tty_text "${2-}" >&2
		return 1
	fi
}

# no_byte HEX: the terminal never saw that raw byte.
no_byte() {
	if [ "$(LC_ALL=C tr -cd "\\$(printf %03o "0x$1")" <"$TTYOUT" | wc -c)" != 0 ]; then
		printf 'raw byte 0x%s reached the terminal:\n' "$1" >&2
		od -c "$TTYOUT" >&2
		return 1
	fi
}

quiet_tty() {
	quiet_tty_file "$TTYOUT"
}

quiet_tty_file() {
	if [ -s "$1" ]; then
		printf 'terminal got:\n' >&2
		od -c "$1" >&2
		return 1
	fi
}

# tx VERB: TX holds the lines of a transaction of VERB to alice.
tx() {
	TX=("HELO client.example" "$1 FROM:<carol@client.example>"
		"RCPT TO:<alice@mx.test.example>" DATA "Subject: lunch"
		"From: Carol <carol@client.example>" "" "Meet at noon?" . QUIT)
}

# two_ttys OUTER-OPTIONS -- INNER-OPTIONS: the session of TX while alice
# is logged in twice; the inner terminal's text is in $TTYOUT2.
two_ttys() {
	split_opts "$@"
	lines "${TX[@]}" | timeout 10 \
		"$PTYHELPER" -f "$UTMP" -n alice -c "$TTYOUT" -o "$OWNER" "${OPTS[@]}" -- \
		"$PTYHELPER" -f "$UTMP" -n alice -c "$TTYOUT2" -o "$OWNER" "${ARGS[@]}" -- \
		"$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -U "$UTMP"
}

@test "EHLO lists SEND, SOML and SAML" {
	run -0 --separate-stderr smtp -- "EHLO client.example" QUIT
	codes_are 220 250 221
	run ehlo_keywords
	[[ $'\n'$output$'\n' == *$'\nSEND\n'* ]]
	[[ $'\n'$output$'\n' == *$'\nSOML\n'* ]]
	[[ $'\n'$output$'\n' == *$'\nSAML\n'* ]]
}

@test "HELP names SEND, SOML and SAML" {
	run -0 --separate-stderr smtp -- HELP QUIT
	[[ $output == *SEND* && $output == *SOML* && $output == *SAML* ]]
	smtp_ok
}

@test "SEND, SOML and SAML need HELO first and a sender after" {
	run -0 --separate-stderr smtp -- "SEND FROM:<a@b.example>" "HELO c" \
		"SOML FROM:<a@b.example>" "SAML FROM:<a@b.example>" RSET \
		"SAML TO:<a@b.example>" "SEND FROM:<a@b.example" QUIT
	smtp_ok 220 503 250 250 503 250 501 501 221
}

@test "SEND to an active user writes banner, subject, body and end line to the terminal" {
	tx SEND
	run -0 --separate-stderr on_tty -- "${TX[@]}"
	smtp_ok 220 250 250 250 354 250 221
	run tty_text
	[[ ${lines[0]} =~ ^Message\ from\ carol@client\.example\ at\ [0-9]{2}:[0-9]{2}\ \.\.\.$ ]]
	[ "${lines[1]}" = "Subject: lunch" ]
	[ "${lines[2]}" = "Meet at noon?" ]
	[ "${lines[3]}" = "EOF" ]
	[ "${#lines[@]}" = 4 ]
	count_is 0 mbox_count "$MAIL/alice"
}

@test "the terminal gets CRLF line ends and no other header" {
	tx SEND
	run -0 --separate-stderr on_tty -- "${TX[@]}"
	codes_are 220 250 250 250 354 250 221
	# Every LF has its CR, and there is at least one line.
	[ "$(grep -c $'\r$' "$TTYOUT")" = "$(wc -l <"$TTYOUT")" ]
	[ "$(wc -l <"$TTYOUT")" -ge 4 ]
	tty_lacks "Received:"
	tty_lacks "From: Carol"
	tty_lacks "Return-Path"
}

@test "SEND to a user who is not logged in is 450 4.2.1 at RCPT" {
	run -0 --separate-stderr smtp -U "$UTMP" -- "HELO client.example" \
		"SEND FROM:<carol@client.example>" "RCPT TO:<alice@mx.test.example>" \
		DATA QUIT
	smtp_ok 220 250 250 450 503 221
	esc_is 4 4.2.1
	count_is 0 mbox_count "$MAIL/alice"
}

@test "SEND to a user whose terminal refuses messages (mesg n) is 450 4.2.1" {
	tx SEND
	run -0 --separate-stderr on_tty -m 0600 -- "${TX[@]}"
	codes_are 220 250 250 450 503 500 500 500 500 500 221
	esc_is 4 4.2.1
	quiet_tty
	count_is 0 mbox_count "$MAIL/alice"
}

@test "SEND to a user without a mailbox is 550, not 450" {
	run -0 --separate-stderr on_tty -- "HELO client.example" \
		"SEND FROM:<carol@client.example>" "RCPT TO:<nobody-here@mx.test.example>" QUIT
	codes_are 220 250 250 550 221
	esc_is 4 5.1.1
}

@test "SEND with one active and one inactive recipient reaches the active one" {
	mkmbox dave
	run -0 --separate-stderr on_tty -- "HELO client.example" \
		"SEND FROM:<carol@client.example>" "RCPT TO:<dave@mx.test.example>" \
		"RCPT TO:<alice@mx.test.example>" DATA "hello alice" . QUIT
	codes_are 220 250 250 450 250 354 250 221
	tty_has "hello alice"
	count_is 0 mbox_count "$MAIL/dave"
	count_is 0 mbox_count "$MAIL/alice"
}

@test "SOML to an active user writes to the terminal and leaves the mailbox alone" {
	tx SOML
	run -0 --separate-stderr on_tty -- "${TX[@]}"
	codes_are 220 250 250 250 354 250 221
	tty_has "Meet at noon?"
	count_is 0 mbox_count "$MAIL/alice"
}

@test "SOML to a user who is not logged in goes to the mailbox" {
	tx SOML
	run -0 --separate-stderr smtp -U "$UTMP" -- "${TX[@]}"
	codes_are 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
	run mbox_msg "$MAIL/alice" 1 header Subject
	[ "$output" = "lunch" ]
}

@test "SOML to a user with mesg n goes to the mailbox only" {
	tx SOML
	run -0 --separate-stderr on_tty -m 0600 -- "${TX[@]}"
	codes_are 220 250 250 250 354 250 221
	quiet_tty
	count_is 1 mbox_count "$MAIL/alice"
}

@test "SOML to a Maildir user who is not logged in goes to the Maildir" {
	run -0 --separate-stderr smtp -U "$UTMP" -- "HELO client.example" \
		"SOML FROM:<carol@client.example>" "RCPT TO:<bob@mx.test.example>" \
		DATA "Subject: x" "" "to the maildir" . QUIT
	codes_are 220 250 250 250 354 250 221
	count_is 1 maildir_count "$MAIL/bob"
}

@test "SAML to an active user writes both terminal and mailbox" {
	tx SAML
	run -0 --separate-stderr on_tty -- "${TX[@]}"
	codes_are 220 250 250 250 354 250 221
	tty_has "Meet at noon?"
	tty_has "Subject: lunch"
	count_is 1 mbox_count "$MAIL/alice"
	run mbox_msg "$MAIL/alice" 1 body
	[ "$output" = "Meet at noon?" ]
}

@test "SAML to a user who is not logged in goes to the mailbox" {
	tx SAML
	run -0 --separate-stderr smtp -U "$UTMP" -- "${TX[@]}"
	codes_are 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "MAIL to a logged-in user goes to the mailbox and not the terminal" {
	tx MAIL
	run -0 --separate-stderr on_tty -- "${TX[@]}"
	codes_are 220 250 250 250 354 250 221
	quiet_tty
	count_is 1 mbox_count "$MAIL/alice"
}

@test "RSET after SEND makes the next MAIL a mailbox transaction" {
	run -0 --separate-stderr smtp -U "$UTMP" -- "HELO client.example" \
		"SEND FROM:<carol@client.example>" RSET \
		"MAIL FROM:<carol@client.example>" "RCPT TO:<alice@mx.test.example>" \
		DATA "x" . QUIT
	codes_are 220 250 250 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "a MAIL after a SEND transaction is a mailbox transaction" {
	run -0 --separate-stderr on_tty -- "HELO client.example" \
		"SEND FROM:<carol@client.example>" "RCPT TO:<alice@mx.test.example>" \
		DATA "first" . \
		"MAIL FROM:<carol@client.example>" "RCPT TO:<alice@mx.test.example>" \
		DATA "second" . QUIT
	codes_are 220 250 250 250 354 250 250 250 354 250 221
	tty_has first
	tty_lacks second
	count_is 1 mbox_count "$MAIL/alice"
	run mbox_msg "$MAIL/alice" 1 raw
	[[ $output == *second* ]]
}

@test "escape sequences in the body reach the terminal only as visible text" {
	# CSI clear screen, OSC title set ending in BEL, BEL, a backspace
	# overwrite, a CR overwrite, C1 CSI raw and as UTF-8, DEL and NUL.
	body='a\x1b[2Jb \x1b]0;owned\x07 bell\x07 safe\x08\x08\x08\x08evil '
	body+='ok\rno c1:\x9b31m u8:\xc2\x9b31m del\x7f nul\x00 tab\tend'
	run -0 --separate-stderr on_tty_bytes -- "HELO client.example\r\n" \
		"SEND FROM:<carol@client.example>\r\nRCPT TO:<alice@mx.test.example>\r\n" \
		"DATA\r\n$body\r\n.\r\nQUIT\r\n"
	codes_are 220 250 250 250 354 250 221
	for b in 00 07 08 1b 7f 9b; do
		no_byte "$b"
	done
	# No CR but those before LF.
	[ "$(tr -cd '\r' <"$TTYOUT" | wc -c)" = "$(tr -cd '\n' <"$TTYOUT" | wc -c)" ]
	tty_has 'a^[[2Jb ^[]0;owned^G bell^G safe^H^H^H^Hevil ok^Mno c1:M-^[31m u8:M-BM-^[31m del^? nul^@ '
	tty_has $'tab\tend'
}

@test "with -8 a C1 control as UTF-8 is one escape" {
	SMTPD_ARGS=(-8)
	run -0 --separate-stderr on_tty_bytes -- "HELO client.example\r\n" \
		"SEND FROM:<carol@client.example>\r\nRCPT TO:<alice@mx.test.example>\r\n" \
		"DATA\r\nno c1:\x9b31m u8:\xc2\x9b31m\r\n.\r\nQUIT\r\n"
	codes_are 220 250 250 250 354 250 221
	no_byte 9b
	tty_has 'no c1:M-^[31m u8:M-^[31m'
}

@test "without -8 no byte outside printable ASCII reaches the terminal, UTF-8 text included" {
	# U+015B is C5 9B: 9B is CSI on a terminal with 8-bit controls.
	run -0 --separate-stderr on_tty_bytes -- "HELO client.example\r\n" \
		"SEND FROM:<carol@client.example>\r\nRCPT TO:<alice@mx.test.example>\r\n" \
		"DATA\r\nSubject: caf\xc3\xa9\r\n\r\n\xc5\x9b31m \xe2\x82\xac \xc2\xa0\r\n.\r\nQUIT\r\n"
	codes_are 220 250 250 250 354 250 221
	[ "$(LC_ALL=C tr -d '\000-\177' <"$TTYOUT" | wc -c)" = 0 ]
	tty_has 'Subject: cafM-CM-)'
	tty_has 'M-EM-^[31m M-bM-^BM-, M-BM- '
}

@test "with -8 UTF-8 text passes, other high bytes are shown as M-x" {
	SMTPD_ARGS=(-8)
	run -0 --separate-stderr on_tty_bytes -- "HELO client.example\r\n" \
		"SEND FROM:<carol@client.example>\r\nRCPT TO:<alice@mx.test.example>\r\n" \
		"DATA\r\nSubject: caf\xc3\xa9\r\n\r\nna\xc3\xafve \xe2\x82\xac latin1:\xe9 \xed\xa0\x80 \xc0\xaf\r\n.\r\nQUIT\r\n"
	codes_are 220 250 250 250 354 250 221
	tty_has $'Subject: caf\xc3\xa9'
	tty_has $'na\xc3\xafve \xe2\x82\xac latin1:M-i M-mM- M-^@ M-@M-/'
}

@test "a sender address with control characters is refused with 501" {
	run -0 --separate-stderr on_tty_bytes -- "HELO client.example\r\n" \
		'SEND FROM:<"a\x1b]0;x\x07"@client.example>\r\n' \
		'SEND FROM:<a\x1b[2J@client.example>\r\n' \
		'SOML FROM:<"a\\\x07"@client.example>\r\n' \
		'SAML FROM:<a@client.example\x9b>\r\n' \
		"RCPT TO:<alice@mx.test.example>\r\nQUIT\r\n"
	codes_are 220 250 501 501 501 501 503 221
	esc_is 3 5.1.7
	esc_is 6 5.1.7
	quiet_tty
}

@test "a quoted sender is shown as given and the null sender as MAILER-DAEMON" {
	run -0 --separate-stderr on_tty -- "HELO client.example" \
		'SEND FROM:<"carol smith"@client.example>' "RCPT TO:<alice@mx.test.example>" \
		DATA "one" . \
		"SEND FROM:<>" "RCPT TO:<alice@mx.test.example>" DATA "two" . QUIT
	codes_are 220 250 250 250 354 250 250 250 354 250 221
	tty_has 'Message from "carol smith"@client.example at '
	tty_has 'Message from MAILER-DAEMON at '
}

@test "a message without a header is shown whole" {
	run -0 --separate-stderr on_tty -- "HELO client.example" \
		"SEND FROM:<carol@client.example>" "RCPT TO:<alice@mx.test.example>" \
		DATA "Are you there?" "Call me." . QUIT
	codes_are 220 250 250 250 354 250 221
	run tty_text
	[ "${lines[1]}" = "Are you there?" ]
	[ "${lines[2]}" = "Call me." ]
	[ "${lines[3]}" = "EOF" ]
}

@test "a folded Subject is shown on one line" {
	run -0 --separate-stderr on_tty -- "HELO client.example" \
		"SEND FROM:<carol@client.example>" "RCPT TO:<alice@mx.test.example>" \
		DATA "Subject: a long" " subject" "X-Other: y" "" "body" . QUIT
	codes_are 220 250 250 250 354 250 221
	tty_has "Subject: a long subject"
	tty_lacks "X-Other"
}

@test "utmp entries other than USER_PROCESS are ignored" {
	tx SEND
	run -0 --separate-stderr on_tty -t dead -- "${TX[@]}"
	codes_are 220 250 250 450 503 500 500 500 500 500 221
	tx SOML
	run -0 --separate-stderr on_tty -t login -- "${TX[@]}"
	codes_are 220 250 250 250 354 250 221
	quiet_tty
	count_is 1 mbox_count "$MAIL/alice"
}

@test "a utmp entry of another user does not make the recipient active" {
	tx SEND
	run -0 --separate-stderr on_tty -n carol -- "${TX[@]}"
	codes_are 220 250 250 450 503 500 500 500 500 500 221
	quiet_tty
}

@test "a ut_line with .. or a leading slash is refused" {
	tx SEND
	run -0 --separate-stderr on_tty -l 'pts/../%s' -- "${TX[@]}"
	codes_are 220 250 250 450 503 500 500 500 500 500 221
	run -0 --separate-stderr on_tty -l '../dev/%s' -- "${TX[@]}"
	codes_are 220 250 250 450 503 500 500 500 500 500 221
	run -0 --separate-stderr on_tty -l '/dev/%s' -- "${TX[@]}"
	codes_are 220 250 250 450 503 500 500 500 500 500 221
	# The same terminal named plainly is accepted.
	run -0 --separate-stderr on_tty -l '%s' -- "${TX[@]}"
	codes_are 220 250 250 250 354 250 221
	tty_has "Meet at noon?"
}

@test "a ut_line that is not a character device is refused" {
	mkdir -p "$BATS_TEST_TMPDIR/dev"
	tx SEND
	run -0 --separate-stderr on_tty -l 'null/x' -- "${TX[@]}"
	codes_are 220 250 250 450 503 500 500 500 500 500 221
	# /dev/null is a character device, but not owned by the recipient.
	run -0 --separate-stderr on_tty -l 'null' -- "${TX[@]}"
	codes_are 220 250 250 450 503 500 500 500 500 500 221
}

@test "a terminal owned by another uid is refused even when writable" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	other=$(id -u daemon)
	[ "$other" != "$OWNER" ]
	tx SEND
	run -0 --separate-stderr on_tty -o "$other" -m 0622 -- "${TX[@]}"
	codes_are 220 250 250 450 503 500 500 500 500 500 221
	quiet_tty
	tx SOML
	run -0 --separate-stderr on_tty -o "$other" -m 0622 -- "${TX[@]}"
	codes_are 220 250 250 250 354 250 221
	quiet_tty
	count_is 1 mbox_count "$MAIL/alice"
}

@test "of two terminals the least idle one gets the message" {
	tx SEND
	# The outer terminal has been idle for an hour, the inner one not.
	run -0 --separate-stderr two_ttys -i 3600 --
	codes_are 220 250 250 250 354 250 221
	quiet_tty
	tty_has "Meet at noon?" "$TTYOUT2"
	# Now the inner one is idle: the outer one gets it.
	: >"$UTMP"
	run -0 --separate-stderr two_ttys -- -i 3600
	codes_are 220 250 250 250 354 250 221
	tty_has "Meet at noon?"
	tty_lacks "Meet at noon?" "$TTYOUT2"
}

@test "a terminal with mesg n is passed over for one with mesg y" {
	tx SEND
	run -0 --separate-stderr two_ttys -m 0600 -- -i 3600
	codes_are 220 250 250 250 354 250 221
	quiet_tty
	tty_has "Meet at noon?" "$TTYOUT2"
}

@test "a long body is cut on the terminal; SOML then stores it whole" {
	body=()
	for i in $(seq 1 80); do
		body+=("line $i")
	done
	run -0 --separate-stderr on_tty -- "HELO client.example" \
		"SOML FROM:<carol@client.example>" "RCPT TO:<alice@mx.test.example>" \
		DATA "${body[@]}" . QUIT
	codes_are 220 250 250 250 354 250 221
	tty_has "line 50"
	tty_lacks "line 51"
	tty_has "[message cut"
	tty_has "mailbox"
	count_is 1 mbox_count "$MAIL/alice"
	run mbox_msg "$MAIL/alice" 1 raw
	[[ $output == *$'\nline 1\n'*$'\nline 80' ]]
}

@test "a long body is cut on the terminal; SEND stores nothing" {
	body=()
	for i in $(seq 1 80); do
		body+=("line $i")
	done
	run -0 --separate-stderr on_tty -- "HELO client.example" \
		"SEND FROM:<carol@client.example>" "RCPT TO:<alice@mx.test.example>" \
		DATA "${body[@]}" . QUIT
	codes_are 220 250 250 250 354 250 221
	tty_has "line 50"
	tty_lacks "line 51"
	tty_has "[message cut]"
	count_is 0 mbox_count "$MAIL/alice"
}

@test "a long line is cut on the terminal, and escapes count toward the cap" {
	long=$(printf 'x%.0s' $(seq 1 900))
	esc=$(printf '\\x1b%.0s' $(seq 1 300))
	run -0 --separate-stderr on_tty_bytes -- "HELO client.example\r\n" \
		"SEND FROM:<carol@client.example>\r\nRCPT TO:<alice@mx.test.example>\r\n" \
		"DATA\r\n$long\r\n$esc\r\nafter\r\n.\r\nQUIT\r\n"
	codes_are 220 250 250 250 354 250 221
	run tty_text
	[[ ${lines[1]} == xxxxxxxx*' [...]' ]]
	[ "${#lines[1]}" -le 210 ]
	[[ ${lines[2]} == '^[^[^['*' [...]' ]]
	[ "${#lines[2]}" -le 210 ]
	[ "${lines[3]}" = after ]
	no_byte 1b
}

@test "a stopped terminal fails SEND temporarily and SOML falls back to the mailbox" {
	tx SEND
	run -0 --separate-stderr on_tty -s -- "${TX[@]}"
	codes_are 220 250 250 250 354 451 221
	esc_is 6 4.*
	quiet_tty
	count_is 0 mbox_count "$MAIL/alice"
	tx SOML
	run -0 --separate-stderr on_tty -s -- "${TX[@]}"
	codes_are 220 250 250 250 354 250 221
	count_is 1 mbox_count "$MAIL/alice"
}

@test "-U naming a missing file means nobody is logged in" {
	run -0 --separate-stderr smtp -U "$BATS_TEST_TMPDIR/no-such-utmp" -- \
		"HELO client.example" "SEND FROM:<carol@client.example>" \
		"RCPT TO:<alice@mx.test.example>" QUIT
	smtp_ok 220 250 250 450 221
}

@test "-8 and -U are listed in the usage message" {
	needs_log
	run -1 --separate-stderr logged "$SMTPD" -x </dev/null
	log_has '\[-8EFLpqSV\]'
	log_has '\[-U utmp\]'
}

@test "SEND to an alias reaches the member's terminal" {
	printf 'al: alice\nboth: alice, bob\n' >"$BATS_TEST_TMPDIR/aliases"
	SMTPD_ARGS=(-a "$BATS_TEST_TMPDIR/aliases")
	run -0 --separate-stderr on_tty -- "HELO client.example" \
		"SEND FROM:<carol@client.example>" "RCPT TO:<al@mx.test.example>" \
		"RCPT TO:<both@mx.test.example>" DATA "via the alias" . QUIT
	# bob, the other member of both, is not logged in.
	codes_are 220 250 250 250 450 354 250 221
	esc_is 5 4.2.1
	tty_has "via the alias"
	count_is 0 mbox_count "$MAIL/alice"
	count_is 0 maildir_count "$MAIL/bob"
}

@test "SEND to a forwarded address is 551 with the address to try" {
	agent_setup
	printf 'far: someone@remote.example\n' >"$BATS_TEST_TMPDIR/aliases"
	SMTPD_ARGS=(-a "$BATS_TEST_TMPDIR/aliases" -f "$AGENT %r")
	run -0 --separate-stderr on_tty -- "HELO client.example" \
		"SEND FROM:<carol@client.example>" "RCPT TO:<far@mx.test.example>" \
		RSET "SOML FROM:<carol@client.example>" "RCPT TO:<far@mx.test.example>" \
		DATA "hi" . QUIT
	codes_are 220 250 250 551 250 250 251 354 250 221
	esc_is 4 5.1.6
	[[ ${REPLY_LINES[3]} == *"<someone@remote.example>"* ]]
	# SOML to it is forwarded as mail.
	run_argv_is someone@remote.example
	quiet_tty
}

@test "with -m, SOML and SAML use the agent as the mailbox" {
	agent_setup
	SMTPD_ARGS=(-m "$AGENT %u")
	tx SOML
	run -0 --separate-stderr on_tty -- "${TX[@]}"
	codes_are 220 250 250 250 354 250 221
	tty_has "Meet at noon?"
	[ -z "$(ls "$REC")" ]
	tx SAML
	run -0 --separate-stderr on_tty -- "${TX[@]}"
	codes_are 220 250 250 250 354 250 221
	tty_has "Meet at noon?"
	run_argv_is alice
	grep -q '^Meet at noon?$' "$REC"/*.stdin
	# Not logged in: SOML goes to the agent.
	rm -f "$REC"/*
	: >"$UTMP"
	tx SOML
	run -0 --separate-stderr smtp -U "$UTMP" -m "$AGENT %u" -- "${TX[@]}"
	codes_are 220 250 250 250 354 250 221
	run_argv_is alice
	count_is 0 mbox_count "$MAIL/alice"
}

@test "in LMTP mode SEND, SOML and SAML are unknown and LHLO does not list them" {
	run -0 --separate-stderr smtp -L -- "LHLO client.example" \
		"SEND FROM:<a@b.example>" "SOML FROM:<a@b.example>" \
		"SAML FROM:<a@b.example>" QUIT
	codes_are 220 250 500 500 500 221
	run ehlo_keywords
	[[ $output != *SEND* && $output != *SOML* && $output != *SAML* ]]
}

@test "a SEND copy that fails after the data is not queued for later" {
	mkmbox dave
	TX=("HELO client.example" "SEND FROM:<carol@client.example>"
		"RCPT TO:<alice@mx.test.example>" "RCPT TO:<dave@mx.test.example>"
		DATA "now or never" . QUIT)
	# dave is logged in too, but his terminal is stopped (^S).
	run -0 --separate-stderr two_ttys -- -n dave -s
	codes_are 220 250 250 250 250 354 451 221
	tty_has "now or never"
	quiet_tty_file "$TTYOUT2"
	[ -z "$(ls -A "$MAIL/.queue" 2>/dev/null | grep -v '^\.')" ]
	count_is 0 mbox_count "$MAIL/dave"
}
