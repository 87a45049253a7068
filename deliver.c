/*
 * Local delivery: mailbox lookup, the spool, and one forked child per
 * recipient that appends to an mbox or writes into a Maildir.  Nothing
 * here talks to the client; results go back as enum dlv_status.
 */
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
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

/* Buffered output to a mailbox file; err keeps the first errno. */
struct out {
	int	 fd;
	int	 err;
	size_t	 len;
	char	 buf[65536];
};

static struct out	out;
static char		inbuf[65536];

/* Is this local part one that may name a mailbox at all? */
int
dlv_valid_user(const char *u)
{
	const char *p;

	if (*u == '\0' || *u == '.')
		return 0;
	for (p = u; *p != '\0'; p++)
		if (*p == '/' || (unsigned char)*p < 0x20 ||
		    (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

static int
mailbox_path(char *buf, size_t sz, const char *user, const char *suffix)
{
	int n = snprintf(buf, sz, "%s/%s%s", conf.maildir, user, suffix);

	return n > 0 && (size_t)n < sz ? 0 : -1;
}

/* Does user have a mailbox: a regular file or a directory in -d? */
int
dlv_exists(const char *user)
{
	char path[4096];
	struct stat st;

	if (!dlv_valid_user(user) ||
	    mailbox_path(path, sizeof(path), user, "") != 0 ||
	    lstat(path, &st) != 0)
		return 0;
	return S_ISREG(st.st_mode) || S_ISDIR(st.st_mode);
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

	while (o->len > 0 && o->err == 0) {
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
 * Append the spool to o from offset 0.  Without quoting the spool is read
 * straight into the output buffer, so a small message is one write.
 */
static int
copy_spool(const struct message *m, struct out *o, int quote)
{
	off_t off = 0;
	size_t have = 0;
	ssize_t n;

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
		if ((n = pread(m->fd, dst, room, off)) <= 0) {
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

	n = snprintf(hdr, sizeof(hdr), "Return-Path: <%s>\nDelivered-To: "
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

/*
 * Take DIR/user.lock.  The lock holds "smtpd PID OFFSET" so that the next
 * deliverer can cut off what a killed one half-appended: *recover is set
 * to that offset when a stale lock of ours is broken, else -1.
 */
static int
dotlock(const char *lock, time_t until, off_t *recover)
{
	char buf[64];
	struct stat st;
	int fd;

	*recover = -1;
	for (;;) {
		long pid;
		long long off;
		ssize_t n;
		int stale;

		fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		if (errno != EEXIST)
			return -1;
		if (lstat(lock, &st) != 0)
			continue;		/* just went away */
		stale = time(NULL) - st.st_mtime > STALE_LOCK;
		buf[0] = '\0';
		if (S_ISREG(st.st_mode) && (fd = open(lock, O_RDONLY |
		    O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) >= 0) {
			n = read(fd, buf, sizeof(buf) - 1);
			buf[n > 0 ? n : 0] = '\0';
			close(fd);
		}
		if (sscanf(buf, "smtpd %ld %lld", &pid, &off) == 2) {
			if (pid > 0 && kill((pid_t)pid, 0) != 0 &&
			    errno == ESRCH)
				stale = 1;
			if (stale)
				*recover = (off_t)off;
		}
		if (stale) {
			log_info("breaking stale lock %s", lock);
			if (unlink(lock) != 0 && errno != ENOENT)
				return -1;
			continue;
		}
		if (time(NULL) >= until) {
			errno = EWOULDBLOCK;
			return -1;
		}
		pause_briefly();
	}
	close(fd);
	return 0;
}

static int
write_lock_offset(const char *lock, off_t off)
{
	char buf[64];
	int fd, n, ok;

	if ((fd = open(lock, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	n = snprintf(buf, sizeof(buf), "smtpd %ld %lld\n", (long)getpid(),
	    (long long)off);
	ok = write(fd, buf, (size_t)n) == n;
	return close(fd) == 0 && ok ? 0 : -1;
}

/* The mboxrd "From " line: sender without blanks, then the date. */
static void
from_line(struct out *o, const char *sender)
{
	char line[MAX_PATH_LEN + 64], date[32];
	time_t now = time(NULL);
	size_t i, n;

	n = (size_t)snprintf(line, sizeof(line), "From %s",
	    *sender != '\0' ? sender : "MAILER-DAEMON");
	for (i = 5; i < n; i++)
		if (line[i] == ' ' || line[i] == '\t')
			line[i] = '_';
	strftime(date, sizeof(date), " %a %b %e %H:%M:%S %Y\n",
	    localtime(&now));
	out_put(o, line, n);
	out_put(o, date, strlen(date));
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

/* Append one copy to the mbox DIR/user; returns a sysexits code. */
static int
deliver_mbox(const struct message *m, const char *user)
{
	char path[4096], lock[4096];
	struct flock fl;
	struct stat st;
	off_t start, recover;
	time_t until = time(NULL) + conf.lockwait;
	int rc = EX_TEMPFAIL;

	if (mailbox_path(path, sizeof(path), user, "") != 0 ||
	    mailbox_path(lock, sizeof(lock), user, ".lock") != 0)
		return EX_NOUSER;
	if ((out.fd = mbox_open(path, user)) < 0) {
		log_err("mbox %s: %s", path, strerror(errno));
		return errno == ELOOP ? EX_TEMPFAIL : errno_status(errno);
	}
	if (fstat(out.fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_nlink != 1) {
		log_err("mbox %s: not a regular file with one link; refused",
		    path);
		return EX_TEMPFAIL;
	}
	if (dotlock(lock, until, &recover) != 0) {
		log_err("mbox %s: lock: %s", lock, strerror(errno));
		return EX_TEMPFAIL;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	while (fcntl(out.fd, F_SETLK, &fl) != 0) {
		if ((errno != EACCES && errno != EAGAIN) || time(NULL) >= until) {
			log_err("mbox %s: fcntl lock: %s", path, strerror(errno));
			goto unlock;
		}
		pause_briefly();
	}
	if (fstat(out.fd, &st) != 0)
		goto unlock;
	start = st.st_size;
	if (recover >= 0 && recover < start) {
		log_err("mbox %s: cutting %lld bytes a killed delivery left",
		    path, (long long)(start - recover));
		if (ftruncate(out.fd, recover) != 0)
			goto unlock;
		start = recover;
	}
	if (write_lock_offset(lock, start) != 0)
		goto unlock;

	from_line(&out, m->sender);
	envelope_headers(&out, m, user);
	if (copy_spool(m, &out, m->has_from) != 0)
		out.err = errno ? errno : EIO;
	out_put(&out, "\n", 1);
	out_flush(&out);
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
	int md, nd, rc = EX_TEMPFAIL;
	size_t i;

	if (mailbox_path(path, sizeof(path), user, "") != 0 ||
	    (md = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0) {
		log_err("maildir %s: %s", path, strerror(errno));
		return EX_TEMPFAIL;
	}
	memcpy(host, conf.hostname, sizeof(host));
	for (i = 0; host[i] != '\0'; i++)
		if (host[i] == '/' || host[i] == ':')
			host[i] = '_';
	gettimeofday(&tv, NULL);
	snprintf(tmp, sizeof(tmp), "tmp/%lld.M%06ldP%ldQ%u.%s",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
	    ++counter, host);
	snprintf(new, sizeof(new), "new/%s", tmp + 4);
	if ((out.fd = openat(md, tmp, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, mode)) < 0) {
		log_err("maildir %s/%s: %s", path, tmp, strerror(errno));
		close(md);
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
	if (out.err == 0 && linkat(md, tmp, md, new, 0) != 0 &&
	    (errno == EEXIST || renameat(md, tmp, md, new) != 0))
		out.err = errno;
	if (out.err == 0 && (nd = openat(md, "new", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) >= 0) {
		if (fsync(nd) != 0)
			out.err = errno;
		close(nd);
	}
	if (out.err != 0)
		log_err("maildir %s/%s: %s", path, tmp, strerror(out.err));
	else
		rc = 0;
	if (unlinkat(md, tmp, 0) != 0 && errno != ENOENT) {
		log_err("maildir %s/%s: unlink: %s", path, tmp, strerror(errno));
		rc = EX_TEMPFAIL;
	}
	close(md);
	return rc;
}

/* The delivery child: choose the writer by what DIR/user is. */
static int
deliver_local(const struct message *m, const char *user)
{
	char path[4096];
	struct stat st;

	if (mailbox_path(path, sizeof(path), user, "") != 0)
		return EX_NOUSER;
	if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return deliver_maildir(m, user, st.st_mode & 0660);
	if (lstat(path, &st) != 0 && strcmp(user, "postmaster") != 0)
		return errno_status(errno);
	return deliver_mbox(m, user);
}

/*
 * RFC 821 3.4: MAIL goes to the mailbox, SEND to the terminal only, SOML
 * to the terminal or else the mailbox, SAML to both.  A text too long for
 * the terminal is stored whole as well.  The mailbox is written first, so
 * a retry after a failed store shows nothing twice on the terminal.
 */
static int
deliver_kind(const struct message *m, const char *user)
{
	int fd, cut, rc;

	if (m->kind == TX_MAIL)
		return deliver_local(m, user);
	if ((fd = tty_open(user)) < 0)	/* SEND: gone since RCPT */
		return m->kind == TX_SEND ? EX_TEMPFAIL : deliver_local(m, user);
	if ((cut = tty_format(m, m->kind != TX_SEND)) < 0) {
		close(fd);
		return EX_TEMPFAIL;
	}
	if (m->kind == TX_SAML || (m->kind == TX_SOML && cut)) {
		if ((rc = deliver_local(m, user)) != 0) {
			close(fd);
			return rc;
		}
		/* Stored: the terminal is extra, and tty_send() logs. */
		(void)tty_send(fd, m);
		return 0;
	}
	if (tty_send(fd, m) == 0)
		return 0;
	return m->kind == TX_SEND ? EX_TEMPFAIL : deliver_local(m, user);
}

/*
 * Fork one delivery child for r and wait for it.  Exit 0 is delivered,
 * EX_TEMPFAIL or a signal temporary, anything else permanent.
 */
int
dlv_deliver(const struct message *m, struct rcpt *r)
{
	struct timespec t0, t1;
	pid_t pid;
	int status, st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((pid = fork()) < 0) {
		log_err("fork: %s", strerror(errno));
		return DLV_TEMP;
	}
	if (pid == 0)
		_exit(deliver_kind(m, r->user));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			log_err("waitpid: %s", strerror(errno));
			return DLV_TEMP;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		st = DLV_OK;
	else if (WIFSIGNALED(status) ||
	    (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL))
		st = DLV_TEMP;
	else
		st = DLV_PERM;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("msg=%s rcpt=<%s> mailbox=%s status=%s delay=%.3f", m->id,
	    r->addr, r->user, st == DLV_OK ? "sent" : st == DLV_TEMP ?
	    "deferred" : "bounced", (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return st;
}
