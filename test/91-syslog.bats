load helper
load launch

# The syslog lines: one per event, key=value, client bytes escaped.  The
# messages are caught on a private /dev/log (see logged in launch.bash).

setup() {
	smtp_setup
	needs_log
}

teardown() {
	stop_launcher
}

# held_session OPTIONS: HELO, then input held open past a -t 1 timeout
# (tail -f writes nothing and ends when smtpd has gone, or after 3 s).
held_session() {
	{ printf 'HELO client.example\r\n'; timeout 3 tail -f -s 0.1 /dev/null; } |
	    logged timeout 10 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" "$@"
}

# log_lacks [-v] ERE: no caught syslog line matches (with -v: all do).
log_lacks() {
	if grep -E "$@" "$BATS_TEST_TMPDIR/syslog"; then
		printf 'these syslog lines should not be there\n' >&2
		return 1
	fi
}

@test "a session logs connect, each delivery, the message and the end with counts" {
	TCPREMOTEIP=192.0.2.7 run -0 --separate-stderr smtp_logged -- "EHLO client.example" "MAIL FROM:<a@b.example> SIZE=20" \
	    "RCPT TO:<alice@mx.test.example>" "RCPT TO:<bob@mx.test.example>" \
	    DATA "Subject: x" "" hello . QUIT
	codes_are 220 250 250 250 250 354 250 221
	cat "$BATS_TEST_TMPDIR/syslog" >&2
	log_has '^<22>.* smtpd\[[0-9]+\]: session=([0-9A-F]+) connect client=192\.0\.2\.7$'
	sid=$(sed -n 's/.*session=\([0-9A-F]*\) connect .*/\1/p' "$BATS_TEST_TMPDIR/syslog")
	log_has ": msg=$sid\.1 rcpt=<alice@mx\.test\.example> mailbox=alice status=sent exit=0 delay=[0-9.]+$"
	log_has ": msg=$sid\.1 rcpt=<bob@mx\.test\.example> mailbox=bob status=sent exit=0 delay=[0-9.]+$"
	log_has ": session=$sid msg=$sid\.1 from=<a@b\.example> size=[0-9]+ rcpts=2 delivered=2$"
	log_has ": session=$sid end=quit state=idle messages=1 refused=0$"
	# Every line names its session or message.
	[ "$(grep -cv -e "session=$sid " -e "msg=$sid\." "$BATS_TEST_TMPDIR/syslog")" = 0 ]
	[ "$(wc -l <"$BATS_TEST_TMPDIR/syslog")" = 5 ]
}

@test "refusals are logged with code, enhanced code, command and why" {
	run -0 --separate-stderr smtp_logged -- "HELO client.example" \
	    "RCPT TO:<alice@mx.test.example>" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@elsewhere.example>" "RCPT TO:<nosuch@mx.test.example>" QUIT
	codes_are 220 250 503 250 550 550 221
	log_has ' refused client=local code=503 esc=5\.5\.1 cmd=RCPT arg=TO:<alice@mx\.test\.example> why="Bad sequence of commands"$'
	log_has ' refused client=local code=550 esc=5\.7\.1 cmd=RCPT arg=TO:<alice@elsewhere\.example> why="Relaying denied"$'
	log_has ' refused client=local code=550 esc=5\.1\.1 cmd=RCPT arg=TO:<nosuch@mx\.test\.example> why="No such user here"$'
	log_has ' end=quit state=mail messages=0 refused=3$'
}

@test "a failed delivery is logged as deferred and the DATA reply as a refusal" {
	ln "$MAIL/alice" "$BATS_TEST_TMPDIR/alice-link"
	run -0 --separate-stderr smtp_logged -- "HELO client.example" "MAIL FROM:<a@b.example>" \
	    "RCPT TO:<alice@mx.test.example>" DATA x . QUIT
	codes_are 220 250 250 250 354 451 221
	log_has ' rcpt=<alice@mx\.test\.example> mailbox=alice status=deferred exit=75 delay='
	log_has ' from=<a@b\.example> size=[0-9]+ rcpts=1 delivered=0$'
	log_has ' refused client=local code=451 esc=4\.3\.0 cmd=DATA arg= why="Delivery failed temporarily; try again later"$'
	log_has 'not a regular file with one link; refused'
}

@test "client bytes reach the log only escaped: blanks, quotes, controls, 8-bit" {
	run -0 --separate-stderr smtp_logged -- "HELO client.example" \
	    $'FOO x="1"\x1b[31m\xff end=quit' \
	    'MAIL FROM:<"x delivered=9 y"@b.example>' "RCPT TO:<alice@mx.test.example>" DATA x . QUIT
	codes_are 220 250 500 250 250 354 250 221
	log_has ' refused client=local code=500 esc=5\.5\.2 cmd=FOO arg=x=\\x221\\x22\\x1b\[31m\\xff\\x20end=quit why='
	log_has ' from=<\\x22x\\x20delivered=9\\x20y\\x22@b\.example> size=[0-9]+ rcpts=1 delivered=1$'
	LC_ALL=C log_lacks $'[\x01-\x1f\x7f-\xff]'
	[ "$(grep -c ' end=' "$BATS_TEST_TMPDIR/syslog")" = 1 ]
	[ "$(grep -c 'delivered=' "$BATS_TEST_TMPDIR/syslog")" = 1 ]
}

@test "an address from the environment reaches the log only when it is one" {
	TCPREMOTEIP='198.51.100.1 end=quit' run -0 --separate-stderr smtp_logged -- QUIT
	codes_are 220 221
	log_has ' connect client=local$'
	[ "$(grep -c 'end=' "$BATS_TEST_TMPDIR/syslog")" = 1 ]
	REMOTE_ADDR=2001:db8::7 run -0 --separate-stderr smtp_logged -- QUIT
	log_has ' connect client=2001:db8::7$'
}

@test "a timeout, too many errors and EOF end the session with counts" {
	run -0 --separate-stderr held_session -t 1
	codes_are 220 250 421
	log_has ' end=timeout state=idle messages=0 refused=0$'
	bad=()
	for i in $(seq 20); do bad+=(BAD); done
	run -0 --separate-stderr smtp_logged -- "${bad[@]}"
	log_has ' end=errors state=init messages=0 refused=20$'
	run -0 --separate-stderr smtp_logged -- "HELO client.example"
	log_has ' end=eof state=idle messages=0 refused=0$'
}

@test "started as root without -u, the refusal and its reason are logged" {
	needs_root
	run -0 --separate-stderr logged timeout 10 "$SMTPD" -d "$MAIL" -h "$HOST" </dev/null
	codes_are 421
	log_has '^<19>.* session=[0-9A-F]+ refused client=local code=421 why="started as root without -u"$'
	log_has ' session=[0-9A-F]+ end=refused state=init messages=0 refused=0$'
}

@test "behind tcpserver a relay attempt logs one line with the client, as fail2ban needs" {
	needs tcpserver swaks
	PORT=$(free_port)
	launch "status: 0/" logged tcpserver -v -R -H -l 0 127.0.0.1 "$PORT" \
	    "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST"
	run --separate-stderr swaks_send a@b.example victim@elsewhere.example relay
	grep -q '<\*\* 550 5\.7\.1' <<<"$output"
	stop_launcher
	log_has ' connect client=127\.0\.0\.1$'
	log_has ' refused client=127\.0\.0\.1 code=550 esc=5\.7\.1 cmd=RCPT arg=TO:<victim@elsewhere\.example> why="Relaying denied"$'
}

# A refusal forged for fail2ban: what a local user can put in the name of a
# file in a shared (1777) mail directory, an aliases file or a queue entry.
FORGED='forge refused client=192.0.2.99 code=550 esc=5.7.1 forge'

# forged_names: sessions and a queue run whose log lines name mailboxes,
# locks, aliases and queue entries that carry FORGED, each one ending in a
# letter of its own (w m l s d g q b n, and o as root).
forged_names() {
	local f=$FORGED dead rcpts=() v
	chmod 1777 "$MAIL"
	: >"$MAIL/$f w"
	chmod 0666 "$MAIL/$f w"
	mkdir "$MAIL/$f m"
	: >"$MAIL/$f l"
	ln "$MAIL/$f l" "$MAIL/$f l2"
	ln -s alice "$MAIL/$f s"
	echo old >"$MAIL/$f d"
	dead=$(sh -c 'echo $$')
	printf 'smtpd %s 0 0 0 0\n' "$dead" >"$MAIL/$f d.lock"
	give_to_smtpd "$MAIL/$f m" "$MAIL/$f l" "$MAIL/$f d" "$MAIL/$f d.lock"
	for v in w m l s d; do
		rcpts+=("RCPT TO:<\"$f $v\"@$HOST>")
	done
	if [ "$(id -u)" = 0 ]; then
		: >"$MAIL/$f o"
		chown daemon "$MAIL/$f o"
		chmod 0602 "$MAIL/$f o"
		rcpts+=("RCPT TO:<\"$f o\"@$HOST>")
	fi
	printf '%s a: %s g, alice\n' "$f" "$f" >"$BATS_TEST_TMPDIR/aliases"
	rcpts+=("RCPT TO:<\"$f a\"@$HOST>")
	smtp_logged -a "$BATS_TEST_TMPDIR/aliases" -- "HELO client.example" \
	    "MAIL FROM:<a@b.example>" "${rcpts[@]}" DATA x . QUIT
	# The queue: entries named by whoever can write the queue directory.
	mkdir -p "$MAIL/.queue"
	for v in q b $'n\nsession=1 refused client=192.0.2.98 code=550 esc=5.7.1 cmd=RCPT x'; do
		printf 'smtpd-queue 1\nsender a@b.example\narrival %s\n' "$(date +%s)" >"$MAIL/.queue/$f $v"
		printf 'attempts 1\nnext 0\nhas-from 0\nerror x\n' >>"$MAIL/.queue/$f $v"
		printf 'local alice\talice@%s\n\nSubject: queued\n\nhi\n' "$HOST" >>"$MAIL/.queue/$f $v"
	done
	printf 'not an entry\n' >"$MAIL/.queue/$f b"
	give_to_smtpd "$MAIL/.queue"
	logged timeout 20 "$SMTPD" "${SMTPD_UOPT[@]}" -d "$MAIL" -h "$HOST" -q -F
}

@test "names from files, aliases and the queue reach the log only escaped: no forged field" {
	run -0 --separate-stderr forged_names
	cat "$BATS_TEST_TMPDIR/syslog" >&2
	# Each name was logged, escaped.
	for v in w m l s d g q b n; do
		grep -qF "forge\\x20$v" "$BATS_TEST_TMPDIR/syslog"
	done
	if [ "$(id -u)" = 0 ]; then
		grep -qF 'forge\x20o' "$BATS_TEST_TMPDIR/syslog"
	fi
	# No raw blank inside a name, no forged field, no forged line.
	log_lacks 'forge '
	log_lacks ' client=192\.0\.2\.9'
	log_lacks -v '^<[0-9]+>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} smtpd\[[0-9]+\]: '
}

# f2b_check: fail2ban-regex, with contrib's filter installed beside
# fail2ban's common.conf, over the caught lines as rsyslog writes them to
# mail.log; prints the address of each match.
f2b_check() {
	local d=$BATS_TEST_TMPDIR/fail2ban
	mkdir -p "$d/filter.d"
	cp /etc/fail2ban/filter.d/common.conf "$BATS_TEST_DIRNAME/../contrib/fail2ban/filter.d/smtpd.conf" "$d/filter.d/"
	sed -E 's/^<[0-9]+>(.{15}) /\1 mx /' "$BATS_TEST_TMPDIR/syslog" >"$d/mail.log"
	fail2ban-regex -o ip "$d/mail.log" "$d/filter.d/smtpd.conf"
}

@test "contrib's fail2ban filter matches the ban-worthy refusals by client and no forged line" {
	needs fail2ban-regex fail2ban-client
	[ -f /etc/fail2ban/filter.d/common.conf ] || skip "needs fail2ban's common.conf"
	local q=("HELO client.example" "MAIL FROM:<a@b.example>") bad=()
	# Ban-worthy: relaying, an unknown user (but not the DATA after it),
	# not SMTP, out of order, twenty unknown commands; IPv4 and IPv6.
	TCPREMOTEIP=192.0.2.1 run -0 --separate-stderr smtp_logged -- "${q[@]}" "RCPT TO:<victim@elsewhere.example>" QUIT
	codes_are 220 250 250 550 221
	TCPREMOTEIP=192.0.2.2 run -0 --separate-stderr smtp_logged -- "${q[@]}" "RCPT TO:<nosuch@$HOST>" DATA QUIT
	codes_are 220 250 250 550 503 221
	TCPREMOTEIP=192.0.2.3 run -0 --separate-stderr smtp_logged -- "GET / HTTP/1.1" "Host: mx" QUIT
	codes_are 220 500 500 221
	TCPREMOTEIP=192.0.2.4 run -0 --separate-stderr smtp_logged -- "HELO client.example" "RCPT TO:<alice@$HOST>" QUIT
	codes_are 220 250 503 221
	for i in $(seq 20); do bad+=(BAD); done
	TCPREMOTEIP=192.0.2.5 run -0 --separate-stderr smtp_logged -- "${bad[@]}"
	REMOTE_ADDR=2001:db8::6 run -0 --separate-stderr smtp_logged -- "${q[@]}" "RCPT TO:<victim@elsewhere.example>" QUIT
	codes_are 220 250 250 550 221
	# Not ban-worthy: size, syntax, parameters, an over-long line, a
	# client whose address is unknown.
	TCPREMOTEIP=198.51.100.1 run -0 --separate-stderr smtp_logged -- "EHLO client.example" \
	    "MAIL FROM:<a@b.example> SIZE=999999999" "MAIL FROM:<a@b" "MAIL FROM:<a@b.example> FOO=bar" \
	    "MAIL FROM:<a@b.example>" "RCPT TO:<$(pad 1100)@$HOST>" QUIT
	codes_are 220 250 552 501 555 250 500 221
	run -0 --separate-stderr smtp_logged -- "${q[@]}" "RCPT TO:<victim@elsewhere.example>" QUIT
	codes_are 220 250 250 550 221
	# Forged refusals in file, alias and queue entry names.
	run -0 --separate-stderr forged_names
	run -0 --separate-stderr f2b_check
	echo "$output" >&2
	[ "$(sort <<<"$output" | uniq -c | awk '{ print $2 "x" $1 }' | tr '\n' ' ')" = \
	    "192.0.2.1x1 192.0.2.2x1 192.0.2.3x2 192.0.2.4x1 192.0.2.5x20 2001:db8::6x1 " ]
	# The jail reads, with the filter, in a copy of fail2ban's configuration.
	cp -r /etc/fail2ban "$BATS_TEST_TMPDIR/etc"
	rm -f "$BATS_TEST_TMPDIR"/etc/jail.d/* "$BATS_TEST_TMPDIR"/etc/*.local
	cp "$BATS_TEST_DIRNAME"/../contrib/fail2ban/filter.d/smtpd.conf "$BATS_TEST_TMPDIR/etc/filter.d/"
	cp "$BATS_TEST_DIRNAME"/../contrib/fail2ban/jail.d/smtpd.conf "$BATS_TEST_TMPDIR/etc/jail.d/"
	printf '[DEFAULT]\nsyslog_mail = %s\n' "$BATS_TEST_TMPDIR/fail2ban/mail.log" >"$BATS_TEST_TMPDIR/etc/paths-overrides.local"
	run -0 --separate-stderr fail2ban-client -c "$BATS_TEST_TMPDIR/etc" -d
	grep -Fq "['add', 'smtpd', " <<<"$output"
	grep -Fq "['set', 'smtpd', 'addlogpath', '$BATS_TEST_TMPDIR/fail2ban/mail.log', 'head']" <<<"$output"
	grep -Fq "session=[0-9A-F]+ refused client=<ADDR>" <<<"$output"
	grep -Fq "['set', 'smtpd', 'maxretry', 5]" <<<"$output"
}
