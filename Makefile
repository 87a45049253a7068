.POSIX:
PREFIX	= /usr/local
SBINDIR	= $(PREFIX)/sbin
MANDIR	= $(PREFIX)/share/man
UNITDIR	= $(PREFIX)/lib/systemd/system
CC	= cc
CFLAGS	= -std=c99 -O2 -g -pedantic -Wall -Wextra -Wformat=2 -Wshadow \
	  -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS = -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE
LDFLAGS	=
LDLIBS	=
OBJ	= smtpd.o session.o addr.o alias.o deliver.o queue.o dsn.o tty.o

smtpd: $(OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJ) $(LDLIBS)
$(OBJ): smtpd.h
session.o dsn.o: reply.h
.c.o:
	$(CC) $(CFLAGS) $(CPPFLAGS) -c $<

check: smtpd test/ptyhelper
	sh test/run

test/ptyhelper: test/ptyhelper.c
	$(CC) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS) -o $@ test/ptyhelper.c $(LDLIBS)

demo: smtpd
	sh test/demo

lint:
	mandoc -Tlint -W warning smtpd.8

install: smtpd
	mkdir -p $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	cp -f smtpd $(DESTDIR)$(SBINDIR)/smtpd
	chmod 755 $(DESTDIR)$(SBINDIR)/smtpd
	cp -f smtpd.8 $(DESTDIR)$(MANDIR)/man8/smtpd.8
	chmod 644 $(DESTDIR)$(MANDIR)/man8/smtpd.8

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/smtpd $(DESTDIR)$(MANDIR)/man8/smtpd.8

# The systemd units, with ExecStart pointing at $(SBINDIR).
UNITS	= smtpd.socket smtpd@.service smtpd-queue.service smtpd-queue.timer

install-units:
	mkdir -p $(DESTDIR)$(UNITDIR)
	for u in $(UNITS); do \
		sed 's|/usr/local/sbin/smtpd|$(SBINDIR)/smtpd|' systemd/$$u \
		    >$(DESTDIR)$(UNITDIR)/$$u && \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done

uninstall-units:
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done

clean:
	rm -f smtpd $(OBJ) test/ptyhelper

.PHONY: check demo lint install uninstall install-units uninstall-units clean
