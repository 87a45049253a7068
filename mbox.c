/*
 * The mbox writer, run in a delivery child: open DIR/user without following
 * links, take its fcntl lock and the user.lock dotlock (NFS-safe, broken
 * when stale or its holder is dead, a dead holder's partial copy cut off
 * when it is provably its own), append the From_ line, the envelope
 * headers and the mboxrd-quoted text, fsync, and on any failure cut the
 * mailbox back to where it was.  The mbox is only ever read through the
 * locked descriptor: closing any other one would drop the fcntl lock.
 * A stop signal (SIGTERM, SIGHUP, SIGINT) ends the wait for the fcntl
 * lock; once that is held it is blocked until the copy is done.
 * Returns sysexits codes.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpd.h"

static struct f_out	out;

#define STALE_LOCK	300	/* seconds after which a dotlock is stale */

/*
 * A dotlock of smtpd's: a first line "smtpd PID", or once it knows where
 * its copy goes "smtpd PID DEV INODE START END MARKLEN", padded with
 * blanks to LOCK_HEAD bytes, then the copy's first MARKLEN bytes (its
 * From_ line, the envelope headers and the start of the message, whose
 * Received: field carries its id): the marker only that copy begins with.
 */
#define LOCK_HEAD	128
#define MARK_MAX	2048
#define LOCK_REC	(LOCK_HEAD + MARK_MAX)

struct lockinfo {
	long			 pid;
	unsigned long long	 dev, ino;
	long long		 start;		/* size before the copy */
	long long		 end;		/* size after a whole copy */
	size_t			 marklen;
	int			 fields;	/* numbers read: 6 when all */
	char			 mark[MARK_MAX];
};

/*
 * The whole record, always LOCK_REC bytes, so that rewriting it is one
 * pwrite(2) over the old one, never a shorter text over a longer.
 */
static void
lock_pad(char rec[LOCK_REC], const char *text, const char *mark,
    size_t marklen)
{
	size_t n = strlen(text);

	if (n > LOCK_HEAD - 1)
		n = LOCK_HEAD - 1;
	memcpy(rec, text, n);
	memset(rec + n, ' ', LOCK_HEAD - 1 - n);
	rec[LOCK_HEAD - 1] = '\n';
	memset(rec + LOCK_HEAD, '\0', MARK_MAX);
	if (marklen > 0)
		memcpy(rec + LOCK_HEAD, mark, marklen);
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

	if (f_mailbox(tmp, sizeof(tmp), ".smtpd-lock.", "XXXXXX") != 0 ||
	    (fd = mkstemp(tmp)) < 0)
		return -1;
	lock_pad(rec, text, NULL, 0);
	ok = write(fd, rec, LOCK_REC) == LOCK_REC && link(tmp, lock) == 0;
	e = errno;
	if (unlink(tmp) != 0 && errno != ENOENT)
		log_warn("mbox %s: unlink", log_word(tmp));
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
lock_rewrite(int fd, const char *text, const char *mark, size_t marklen)
{
	char rec[LOCK_REC];

	lock_pad(rec, text, mark, marklen);
	return pwrite(fd, rec, LOCK_REC, 0) == LOCK_REC ? 0 : -1;
}

/* Two digits of v at p, the first a pad when v < 10. */
static char *
two_digits(char *p, int v, char pad)
{
	*p++ = v < 10 ? pad : (char)('0' + v / 10 % 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

/*
 * Read the dotlock ls names; returns how many fields of ours it held (0:
 * foreign).  Only that file, regular with one link, is read: a hard link
 * to some other file, or one put in its place, says nothing.  A record
 * whose marker does not fit counts as "smtpd PID" alone.
 */
static int
lock_read(const char *lock, const struct stat *ls, struct lockinfo *li)
{
	char buf[LOCK_REC + 1];
	struct stat st;
	ssize_t n = -1;
	int fd, k;

	memset(li, 0, sizeof(*li));
	if ((fd = open(lock, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
	    st.st_dev == ls->st_dev && st.st_ino == ls->st_ino)
		n = f_pread(fd, buf, LOCK_REC, 0);
	close(fd);	/* not the mbox: its fcntl lock is not touched */
	buf[n > 0 ? n : 0] = '\0';
	k = sscanf(buf, "smtpd %ld %llu %llu %lld %lld %zu", &li->pid,
	    &li->dev, &li->ino, &li->start, &li->end, &li->marklen);
	if (k == 6 && (li->marklen == 0 || li->marklen > MARK_MAX ||
	    n < LOCK_HEAD + (ssize_t)li->marklen || buf[LOCK_HEAD - 1] != '\n'))
		k = 1;
	if (k == 6)
		memcpy(li->mark, buf + LOCK_HEAD, li->marklen);
	return li->fields = k > 0 ? k : 0;
}

/* A lock smtpd cannot remove, or will not honour: logged, -2. */
static int
lock_stuck(const char *lock, const struct stat *st)
{
	log_err("mbox %s: lock held by uid %ld, cannot remove", log_word(lock),
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
				k = lock_read(lock, &st, &li);
			if (k > 0 && li.pid > 0 && kill((pid_t)li.pid, 0) != 0 &&
			    errno == ESRCH)
				stale = 1;
			if (t->shared && !f_trusted_uid(t, st.st_uid))
				return lock_stuck(lock, &st);
			if (stale) {
				if (unlink(lock) != 0 && errno != ENOENT)
					return errno == EPERM || errno == EACCES ?
					    lock_stuck(lock, &st) : -1;
				log_info("broke stale lock %s", log_word(lock));
				if (k > 0)
					*dead = li;
				continue;
			}
		}
		if (time(NULL) >= until) {
			errno = EWOULDBLOCK;
			return -1;
		}
		if (f_stopping()) {	/* nothing written yet: give up */
			errno = EINTR;
			return -1;
		}
		f_pause();
	}
}

/*
 * The mboxrd "From " line: sender without blanks, then the date of now,
 * which is fixed for the whole delivery so that the marker in the lock
 * and the copy begin alike.
 */
static void
from_line(struct f_out *o, const char *sender, time_t now)
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
	f_put(o, line, n);
	f_put(o, date, datelen);
}

/*
 * The copy for the mbox: From_ line, envelope headers (name in
 * Delivered-To:), text, blank line.
 */
static int
mbox_copy(struct f_out *o, const struct message *m, const char *name,
    time_t now)
{
	int r;

	from_line(o, m->sender, now);
	f_envelope(o, m, name);
	r = f_copy(m, o, m->has_from);
	f_put(o, "\n", 1);
	f_flush(o);
	return r;
}

/*
 * Open the mbox for appending, and for reading where smtpd may, so that
 * a dead delivery's tail is read through the descriptor that holds the
 * lock (a mailbox smtpd may only write is never cut).
 */
static int
mbox_open(const char *path, const char *user)
{
	int fl = O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC;
	int fd;

	if ((fd = open(path, fl)) < 0 && errno == EACCES)
		fd = open(path, fl = (fl & ~O_RDWR) | O_WRONLY);
	if (fd >= 0 || errno != ENOENT || strcmp(user, "postmaster") != 0)
		return fd;
	/* RFC 5321 4.5.1: postmaster always exists. */
	if ((fd = open(path, fl | O_CREAT | O_EXCL, 0600)) < 0 &&
	    errno == EEXIST)
		fd = open(path, fl);
	return fd;
}

static void
on_alarm(int sig)
{
	(void)sig;	/* only interrupts F_SETLKW */
}

/*
 * Wait for the fcntl lock until the time until: blocking, so that the lock
 * passes on the moment its holder lets go, with an alarm to bound it.
 * Nothing is held or written yet, so a stop signal may end the wait (and
 * the child); from the moment the lock is held, stop signals wait until
 * the copy is done.
 */
static int
lock_wait(int fd, struct flock *fl, time_t until)
{
	struct sigaction sa, old;
	time_t left = until - time(NULL);
	int r;

	f_hold_stops(0);
	r = fcntl(fd, F_SETLK, fl);
	f_hold_stops(1);
	if (r == 0)
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
	f_hold_stops(0);
	r = fcntl(fd, F_SETLKW, fl);
	f_hold_stops(1);
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

		log_warn("mbox %s", log_word(path));
		return e == ELOOP ? EX_TEMPFAIL : f_exit_code(e);
	}
	if (fstat(out.fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_nlink != 1) {
		log_err("mbox %s: not a regular file with one link; refused",
		    log_word(path));
		close(out.fd);
		return EX_TEMPFAIL;
	}
	if (!f_trusted(path, &st, t)) {
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
		log_warn("mbox %s: fcntl lock", log_word(path));
		close(out.fd);
		return EX_TEMPFAIL;
	}
	if ((r = dotlock(lock, until, t, dead, lfd)) != 0) {
		if (r == -1)
			log_warn("mbox %s: lock", log_word(lock));
		close(out.fd);
		return EX_TEMPFAIL;
	}
	/* Readers rewrite a mailbox by replacing it: is ours still there? */
	if (fstat(out.fd, stp) == 0 && lstat(path, &now) == 0 &&
	    stp->st_dev == now.st_dev && stp->st_ino == now.st_ino &&
	    stp->st_nlink == 1)
		return 0;
	log_info("mbox %s: replaced while waiting for the lock; reopening",
	    log_word(path));
	if (unlink(lock) != 0)
		log_warn("mbox %s: unlock", log_word(lock));
	close(*lfd);
	close(out.fd);
	return 1;
}

/* Is there a "From " anywhere, mid-line too, in the n bytes of fd at off? */
static int
has_from(int fd, off_t off, off_t n)
{
	char buf[8192 + 4];
	size_t keep = 0;
	ssize_t r;

	while (n > 0) {
		size_t want = n < 8192 ? (size_t)n : 8192;
		char *p, *end;

		if ((r = f_pread(fd, buf + keep, want, off)) <= 0)
			return 1;	/* unreadable: assume the worst */
		off += r;
		n -= r;
		end = buf + keep + r;
		for (p = buf; (p = memchr(p, 'F', (size_t)(end - p))) != NULL;
		    p++)
			if (end - p >= 5 && memcmp(p, "From ", 5) == 0)
				return 1;
		keep = end - buf < 4 ? (size_t)(end - buf) : 4;
		memmove(buf, end - keep, keep);
	}
	return 0;
}

/*
 * Is every byte of the mbox (fd, st) from the dead delivery's start on its
 * own?  Only when its lock said all (6 fields) about this very file, the
 * tail is no longer than its whole copy, begins with its marker (or is a
 * beginning of it), and holds no "From " after its first byte: any other
 * writer's message starts with one.  The tail is read through fd, the
 * descriptor that holds the fcntl lock.
 */
static int
tail_is_own(int fd, const struct stat *st, const struct lockinfo *dead)
{
	char head[MARK_MAX];
	off_t n = st->st_size - (off_t)dead->start;
	size_t k = n <= 0 ? 0 : n < (off_t)dead->marklen ? (size_t)n :
	    dead->marklen;

	return dead->fields == 6 && dead->start >= 0 && n > 0 &&
	    dead->dev == (unsigned long long)st->st_dev &&
	    dead->ino == (unsigned long long)st->st_ino &&
	    st->st_size <= (off_t)dead->end &&
	    f_pread(fd, head, k, (off_t)dead->start) == (ssize_t)k &&
	    memcmp(head, dead->mark, k) == 0 &&
	    !has_from(fd, (off_t)dead->start + 1, n - 1);
}

/*
 * Cut what a killed delivery (dead, from its lock) left at the end of the
 * mbox, but only when that tail is provably its own (tail_is_own()).
 * Anything else (a writer that does not use the dotlock appended after
 * it, or a record that is not smtpd's) is left alone and logged.  Returns
 * the size the mbox has now, or -1.
 */
static off_t
cut_dead_tail(const char *path, const struct stat *st,
    const struct lockinfo *dead)
{
	off_t n = st->st_size - (off_t)dead->start;

	/* "smtpd PID" alone: killed before it knew where it would write. */
	if (dead->fields < 2 || (dead->fields == 6 && n <= 0))
		return st->st_size;
	if (!tail_is_own(out.fd, st, dead)) {
		log_err("mbox %s: a killed delivery's tail is not provably "
		    "its own; left alone", log_word(path));
		return st->st_size;
	}
	log_err("mbox %s: cutting %lld bytes a killed delivery left",
	    log_word(path), (long long)n);
	if (ftruncate(out.fd, (off_t)dead->start) != 0)
		return -1;
	return (off_t)dead->start;
}

/*
 * Would mboxrd quoting change the line from p to end?  One cut short
 * (more to come) may be, if what it has could begin such a line.
 */
static int
may_be_quoted(const char *p, const char *end, int whole)
{
	while (p < end && *p == '>')
		p++;
	if (end - p >= 5 || whole)
		return end - p >= 5 && memcmp(p, "From ", 5) == 0;
	return memcmp(p, "From ", (size_t)(end - p)) == 0;
}

/*
 * The marker: the copy's first bytes (up to MARK_MAX) as mbox_copy() will
 * write them at the time now.  When the copy quotes, the message's part
 * ends before the first line that is, or may be, written otherwise.
 */
static size_t
copy_mark(const struct message *m, const char *name, time_t now,
    char *mark)
{
	char *p, *end;
	size_t n;
	ssize_t r;

	out.len = 0;		/* out.fd is -1: nothing is written */
	from_line(&out, m->sender, now);
	f_envelope(&out, m, name);
	n = out.len < MARK_MAX ? out.len : MARK_MAX;
	memcpy(mark, out.buf, n);
	out.len = 0;
	r = f_pread(m->fd, mark + n, m->size < (off_t)(MARK_MAX - n) ?
	    (size_t)m->size : MARK_MAX - n, m->offset);
	end = mark + n + (r > 0 ? r : 0);
	if (m->has_from)
		for (p = mark + n; p < end; p++) {
			char *nl = memchr(p, '\n', (size_t)(end - p));

			if (may_be_quoted(p, nl != NULL ? nl : end, nl != NULL))
				end = p;
			else if ((p = nl) == NULL)
				break;
		}
	return (size_t)(end - mark);
}

/*
 * A mbox that ends inside a line (a tail left alone) gets a line end and
 * a blank line first, so that the copy's From_ line begins a message.
 * Returns the size the mbox has now, or -1.
 */
static off_t
end_line(off_t size)
{
	char c;

	if (size == 0 || f_pread(out.fd, &c, 1, size - 1) != 1 || c == '\n')
		return size;	/* unreadable: written as it is */
	return f_write(out.fd, "\n\n", 2) == 0 ? size + 2 : -1;
}

/*
 * Say in the lock we hold where the copy will go: the mbox (st), where it
 * starts, where a whole copy ends (counted first) and the marker it
 * begins with, so that a delivery that finds the lock of a dead one can
 * cut off exactly its tail, and nothing that is not.
 */
static int
lock_announce(int lfd, const char *lock, const struct message *m,
    const char *name, const struct stat *st, off_t start, time_t now)
{
	char text[128], mark[MARK_MAX];
	size_t marklen;
	int fd = out.fd;

	out.fd = -1;
	out.count = 0;
	marklen = copy_mark(m, name, now, mark);
	mbox_copy(&out, m, name, now);
	out.fd = fd;
	log_fmt(text, sizeof(text), "smtpd %ld %llu %llu %lld %lld %zu\n",
	    (long)getpid(), (unsigned long long)st->st_dev,
	    (unsigned long long)st->st_ino, (long long)start,
	    (long long)(start + out.count), marklen);
	if (lock_rewrite(lfd, text, mark, marklen) != 0) {
		log_warn("mbox %s: lock", log_word(lock));
		return -1;
	}
	return 0;
}

/*
 * Append one copy to the mbox DIR/user, named name in Delivered-To:;
 * returns a sysexits code.
 */
int
mbox_deliver(const struct message *m, const char *user, const char *name,
    const struct trust *t)
{
	char path[4096], lock[4096];
	struct stat st;
	struct lockinfo dead;
	off_t start;
	time_t now, until = time(NULL) + conf.lockwait;
	int rc = EX_TEMPFAIL, tries = 0, lfd = -1;

	if (f_mailbox(path, sizeof(path), user, "") != 0 ||
	    f_mailbox(lock, sizeof(lock), user, ".lock") != 0)
		return EX_NOUSER;
	while ((rc = mbox_lock(path, lock, user, until, t, &dead, &lfd,
	    &st)) == 1)
		if (++tries == 3) {
			log_err("mbox %s: replaced again and again; deferred",
			    log_word(path));
			return EX_TEMPFAIL;
		}
	if (rc == EX_NOUSER && tries > 0)
		rc = EX_TEMPFAIL;	/* it was there a moment ago */
	if (rc != 0)
		return rc;
	rc = EX_TEMPFAIL;
	now = time(NULL);
	if ((start = cut_dead_tail(path, &st, &dead)) < 0 ||
	    (start = end_line(start)) < 0 ||
	    lock_announce(lfd, lock, m, name, &st, start, now) != 0)
		goto unlock;
	if (mbox_copy(&out, m, name, now) != 0 && out.err == 0)
		out.err = errno ? errno : EIO;
	if (out.err == 0 && fsync(out.fd) != 0)
		out.err = errno;
	if (out.err != 0) {
		errno = out.err;
		log_warn("mbox %s: write", log_word(path));
		if (ftruncate(out.fd, start) != 0 || fsync(out.fd) != 0)
			log_warn("mbox %s: truncate", log_word(path));
	} else
		rc = 0;
unlock:
	if (unlink(lock) != 0)
		log_warn("mbox %s: unlock", log_word(lock));
	(void)close(lfd);	/* unlinked already: nothing to lose */
	if (close(out.fd) != 0 && rc == 0)
		rc = EX_TEMPFAIL;
	return rc;
}
