/*
 * The mail directory and its files, for delivery and the layers above
 * it: a mailbox's path, whether one exists, the unlinked spool, whom a
 * mailbox or lock may belong to (struct trust); the one read-at-offset
 * and write-all loops; and the one buffered writer of mailbox files
 * (struct f_out, with a sticky error) with the copy of the spool into it,
 * envelope headers first, mboxrd-quoted on request; and the hold on the
 * stop signals while copies are written.  Calls addr.c and log.c only.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpd.h"

/* DIR/user followed by suffix into buf (size sz); 0, or -1 if too long. */
int
f_mailbox(char *buf, size_t sz, const char *user, const char *suffix)
{
	int n = log_fmt(buf, sz, "%s/%s%s", conf.maildir, user, suffix);

	return n > 0 && (size_t)n < sz ? 0 : -1;
}

/*
 * Does user have a mailbox in -d?  Anything there counts, so that a
 * mailbox turned into a symlink, FIFO or device is refused at delivery
 * with a temporary error and a log line, not bounced as unknown.
 */
int
f_has_mailbox(const char *user)
{
	char path[4096];
	struct stat st;

	return addr_valid_user(user) &&
	    f_mailbox(path, sizeof(path), user, "") == 0 &&
	    lstat(path, &st) == 0;
}

/* Count mailboxes in -d starting with prefix (up to 2); the first to buf. */
size_t
f_match(const char *prefix, char *buf, size_t sz)
{
	struct dirent *de;
	DIR *d;
	size_t n = 0, len = strlen(prefix);

	if ((d = opendir(conf.maildir)) == NULL)
		return 0;
	while (n < 2 && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, len) != 0 ||
		    !f_has_mailbox(de->d_name))
			continue;
		if (n++ == 0)
			log_fmt(buf, sz, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

/* Open an unlinked spool file in the mail directory; -1 is logged. */
int
f_spool(void)
{
	char path[4096];
	int fd;

	if (f_mailbox(path, sizeof(path), ".smtpd-spool.", "XXXXXX") != 0)
		return -1;
	if ((fd = mkstemp(path)) < 0) {
		log_warn("spool %s", log_word(path));
		return -1;
	}
	if (unlink(path) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		log_warn("spool %s", log_word(path));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The one read-at-offset loop: up to n bytes of fd from off into buf,
 * across EINTR and short reads, leaving the fd's offset alone.  Returns
 * the bytes read, fewer than n only at the end of the file, or -1.
 */
ssize_t
f_pread(int fd, void *buf, size_t n, off_t off)
{
	char *p = buf;
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		if ((r = pread(fd, p + got, n - got, off + (off_t)got)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* The one write-all loop for files: all n bytes, across EINTR; 0 or -1. */
int
f_write(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The spool as read for mboxrd quoting, one copy at a time. */
static char		inbuf[65536];

/*
 * The one buffered writer of mailbox files: write what o holds, or with
 * fd -1 only count it; the first error stays in o->err.
 */
void
f_flush(struct f_out *o)
{
	if (o->fd < 0)
		o->count += (off_t)o->len;
	else if (o->err == 0 && f_write(o->fd, o->buf, o->len) != 0)
		o->err = errno;
	o->len = 0;
}

/* Add n bytes at p to o, flushing when the buffer fills. */
void
f_put(struct f_out *o, const char *p, size_t n)
{
	while (n > 0) {
		size_t room = sizeof(o->buf) - o->len;

		if (room == 0) {
			f_flush(o);
			continue;
		}
		if (room > n)
			room = n;
		memcpy(o->buf + o->len, p, room);
		o->len += room;
		p += room;
		n -= room;
	}
}

/* Does an mboxrd reader need one more '>' before this line? */
static int
needs_quote(const char *p, size_t n)
{
	while (n > 0 && *p == '>')
		p++, n--;
	return n >= 5 && memcmp(p, "From ", 5) == 0;
}

/*
 * Append the spool to o from m->offset.  Without quoting the spool is read
 * straight into the output buffer, so a small message is one write.
 */
int
f_copy(const struct message *m, struct f_out *o, int quote)
{
	off_t off = 0;
	size_t have = 0;
	ssize_t n;

	if (o->fd < 0 && !quote) {	/* only counting: nothing changes */
		o->count += m->size;
		return 0;
	}
	while (off < m->size) {
		char *dst = quote ? inbuf + have : o->buf + o->len;
		size_t room = quote ? sizeof(inbuf) - have :
		    sizeof(o->buf) - o->len;

		if (room == 0) {
			f_flush(o);
			continue;
		}
		if ((size_t)(m->size - off) < room)
			room = (size_t)(m->size - off);
		if ((n = f_pread(m->fd, dst, room, m->offset + off)) <= 0)
			return -1;
		off += n;
		if (!quote) {
			o->len += (size_t)n;
			continue;
		}
		have += (size_t)n;
		{
			char *p = inbuf, *end = inbuf + have, *nl;

			while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
				if (needs_quote(p, (size_t)(nl - p)))
					f_put(o, ">", 1);
				f_put(o, p, (size_t)(nl - p) + 1);
				p = nl + 1;
			}
			have = (size_t)(end - p);
			if (have == sizeof(inbuf) || off == m->size) {
				f_put(o, p, have);	/* no LF: cannot be */
				have = 0;
			} else
				memmove(inbuf, p, have);
		}
	}
	return 0;
}

/*
 * Return-Path: and Delivered-To: (name, the user with any detail), above
 * smtpd's Received: header.
 */
void
f_envelope(struct f_out *o, const struct message *m, const char *name)
{
	char hdr[1024];
	int n;

	n = log_fmt(hdr, sizeof(hdr), "Return-Path: <%s>\nDelivered-To: "
	    "%s@%s\n", m->sender, name, conf.hostname);
	if (n > 0 && (size_t)n < sizeof(hdr))
		f_put(o, hdr, (size_t)n);
}

/* The exit code of a delivery child for a failed lookup: errno e. */
int
f_exit_code(int e)
{
	return e == ENOENT ? EX_NOUSER : EX_TEMPFAIL;
}

/* 50 ms, between polls of a lock or of a child. */
void
f_pause(void)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/* May this uid own a mailbox or lock in a shared directory? */
int
f_trusted_uid(const struct trust *t, uid_t uid)
{
	return uid == 0 || uid == geteuid() || uid == t->rcpt;
}

/*
 * May smtpd write into this mailbox (mbox file or Maildir directory)?
 * Never one anybody may write, nor one group-writable for a group smtpd
 * is not in; in a shared directory only one owned by root, smtpd's user
 * or the recipient.
 */
int
f_trusted(const char *path, const struct stat *st, const struct trust *t)
{
	gid_t groups[256];
	int i, n, ok = 0;

	if (t->shared && !f_trusted_uid(t, st->st_uid)) {
		log_err("mailbox %s: owned by uid %ld, not by the recipient "
		    "or smtpd; refused", log_word(path), (long)st->st_uid);
		return 0;
	}
	if (st->st_mode & S_IWOTH) {
		log_err("mailbox %s: world-writable; refused", log_word(path));
		return 0;
	}
	if (!(st->st_mode & S_IWGRP) || st->st_gid == getegid())
		return 1;
	n = getgroups(sizeof(groups) / sizeof(groups[0]), groups);
	for (i = 0; i < n; i++)
		ok |= groups[i] == st->st_gid;
	if (!ok)
		log_err("mailbox %s: writable by group %ld, not smtpd's; "
		    "refused", log_word(path), (long)st->st_gid);
	return ok;
}

/*
 * How far to trust what is in DIR: a directory anybody may write must be
 * sticky, and then only mailboxes and locks of root, smtpd's user or the
 * recipient count.  Returns -1 (logged) when DIR is not fit for mail.
 */
int
f_trust_init(struct trust *t, const char *user)
{
	struct passwd *pw;
	struct stat st;

	if (stat(conf.maildir, &st) != 0) {
		log_warn("mail directory %s", log_word(conf.maildir));
		return -1;
	}
	t->shared = (st.st_mode & S_IWOTH) != 0;
	if (t->shared && !(st.st_mode & S_ISVTX)) {
		log_err("mail directory %s: world-writable without the sticky "
		    "bit; refused", log_word(conf.maildir));
		return -1;
	}
	t->rcpt = t->shared && (pw = getpwnam(user)) != NULL ? pw->pw_uid :
	    geteuid();
	return 0;
}

/* The signals that ask smtpd to stop: the mask's set of them. */
static void
stop_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGINT);
}

/*
 * Hold (block, when hold is set) or let in the stop signals.  Held, they
 * wait as pending until let in, when their action (to end the process)
 * is taken; f_stopping() says whether one is waiting.  Only the mask is
 * changed, so nothing runs inside a signal handler.
 */
void
f_hold_stops(int hold)
{
	sigset_t set;

	stop_set(&set);
	/* Fails only for a bad argument: nothing to undo. */
	(void)sigprocmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* Is a stop signal waiting (held) to be taken? */
int
f_stopping(void)
{
	sigset_t pend;

	if (sigpending(&pend) != 0)
		return 0;
	return sigismember(&pend, SIGTERM) == 1 ||
	    sigismember(&pend, SIGHUP) == 1 || sigismember(&pend, SIGINT) == 1;
}
