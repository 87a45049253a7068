/*
 * Local delivery: mailbox lookup, the spool, and one forked child per
 * recipient that appends to an mbox or writes into a Maildir.  Nothing
 * here talks to the client; results go back as enum dlv_status.
 */
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpd.h"

#define EX_NOUSER	67
#define EX_CANTCREAT	73
#define EX_TEMPFAIL	75
#define STALE_LOCK	300	/* seconds after which a dotlock is stale */

/*
 * Buffered output to a mailbox file; err keeps the first errno.  With fd
 * -1 nothing is written and count adds up the bytes instead.
 */
struct out {
	int	 fd;
	int	 err;
	off_t	 count;
	size_t	 len;
	char	 buf[65536];
};

static struct out	out;
static char		inbuf[65536];

/*
 * Is this local part one that may name a mailbox at all?  Never a path
 * (no '/', no leading dot, so not "." or ".."), a control character, or a
 * dotlock name.
 */
int
dlv_valid_user(const char *u)
{
	const char *p;
	size_t n = strlen(u);

	if (*u == '\0' || *u == '.' ||
	    (n >= 5 && strcmp(u + n - 5, ".lock") == 0))
		return 0;
	for (p = u; *p != '\0'; p++)
		if (*p == '/' || (unsigned char)*p < 0x20 ||
		    (unsigned char)*p == 0x7f)	/* UTF-8 is a name's bytes */
			return 0;
	return 1;
}

static int
mailbox_path(char *buf, size_t sz, const char *user, const char *suffix)
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
dlv_exists(const char *user)
{
	char path[4096];
	struct stat st;

	return dlv_valid_user(user) &&
	    mailbox_path(path, sizeof(path), user, "") == 0 &&
	    lstat(path, &st) == 0;
}

/* Count mailboxes in -d starting with prefix (up to 2); the first to buf. */
size_t
dlv_match(const char *prefix, char *buf, size_t sz)
{
	struct dirent *de;
	DIR *d;
	size_t n = 0, len = strlen(prefix);

	if ((d = opendir(conf.maildir)) == NULL)
		return 0;
	while (n < 2 && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, len) != 0 ||
		    !dlv_exists(de->d_name))
			continue;
		if (n++ == 0)
			log_fmt(buf, sz, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

/* Split an -m or -f command into words on blanks, once, at start-up. */
void
dlv_template(struct template *t, const char *cmd, int opt)
{
	char *copy, *w;

	if ((copy = strdup(cmd)) == NULL)
		die("out of memory");
	t->n = 0;
	for (w = strtok(copy, " \t"); w != NULL; w = strtok(NULL, " \t")) {
		if (t->n == MAX_WORDS)
			die("-%c: more than %d words", opt, MAX_WORDS);
		t->words[t->n++] = w;
	}
	t->words[t->n] = NULL;
	if (t->n == 0 || t->words[0][0] != '/')
		die("-%c: the program must be an absolute path", opt);
	if (access(t->words[0], X_OK) != 0)
		die("-%c: %s: %s", opt, t->words[0], strerror(errno));
}

/* Open an unlinked spool file in the mail directory. */
int
dlv_spool(void)
{
	char path[4096];
	int fd;

	if (mailbox_path(path, sizeof(path), ".smtpd-spool.", "XXXXXX") != 0)
		return -1;
	if ((fd = mkstemp(path)) < 0) {
		log_err("spool %s: %s", path, strerror(errno));
		return -1;
	}
	if (unlink(path) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		log_err("spool %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void
out_flush(struct out *o)
{
	const char *p = o->buf;
	ssize_t w;

	if (o->fd < 0)
		o->count += (off_t)o->len;
	while (o->fd >= 0 && o->len > 0 && o->err == 0) {
		if ((w = write(o->fd, p, o->len)) < 0) {
			if (errno != EINTR)
				o->err = errno;
			continue;
		}
		p += w;
		o->len -= (size_t)w;
	}
	o->len = 0;
}

static void
out_put(struct out *o, const char *p, size_t n)
{
	while (n > 0) {
		size_t room = sizeof(o->buf) - o->len;

		if (room == 0) {
			out_flush(o);
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
static int
copy_spool(const struct message *m, struct out *o, int quote)
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
			out_flush(o);
			continue;
		}
		if ((size_t)(m->size - off) < room)
			room = (size_t)(m->size - off);
		if ((n = pread(m->fd, dst, room, m->offset + off)) <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return -1;
		}
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
					out_put(o, ">", 1);
				out_put(o, p, (size_t)(nl - p) + 1);
				p = nl + 1;
			}
			have = (size_t)(end - p);
			if (have == sizeof(inbuf) || off == m->size) {
				out_put(o, p, have);	/* no LF: cannot be */
				have = 0;
			} else
				memmove(inbuf, p, have);
		}
	}
	return 0;
}

/* Return-Path: and Delivered-To:, above smtpd's Received: header. */
static void
envelope_headers(struct out *o, const struct message *m, const char *user)
{
	char hdr[1024];
	int n;

	n = log_fmt(hdr, sizeof(hdr), "Return-Path: <%s>\nDelivered-To: "
	    "%s@%s\n", m->sender, user, conf.hostname);
	if (n > 0 && (size_t)n < sizeof(hdr))
		out_put(o, hdr, (size_t)n);
}

static int
errno_status(int e)
{
	return e == ENOENT ? EX_NOUSER : EX_TEMPFAIL;
}

static void
pause_briefly(void)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/* What a dotlock of smtpd's says: "smtpd PID DEV INODE START END". */
struct lockinfo {
	long			 pid;
	unsigned long long	 dev, ino;
	long long		 start;		/* size before the copy */
	long long		 end;		/* size after a whole copy */
	int			 fields;	/* numbers read: 5 when all */
};

/* Who may own a mailbox or its lock: decided once per delivery. */
struct trust {
	int	 shared;	/* DIR is world-writable (and sticky) */
	uid_t	 rcpt;		/* the recipient's uid, or smtpd's */
};

/*
 * A lock's text is padded with blanks to LOCK_REC bytes, the last a
 * newline, so that rewriting it is one pwrite(2) of the whole record
 * over the old one, never a shorter text over a longer.
 */
#define LOCK_REC	120

static void
lock_pad(char rec[LOCK_REC], const char *text)
{
	size_t n = strlen(text);

	if (n > LOCK_REC - 1)
		n = LOCK_REC - 1;
	memcpy(rec, text, n);
	memset(rec + n, ' ', LOCK_REC - 1 - n);
	rec[LOCK_REC - 1] = '\n';
}

/*
 * Take the lock: the text goes into a fresh file beside it, which is then
 * linked to the lock name (EEXIST while another holds it), so a lock of
 * ours is never empty or half-written, even when we are killed in between
 * (the NFS-safe dotlock).  Returns that file, still open for
 * lock_rewrite(), or -1.
 */
static int
lock_take(const char *lock, const char *text)
{
	char tmp[4096], rec[LOCK_REC];
	int fd, ok, e;

	if (mailbox_path(tmp, sizeof(tmp), ".smtpd-lock.", "XXXXXX") != 0 ||
	    (fd = mkstemp(tmp)) < 0)
		return -1;
	lock_pad(rec, text);
	ok = write(fd, rec, LOCK_REC) == LOCK_REC && link(tmp, lock) == 0;
	e = errno;
	if (unlink(tmp) != 0 && errno != ENOENT)
		log_err("mbox %s: unlink: %s", tmp, strerror(errno));
	if (!ok) {
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * Say more in the lock we hold, in place: one write of a whole record of
 * the same length.  Only a holder of the mbox's fcntl lock reads our lock,
 * and we hold it, so nobody reads it half-written.
 */
static int
lock_rewrite(int fd, const char *text)
{
	char rec[LOCK_REC];

	lock_pad(rec, text);
	return pwrite(fd, rec, LOCK_REC, 0) == LOCK_REC ? 0 : -1;
}

/* Read a dotlock; returns how many fields of ours it held (0: foreign). */
static int
lock_read(const char *lock, struct lockinfo *li)
{
	char buf[LOCK_REC + 1];
	ssize_t n;
	int fd, k;

	memset(li, 0, sizeof(*li));
	if ((fd = open(lock, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	k = sscanf(buf, "smtpd %ld %llu %llu %lld %lld", &li->pid, &li->dev,
	    &li->ino, &li->start, &li->end);
	return li->fields = k > 0 ? k : 0;
}

/* May this uid own a mailbox or lock in a shared directory? */
static int
trusted_uid(const struct trust *t, uid_t uid)
{
	return uid == 0 || uid == geteuid() || uid == t->rcpt;
}

/* A lock smtpd cannot remove, or will not honour: logged, -2. */
static int
lock_stuck(const char *lock, const struct stat *st)
{
	log_err("mbox %s: lock held by uid %ld, cannot remove", lock,
	    (long)st->st_uid);
	return -2;
}

/*
 * Take DIR/user.lock, breaking a stale one: ours with a dead PID, or any
 * older than STALE_LOCK.  When a dead delivery's lock is broken, what it
 * recorded goes to *dead so its tail can be judged.  A lock
 * that cannot be removed, or that a stranger left in a shared directory,
 * fails at once (-2, logged): waiting would not help.  The lock's file
 * stays open in *lfd.
 */
static int
dotlock(const char *lock, time_t until, const struct trust *t,
    struct lockinfo *dead, int *lfd)
{
	char text[64];
	struct stat st;

	memset(dead, 0, sizeof(*dead));
	log_fmt(text, sizeof(text), "smtpd %ld\n", (long)getpid());
	for (;;) {
		struct lockinfo li;
		int stale, k = 0;

		if ((*lfd = lock_take(lock, text)) >= 0)
			return 0;
		if (errno != EEXIST)
			return -1;
		if (lstat(lock, &st) == 0) {
			stale = time(NULL) - st.st_mtime > STALE_LOCK;
			if (S_ISREG(st.st_mode))
				k = lock_read(lock, &li);
			if (k > 0 && li.pid > 0 && kill((pid_t)li.pid, 0) != 0 &&
			    errno == ESRCH)
				stale = 1;
			if (t->shared && !trusted_uid(t, st.st_uid))
				return lock_stuck(lock, &st);
			if (stale) {
				if (unlink(lock) != 0 && errno != ENOENT)
					return errno == EPERM || errno == EACCES ?
					    lock_stuck(lock, &st) : -1;
				log_info("broke stale lock %s", lock);
				if (k > 0)
					*dead = li;
				continue;
			}
		}
		if (time(NULL) >= until) {
			errno = EWOULDBLOCK;
			return -1;
		}
		pause_briefly();
	}
}

/* Two digits of v at p, the first a pad when v < 10. */
static char *
two_digits(char *p, int v, char pad)
{
	*p++ = v < 10 ? pad : (char)('0' + v / 10 % 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

/* The mboxrd "From " line: sender without blanks, then the date. */
static void
from_line(struct out *o, const char *sender)
{
	static const char days[7][4] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char months[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	static char date[48];
	static size_t datelen;
	static time_t dated = (time_t)-1;
	char line[MAX_PATH_LEN + 64];
	time_t now = time(NULL);
	size_t i, n;

	n = (size_t)log_fmt(line, sizeof(line), "From %s",
	    *sender != '\0' ? sender : "MAILER-DAEMON");
	for (i = 5; i < n; i++)
		if (line[i] == ' ' || line[i] == '\t')
			line[i] = '_';
	/* strftime's " %a %b %e %H:%M:%S %Y\n" in the C locale, per second. */
	if (now != dated) {
		const struct tm *tm = log_tm(now);
		char *p = date;

		*p++ = ' ';
		memcpy(p, days[(unsigned)tm->tm_wday % 7], 3);
		p[3] = ' ';
		memcpy(p + 4, months[(unsigned)tm->tm_mon % 12], 3);
		p[7] = ' ';
		p = two_digits(p + 8, tm->tm_mday, ' ');
		*p++ = ' ';
		p = two_digits(p, tm->tm_hour, '0');
		*p++ = ':';
		p = two_digits(p, tm->tm_min, '0');
		*p++ = ':';
		p = two_digits(p, tm->tm_sec, '0');
		p += log_fmt(p, sizeof(date) - (size_t)(p - date), " %d\n",
		    tm->tm_year + 1900);
		datelen = (size_t)(p - date);
		dated = now;
	}
	out_put(o, line, n);
	out_put(o, date, datelen);
}

/* The copy for the mbox: From_ line, envelope headers, text, blank line. */
static int
mbox_copy(struct out *o, const struct message *m, const char *user)
{
	int r;

	from_line(o, m->sender);
	envelope_headers(o, m, user);
	r = copy_spool(m, o, m->has_from);
	out_put(o, "\n", 1);
	out_flush(o);
	return r;
}

static int
mbox_open(const char *path, const char *user)
{
	int fl = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC;
	int fd;

	if ((fd = open(path, fl)) >= 0 || errno != ENOENT ||
	    strcmp(user, "postmaster") != 0)
		return fd;
	/* RFC 5321 4.5.1: postmaster always exists. */
	if ((fd = open(path, fl | O_CREAT | O_EXCL, 0600)) < 0 &&
	    errno == EEXIST)
		fd = open(path, fl);
	return fd;
}

/*
 * May smtpd write into this mailbox (mbox file or Maildir directory)?
 * Never one anybody may write, nor one group-writable for a group smtpd
 * is not in; in a shared directory only one owned by root, smtpd's user
 * or the recipient.
 */
static int
mailbox_trusted(const char *path, const struct stat *st, const struct trust *t)
{
	gid_t groups[256];
	int i, n, ok = 0;

	if (t->shared && !trusted_uid(t, st->st_uid)) {
		log_err("mailbox %s: owned by uid %ld, not by the recipient "
		    "or smtpd; refused", path, (long)st->st_uid);
		return 0;
	}
	if (st->st_mode & S_IWOTH) {
		log_err("mailbox %s: world-writable; refused", path);
		return 0;
	}
	if (!(st->st_mode & S_IWGRP) || st->st_gid == getegid())
		return 1;
	n = getgroups(sizeof(groups) / sizeof(groups[0]), groups);
	for (i = 0; i < n; i++)
		ok |= groups[i] == st->st_gid;
	if (!ok)
		log_err("mailbox %s: writable by group %ld, not smtpd's; "
		    "refused", path, (long)st->st_gid);
	return ok;
}

static void
on_alarm(int sig)
{
	(void)sig;	/* only interrupts F_SETLKW */
}

/*
 * Wait for the fcntl lock until the time until: blocking, so that the lock
 * passes on the moment its holder lets go, with an alarm to bound it.
 */
static int
lock_wait(int fd, struct flock *fl, time_t until)
{
	struct sigaction sa, old;
	time_t left = until - time(NULL);
	int r;

	if (fcntl(fd, F_SETLK, fl) == 0)
		return 0;
	if ((errno != EACCES && errno != EAGAIN) || left <= 0) {
		if (left <= 0)
			errno = EWOULDBLOCK;
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART: EINTR ends the wait */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, &old) != 0)
		return -1;
	alarm((unsigned int)left);
	r = fcntl(fd, F_SETLKW, fl);
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	if (r != 0 && errno == EINTR)
		errno = EWOULDBLOCK;
	return r;
}

/*
 * Open DIR/user into out.fd and take both locks.  Returns 0 when locked,
 * with the dotlock's file in *lfd and the mbox's status, under both
 * locks, in *st; 1 when the path no longer names the file locked (a
 * reader replaced the mailbox while we waited: all let go, try again),
 * else a sysexits code.
 */
static int
mbox_lock(const char *path, const char *lock, const char *user,
    time_t until, const struct trust *t, struct lockinfo *dead, int *lfd,
    struct stat *stp)
{
	struct flock fl;
	struct stat st, now;
	int r;

	if ((out.fd = mbox_open(path, user)) < 0) {
		int e = errno;	/* syslog() may change it; musl's does */

		log_err("mbox %s: %s", path, strerror(e));
		return e == ELOOP ? EX_TEMPFAIL : errno_status(e);
	}
	if (fstat(out.fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_nlink != 1) {
		log_err("mbox %s: not a regular file with one link; refused",
		    path);
		close(out.fd);
		return EX_TEMPFAIL;
	}
	if (!mailbox_trusted(path, &st, t)) {
		close(out.fd);
		return EX_TEMPFAIL;
	}
	/*
	 * The fcntl lock first: a dotlock of ours seen while holding it is
	 * one whose owner died, since owners remove it before they let go
	 * of the fcntl lock.  Judged without it, a lock just being released
	 * looked stale, and its offset cut off the message just appended.
	 */
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (lock_wait(out.fd, &fl, until) != 0) {
		int e = errno;

		log_err("mbox %s: fcntl lock: %s", path, strerror(e));
		close(out.fd);
		return EX_TEMPFAIL;
	}
	if ((r = dotlock(lock, until, t, dead, lfd)) != 0) {
		if (r == -1)
			log_err("mbox %s: lock: %s", lock, strerror(errno));
		close(out.fd);
		return EX_TEMPFAIL;
	}
	/* Readers rewrite a mailbox by replacing it: is ours still there? */
	if (fstat(out.fd, stp) == 0 && lstat(path, &now) == 0 &&
	    stp->st_dev == now.st_dev && stp->st_ino == now.st_ino &&
	    stp->st_nlink == 1)
		return 0;
	log_info("mbox %s: replaced while waiting for the lock; reopening",
	    path);
	if (unlink(lock) != 0)
		log_err("mbox %s: unlock: %s", lock, strerror(errno));
	close(*lfd);
	close(out.fd);
	return 1;
}

/* Is there a line starting "From " in the n bytes of fd from off? */
static int
has_from_line(int fd, off_t off, off_t n)
{
	char buf[8192 + 5];
	size_t keep = 0;
	ssize_t r;

	while (n > 0) {
		size_t want = n < 8192 ? (size_t)n : 8192;
		char *p;

		if ((r = pread(fd, buf + keep, want, off)) <= 0)
			return 1;	/* unreadable: assume the worst */
		off += r;
		n -= r;
		r += (ssize_t)keep;
		for (p = buf; (p = memchr(p, '\n', (size_t)(buf + r - p))) !=
		    NULL; p++)
			if (buf + r - p > 5 && memcmp(p + 1, "From ", 5) == 0)
				return 1;
		keep = r < 5 ? (size_t)r : 5;
		memmove(buf, buf + r - keep, keep);
	}
	return 0;
}

/*
 * Cut what a killed delivery (dead, from its lock) left at the end of the
 * mbox, but only when that tail is provably its own: the same file, longer
 * than its start and no longer than its whole copy, beginning with a From_
 * line and holding no other.  Anything else (a writer that does not use
 * the dotlock appended after it) is left alone and logged.  Returns the
 * size the mbox has now, or -1.
 */
static off_t
cut_dead_tail(const char *path, const struct stat *st,
    const struct lockinfo *dead)
{
	char head[5];
	struct stat rst;
	off_t n = st->st_size - (off_t)dead->start;
	int fd, own = 0;

	/* "smtpd PID" alone: killed before it knew where it would write. */
	if (dead->fields < 2 || (dead->fields == 5 && n <= 0))
		return st->st_size;
	if (dead->fields == 5 && dead->dev == (unsigned long long)st->st_dev &&
	    dead->ino == (unsigned long long)st->st_ino &&
	    st->st_size <= (off_t)dead->end && (fd = open(path, O_RDONLY |
	    O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) >= 0) {
		own = fstat(fd, &rst) == 0 && rst.st_ino == st->st_ino &&
		    rst.st_dev == st->st_dev &&
		    pread(fd, head, 5, (off_t)dead->start) == 5 &&
		    memcmp(head, "From ", 5) == 0 &&
		    !has_from_line(fd, (off_t)dead->start + 1, n - 1);
		close(fd);
	}
	if (!own) {
		log_err("mbox %s: a killed delivery's tail is not provably "
		    "its own; left alone", path);
		return st->st_size;
	}
	log_err("mbox %s: cutting %lld bytes a killed delivery left",
	    path, (long long)n);
	if (ftruncate(out.fd, (off_t)dead->start) != 0)
		return -1;
	return (off_t)dead->start;
}

/* Append one copy to the mbox DIR/user; returns a sysexits code. */
static int
deliver_mbox(const struct message *m, const char *user,
    const struct trust *t)
{
	char path[4096], lock[4096], text[128];
	struct stat st;
	struct lockinfo dead;
	off_t start;
	time_t until = time(NULL) + conf.lockwait;
	int rc = EX_TEMPFAIL, tries = 0, lfd = -1;

	if (mailbox_path(path, sizeof(path), user, "") != 0 ||
	    mailbox_path(lock, sizeof(lock), user, ".lock") != 0)
		return EX_NOUSER;
	while ((rc = mbox_lock(path, lock, user, until, t, &dead, &lfd,
	    &st)) == 1)
		if (++tries == 3) {
			log_err("mbox %s: replaced again and again; deferred",
			    path);
			return EX_TEMPFAIL;
		}
	if (rc == EX_NOUSER && tries > 0)
		rc = EX_TEMPFAIL;	/* it was there a moment ago */
	if (rc != 0)
		return rc;
	rc = EX_TEMPFAIL;
	if ((start = cut_dead_tail(path, &st, &dead)) < 0)
		goto unlock;
	/* The whole copy's length first, so that the lock can say it. */
	{
		int fd = out.fd;

		out.fd = -1;
		out.count = 0;
		mbox_copy(&out, m, user);
		out.fd = fd;
	}
	log_fmt(text, sizeof(text), "smtpd %ld %llu %llu %lld %lld\n",
	    (long)getpid(), (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino, (long long)start,
	    (long long)(start + out.count));
	if (lock_rewrite(lfd, text) != 0) {
		log_err("mbox %s: lock: %s", lock, strerror(errno));
		goto unlock;
	}
	if (mbox_copy(&out, m, user) != 0 && out.err == 0)
		out.err = errno ? errno : EIO;
	if (out.err == 0 && fsync(out.fd) != 0)
		out.err = errno;
	if (out.err != 0) {
		log_err("mbox %s: write: %s", path, strerror(out.err));
		if (ftruncate(out.fd, start) != 0 || fsync(out.fd) != 0)
			log_err("mbox %s: truncate: %s", path, strerror(errno));
	} else
		rc = 0;
unlock:
	if (unlink(lock) != 0)
		log_err("mbox %s: unlock: %s", lock, strerror(errno));
	(void)close(lfd);	/* unlinked already: nothing to lose */
	if (close(out.fd) != 0 && rc == 0)
		rc = EX_TEMPFAIL;
	return rc;
}

/* Write one copy into the Maildir DIR/user: tmp/, fsync, link into new/. */
static int
deliver_maildir(const struct message *m, const char *user, mode_t mode)
{
	static unsigned int counter;
	char path[4096], host[MAX_HOSTNAME + 1], tmp[512], new[512];
	struct timeval tv;
	int md, td, nd, rc = EX_TEMPFAIL;
	size_t i;

	if (mailbox_path(path, sizeof(path), user, "") != 0 ||
	    (md = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0) {
		log_err("maildir %s: %s", path, strerror(errno));
		return EX_TEMPFAIL;
	}
	/* tmp/ and new/ may not be symlinks either: no writing through them. */
	td = openat(md, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	nd = openat(md, "new", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(md);
	if (td < 0 || nd < 0) {
		log_err("maildir %s: tmp/ or new/ is not a directory", path);
		if (td >= 0)
			close(td);
		if (nd >= 0)
			close(nd);
		return EX_TEMPFAIL;
	}
	memcpy(host, conf.hostname, sizeof(host));
	for (i = 0; host[i] != '\0'; i++)
		if (host[i] == '/' || host[i] == ':')
			host[i] = '_';
	gettimeofday(&tv, NULL);
	log_fmt(tmp, sizeof(tmp), "tmp/%lld.M%06ldP%ldQ%u.%s",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
	    ++counter, host);
	log_fmt(new, sizeof(new), "new/%s", tmp + 4);
	if ((out.fd = openat(td, tmp + 4, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, mode)) < 0) {
		log_err("maildir %s/%s: %s", path, tmp, strerror(errno));
		close(td);
		close(nd);
		return EX_TEMPFAIL;
	}
	envelope_headers(&out, m, user);
	if (copy_spool(m, &out, 0) != 0)
		out.err = errno ? errno : EIO;
	out_flush(&out);
	if (out.err == 0 && fsync(out.fd) != 0)
		out.err = errno;
	if (close(out.fd) != 0 && out.err == 0)
		out.err = errno;
	if (out.err == 0 && linkat(td, tmp + 4, nd, new + 4, 0) != 0 &&
	    (errno == EEXIST || renameat(td, tmp + 4, nd, new + 4) != 0))
		out.err = errno;
	if (out.err == 0 && fsync(nd) != 0)
		out.err = errno;
	close(nd);
	if (out.err != 0)
		log_err("maildir %s/%s: %s", path, tmp, strerror(out.err));
	else
		rc = 0;
	if (unlinkat(td, tmp + 4, 0) != 0 && errno != ENOENT) {
		log_err("maildir %s/%s: unlink: %s", path, tmp, strerror(errno));
		rc = EX_TEMPFAIL;
	}
	close(td);
	return rc;
}

/*
 * How far to trust what is in DIR: a directory anybody may write must be
 * sticky, and then only mailboxes and locks of root, smtpd's user or the
 * recipient count.  Returns -1 (logged) when DIR is not fit for mail.
 */
static int
trust_init(struct trust *t, const char *user)
{
	struct passwd *pw;
	struct stat st;

	if (stat(conf.maildir, &st) != 0) {
		log_err("mail directory %s: %s", conf.maildir, strerror(errno));
		return -1;
	}
	t->shared = (st.st_mode & S_IWOTH) != 0;
	if (t->shared && !(st.st_mode & S_ISVTX)) {
		log_err("mail directory %s: world-writable without the sticky "
		    "bit; refused", conf.maildir);
		return -1;
	}
	t->rcpt = t->shared && (pw = getpwnam(user)) != NULL ? pw->pw_uid :
	    geteuid();
	return 0;
}

/* The delivery child: choose the writer by what DIR/user is. */
static int
deliver_local(const struct message *m, const char *user)
{
	char path[4096];
	struct stat st;
	struct trust t;

	if (mailbox_path(path, sizeof(path), user, "") != 0)
		return EX_NOUSER;
	if (trust_init(&t, user) != 0)
		return EX_TEMPFAIL;
	if (lstat(path, &st) != 0)
		return strcmp(user, "postmaster") == 0 ?
		    deliver_mbox(m, user, &t) : errno_status(errno);
	if (!S_ISDIR(st.st_mode))
		return deliver_mbox(m, user, &t);
	if (!mailbox_trusted(path, &st, &t))
		return EX_TEMPFAIL;
	return deliver_maildir(m, user, st.st_mode & 0660);
}

/*
 * Expand the template's words for one copy: %s sender, %r recipient,
 * %u user, %% a percent sign, each inside its word, so that a value never
 * adds or splits a word.  Returns 0, or -1 when the words do not fit.
 */
static int
expand_words(const struct template *t, const struct message *m,
    const struct target *tg, char *buf, size_t sz, char **argv)
{
	size_t i, n = 0;

	for (i = 0; i < t->n; i++) {
		const char *p;

		argv[i] = buf + n;
		for (p = t->words[i]; *p != '\0'; p++) {
			const char *v = NULL;
			char c[2] = { *p, '\0' };
			size_t vl;

			if (*p == '%' && p[1] != '\0') {
				switch (p[1]) {
				case 's':	v = m->sender;	break;
				case 'r':	v = tg->addr;	break;
				case 'u':	v = tg->user;	break;
				case '%':	v = "%";	break;
				}
			}
			if (v != NULL)
				p++;
			else
				v = c;
			if ((vl = strlen(v)) + n + 1 >= sz)
				return -1;
			memcpy(buf + n, v, vl);
			n += vl;
		}
		buf[n++] = '\0';
	}
	argv[i] = NULL;
	return 0;
}

/*
 * Close every descriptor above 2, whatever the launcher left open: the
 * highest one is read from /dev/fd where the system has it, else every
 * number up to the limit (capped) is tried.
 */
static void
close_above_stderr(void)
{
	struct dirent *de;
	DIR *d;
	long max = -1;
	int fd;

	if ((d = opendir("/dev/fd")) != NULL) {
		while ((de = readdir(d)) != NULL) {
			long n = strtol(de->d_name, NULL, 10);

			if (n > max)
				max = n;
		}
		closedir(d);
	} else if ((max = sysconf(_SC_OPEN_MAX)) < 0 || max > 65536)
		max = 65536;
	for (fd = 3; fd <= max; fd++)
		(void)close(fd);	/* EBADF for most: nothing to undo */
}

/* The agent child: message on 0, the log pipe on 1 and 2, clean env. */
static void NORETURN
agent_child(const struct message *m, const struct target *tg, char **argv,
    int logfd)
{
	static char env_s[MAX_PATH_LEN + 8], env_r[MAX_PATH_LEN + 12],
	    env_u[MAX_LOCAL + 8], env_h[4096 + 8];
	char *envp[6];
	struct passwd *pw;
	sigset_t none;
	size_t ne = 0;
	char msg[256];
	int n;

	envp[ne++] = "PATH=/usr/local/bin:/usr/bin:/bin";
	log_fmt(env_s, sizeof(env_s), "SENDER=%s", m->sender);
	envp[ne++] = env_s;
	log_fmt(env_r, sizeof(env_r), "RECIPIENT=%s", tg->addr);
	envp[ne++] = env_r;
	if (tg->kind == T_LOCAL) {
		log_fmt(env_u, sizeof(env_u), "USER=%s", tg->user);
		envp[ne++] = env_u;
		if ((pw = getpwnam(tg->user)) != NULL &&
		    strlen(pw->pw_dir) < 4096) {
			log_fmt(env_h, sizeof(env_h), "HOME=%s", pw->pw_dir);
			envp[ne++] = env_h;
		}
	}
	envp[ne] = NULL;
	setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGXFSZ, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(m->fd, 0) < 0 || lseek(0, m->offset, SEEK_SET) != m->offset ||
	    dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
		_exit(EX_TEMPFAIL);
	close_above_stderr();
	execve(argv[0], argv, envp);
	n = log_fmt(msg, sizeof(msg), "cannot run %s: %s\n", argv[0],
	    strerror(errno));
	if (n > 0 && write(2, msg, (size_t)n) < 0)
		_exit(EX_TEMPFAIL);	/* nothing more to tell */
	_exit(EX_TEMPFAIL);
}

/*
 * Wait for a child, killing its process group after secs seconds (never,
 * if secs < 0); the first bytes it writes to the log pipe go to said.
 * Returns the wait status, or -1 when it had to be killed.
 */
static int
wait_child(pid_t pid, int logfd, int secs, char *said, size_t saidsz)
{
	struct timespec until, now;
	size_t have = 0;
	int status, open_ = logfd >= 0, killed = 0;
	pid_t w;

	said[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += secs;
	for (;;) {
		long ms;

		w = waitpid(pid, &status, secs < 0 || killed ? 0 : WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			log_err("waitpid: %s", strerror(errno));
			return -1;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (long)(until.tv_sec - now.tv_sec) * 1000 +
		    (until.tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0 && !killed && secs >= 0) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			killed = 1;
			open_ = 0;
			continue;
		}
		if (open_) {
			struct pollfd pfd = { logfd, POLLIN, 0 };
			char buf[512];
			ssize_t n;

			/* Wake up at least every 50 ms to reap the child. */
			if (poll(&pfd, 1, ms < 50 ? (int)ms : 50) > 0) {
				if ((n = read(logfd, buf, sizeof(buf))) <= 0)
					open_ = n < 0 && errno == EINTR;
				else if (have + 1 < saidsz) {
					size_t k = (size_t)n;

					if (k > saidsz - 1 - have)
						k = saidsz - 1 - have;
					have += sanitize(said + have,
					    saidsz - have, buf, k);
				}
			}
		} else if (!killed)
			pause_briefly();
	}
	if (logfd >= 0)
		close(logfd);
	return killed ? -1 : status;
}

/*
 * Fork one delivery child for the target and wait for it.  Exit 0 is
 * delivered, EX_TEMPFAIL, a signal or a time-out temporary, anything else
 * permanent.
 */
static int
deliver_copy(const struct message *m, const struct target *tg)
{
	const struct template *t = tg->kind == T_REMOTE ? &conf.fwd :
	    conf.mda.n > 0 ? &conf.mda : NULL;
	char *argv[MAX_WORDS + 1], words[4096], said[256];
	struct timespec t0, t1;
	long long ms;
	char addr[MAX_LOGVAL], user[MAX_LOGVAL], esaid[MAX_LOGVAL];
	int status, st, pfd[2] = { -1, -1 };
	pid_t pid;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (t != NULL && expand_words(t, m, tg, words, sizeof(words),
	    argv) != 0) {
		log_err("msg=%s rcpt=<%s>: agent arguments too long", m->id,
		    log_esc(addr, sizeof(addr), tg->addr));
		return DLV_PERM;
	}
	if (t != NULL && pipe(pfd) != 0) {
		log_err("pipe: %s", strerror(errno));
		return DLV_TEMP;
	}
	if ((pid = fork()) < 0) {
		log_err("fork: %s", strerror(errno));
		if (pfd[0] >= 0) {
			close(pfd[0]);
			close(pfd[1]);
		}
		return DLV_TEMP;
	}
	if (pid == 0) {
		if (t == NULL)
			_exit(deliver_local(m, tg->user));
		close(pfd[0]);
		agent_child(m, tg, argv, pfd[1]);
	}
	if (pfd[1] >= 0)
		close(pfd[1]);
	/* The built-in writer bounds its own waits; agents get -k. */
	status = wait_child(pid, pfd[0], t != NULL ? conf.agenttime : -1,
	    said, sizeof(said));
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		st = DLV_OK;
	else if (status == -1 || WIFSIGNALED(status) ||
	    (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL))
		st = DLV_TEMP;
	else
		st = DLV_PERM;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (long long)(t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	log_info("msg=%s rcpt=<%s> %s=%s status=%s exit=%d delay=%lld.%03lld"
	    "%s%s",
	    m->id, log_esc(addr, sizeof(addr), tg->addr), t == NULL ?
	    "mailbox" : tg->kind == T_REMOTE ? "forwarder" : "mda",
	    log_esc(user, sizeof(user), t == NULL ? tg->user : t->words[0]),
	    st == DLV_OK ? "sent" : st == DLV_TEMP ? "deferred" : "bounced",
	    status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + WTERMSIG(status), ms / 1000, ms % 1000,
	    said[0] != '\0' ? " said=" : "",
	    log_esc(esaid, sizeof(esaid), said));
	return st;
}

/*
 * Write the text tty_format() laid out to user's terminal from a child,
 * which tty_send() keeps from blocking.  Returns 0 when it was written.
 */
static int
deliver_tty(const struct message *m, const struct target *tg)
{
	char said[8], addr[MAX_LOGVAL], user[MAX_LOGVAL];
	pid_t pid;
	int fd, status;

	if ((pid = fork()) < 0) {
		log_err("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		if ((fd = tty_open(tg->user)) < 0)
			_exit(EX_TEMPFAIL);
		_exit(tty_send(fd, m) == 0 ? 0 : EX_TEMPFAIL);
	}
	status = wait_child(pid, -1, -1, said, sizeof(said));
	status = status != -1 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0 ? 0 : -1;
	log_info("msg=%s rcpt=<%s> terminal=%s status=%s", m->id,
	    log_esc(addr, sizeof(addr), tg->addr),
	    log_esc(user, sizeof(user), tg->user),
	    status == 0 ? "sent" : "failed");
	return status;
}

/*
 * RFC 821 3.4: MAIL goes to the mailbox, SEND to the terminal only, SOML
 * to the terminal or else the mailbox, SAML to both; "mailbox" is the -m
 * agent if there is one.  A text cut at the terminal's limits is stored
 * whole as well.  Whatever is stored is stored first, so a retry after a
 * failed store shows nothing twice on the terminal.
 */
int
dlv_deliver(const struct message *m, const struct target *tg)
{
	int cut, st;

	if (m->kind == TX_MAIL || tg->kind != T_LOCAL)
		return deliver_copy(m, tg);
	if ((cut = tty_format(m, m->kind != TX_SEND)) < 0)
		return m->kind == TX_SEND ? DLV_TEMP : deliver_copy(m, tg);
	if (m->kind == TX_SEND)		/* after 250 to RCPT: try again */
		return deliver_tty(m, tg) == 0 ? DLV_OK : DLV_TEMP;
	if (m->kind == TX_SOML && !cut)
		return deliver_tty(m, tg) == 0 ? DLV_OK : deliver_copy(m, tg);
	/* SAML, or SOML cut short: stored first, the terminal is extra. */
	if ((st = deliver_copy(m, tg)) == DLV_OK)
		(void)deliver_tty(m, tg);	/* it logs; the copy stands */
	return st;
}
