.POSIX:
PREFIX	= /usr/local
SBINDIR	= $(PREFIX)/sbin
MANDIR	= $(PREFIX)/share/man
UNITDIR	= $(PREFIX)/lib/systemd/system
SYSUSERSDIR = $(PREFIX)/lib/sysusers.d
CC	= cc
# -fno-plt: libc's functions are bound once at start-up, not again in each
# forked delivery child (bench/README.md).
CFLAGS	= -std=c99 -O2 -g -fno-plt -pedantic -Wall -Wextra -Wformat=2 -Wshadow \
	  -Wstrict-prototypes -Wmissing-prototypes -Wcast-qual \
	  -Wmissing-declarations
CPPFLAGS = -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE
LDFLAGS	=
LDLIBS	=
OBJ	= smtpd.o session.o rcpt.o message.o reply.o data.o addr.o alias.o deliver.o mbox.o queue.o entry.o dsn.o tty.o file.o proxy.o io.o log.o conf.o
# Everything but main(): the fuzz targets link these with their own entry.
LIB	= $(OBJ:smtpd.o=)
# make check: the suite without its long files (marked slow), in parallel.
# make check-all: what check leaves out: the long files, the whole suite
# under ASan+UBSan and under valgrind, a minute of fuzzing, and the
# container tests (a fresh Debian 12 tree, the units under systemd).
# Sanitizer and fuzzer builds (clang): make sanitize-check, memcheck, fuzz.
SAN_CC	= clang
SANFLAGS = -std=c99 -g -O1 -fno-omit-frame-pointer \
	  -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZFLAGS = -g -O1 -fno-omit-frame-pointer -U_FORTIFY_SOURCE \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -Dexit=fuzz_exit
FUZZTIME = 60
# The static build (make static) and the benchmark's own programs.
MUSL_CC	= musl-gcc
BENCH_BIN = bench/floor bench/source

smtpd: $(OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJ) $(LDLIBS)
$(OBJ): smtpd.h
session.o rcpt.o message.o reply.o: session.h reply.h
dsn.o: reply.h
.c.o:
	$(CC) $(CFLAGS) $(CPPFLAGS) -c $<

check: smtpd test/ptyhelper test/logsink
	@if [ "$(SANITIZE)" = 1 ]; then $(MAKE) sanitize-check; \
	else sh test/run; fi

check-all: check-slow check-anywhere sanitize-check memcheck fuzz-run \
	check-container

check-slow: smtpd test/ptyhelper test/logsink
	SLOW=only sh test/run

# The quick suite from a copy of the checkout in a 0700 directory, and, as
# root, also as a normal user from /tmp: tests must pass wherever they are.
check-anywhere:
	sh test/anywhere

smtpd-san: $(OBJ:.o=.c) smtpd.h session.h reply.h
	$(SAN_CC) $(SANFLAGS) $(CPPFLAGS) -o $@ $(OBJ:.o=.c)

# Leaks are memcheck's part: LeakSanitizer needs /proc, which a -r jail lacks.
sanitize-check: smtpd-san test/ptyhelper test/logsink
	ASAN_OPTIONS=exitcode=99:abort_on_error=0:detect_leaks=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=99 \
	SMTPD_NO_RSS=1 SMTPD=$$PWD/smtpd-san SLOW=1 sh test/run

memcheck: smtpd test/ptyhelper test/logsink
	SMTPD_NO_RSS=1 sh test/memcheck

fuzz: fuzz/session.fuzz fuzz/path.fuzz fuzz/proxy.fuzz

fuzz/session.fuzz: fuzz/session_fuzz.c fuzz/fuzz.h $(LIB:.o=.c) smtpd.h session.h reply.h
	$(SAN_CC) $(FUZZFLAGS) $(CPPFLAGS) -o $@ fuzz/session_fuzz.c $(LIB:.o=.c)

fuzz/path.fuzz: fuzz/path_fuzz.c fuzz/fuzz.h $(LIB:.o=.c) smtpd.h session.h reply.h
	$(SAN_CC) $(FUZZFLAGS) $(CPPFLAGS) -o $@ fuzz/path_fuzz.c $(LIB:.o=.c)

fuzz/proxy.fuzz: fuzz/proxy_fuzz.c fuzz/fuzz.h $(LIB:.o=.c) smtpd.h session.h reply.h
	$(SAN_CC) $(FUZZFLAGS) $(CPPFLAGS) -o $@ fuzz/proxy_fuzz.c $(LIB:.o=.c)

fuzz-run: fuzz
	sh fuzz/run $(FUZZTIME)

# A static musl build beside the default one, for comparison and for jails.
static: smtpd-static

smtpd-static: $(OBJ:.o=.c) smtpd.h session.h reply.h
	$(MUSL_CC) -static $(CFLAGS) $(CPPFLAGS) -o $@ $(OBJ:.o=.c)

# Not a test: bench/run prints a table of rates and asserts nothing.
bench: smtpd $(BENCH_BIN)
	sh bench/run

# smtpd over TLS (s6-ucspitlsd, s6-tlsd) beside smtpd in clear.
bench-tls: smtpd
	python3 bench/tls

bench-bin: $(BENCH_BIN)

bench/floor: bench/floor.c
	$(CC) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS) -o $@ bench/floor.c $(LDLIBS)

bench/source: bench/source.c
	$(CC) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS) -o $@ bench/source.c $(LDLIBS)

test/ptyhelper: test/ptyhelper.c
	$(CC) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS) -o $@ test/ptyhelper.c $(LDLIBS)
test/logsink: test/logsink.c
	$(CC) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS) -o $@ test/logsink.c $(LDLIBS)

demo: smtpd
	sh test/demo

# As root, with debootstrap and systemd-nspawn: the README's quick start in a
# fresh Debian 12 tree, and the systemd units under a booted Debian 12.
check-container:
	bash test/container/units.sh
	bash test/container/fresh-clone.sh

# The manual must be warning-free in both mandoc and groff.
lint:
	mandoc -Tlint -W warning smtpd.8
	@out=$$(groff -mdoc -t -ww -z -Tutf8 smtpd.8 2>&1); \
	if [ -n "$$out" ]; then printf '%s\n' "$$out"; exit 1; fi

install: smtpd
	mkdir -p $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	cp -f smtpd $(DESTDIR)$(SBINDIR)/smtpd
	chmod 755 $(DESTDIR)$(SBINDIR)/smtpd
	cp -f smtpd.8 $(DESTDIR)$(MANDIR)/man8/smtpd.8
	chmod 644 $(DESTDIR)$(MANDIR)/man8/smtpd.8

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/smtpd $(DESTDIR)$(MANDIR)/man8/smtpd.8

# The systemd units, with ExecStart pointing at $(SBINDIR), and the
# sysusers.d entry for their user smtpd (group mail).  Without DESTDIR the
# user is made at once with systemd-sysusers, where there is one; a package
# does that when it is installed.  smtpd-fast.service runs s6-tcpserver6d
# of s6-networking from $(S6BINDIR) (not packaged in Debian 12: built from
# source, whose make install puts it in /usr/local/bin).
UNITS	= smtpd.socket smtpd@.service smtpd-queue.service smtpd-queue.timer \
	  smtpd-fast.socket smtpd-fast.service
S6BINDIR = /usr/local/bin

install-units:
	mkdir -p $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	for u in $(UNITS); do \
		sed -e 's|/usr/local/sbin/smtpd|$(SBINDIR)/smtpd|' \
		    -e 's|/usr/local/bin/s6-|$(S6BINDIR)/s6-|' systemd/$$u \
		    >$(DESTDIR)$(UNITDIR)/$$u && \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	cp -f systemd/smtpd.sysusers $(DESTDIR)$(SYSUSERSDIR)/smtpd.conf
	chmod 644 $(DESTDIR)$(SYSUSERSDIR)/smtpd.conf
	if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then \
		systemd-sysusers $(SYSUSERSDIR)/smtpd.conf; fi

uninstall-units:
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done
	rm -f $(DESTDIR)$(SYSUSERSDIR)/smtpd.conf

clean:
	rm -f smtpd smtpd-san smtpd-static $(OBJ) test/ptyhelper test/logsink fuzz/*.fuzz \
	    $(BENCH_BIN)

.PHONY: check check-all check-slow check-anywhere check-container sanitize-check memcheck \
	fuzz fuzz-run demo lint install uninstall install-units uninstall-units \
	static bench bench-tls bench-bin clean
