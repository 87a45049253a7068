/*
 * Terminals for RFC 821 SEND, SOML and SAML: find the recipient's least
 * idle terminal that accepts messages in utmp, and write a message to it
 * the way write(1) would, with every byte outside printable ASCII made
 * visible (with -8, well-formed UTF-8 text other than C1 controls passes).
 * The session asks tty_active() at RCPT and lays the text out with
 * tty_format(); only a delivery child opens the terminal to write it.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <utmpx.h>

#include "smtpd.h"

#ifdef _PATH_UTMPX
#define UTMP_DEFAULT	_PATH_UTMPX
#else
#define UTMP_DEFAULT	"/var/run/utmp"	/* musl's paths.h names /dev/null/utmp */
#endif

/*
 * Linux keeps utmp as glibc's 384-byte records on every libc; musl's
 * struct utmpx is longer (400 bytes on LP64), but ut_type, ut_line and
 * ut_user sit at the same offsets in both.
 */
#ifdef __linux__
#define UT_RECSIZE	384
#else
#define UT_RECSIZE	sizeof(struct utmpx)
#endif
#define UT_LINESIZE	sizeof(((struct utmpx *)0)->ut_line)
#define UT_USERSIZE	sizeof(((struct utmpx *)0)->ut_user)
#define MAX_UTMP_RECS	65536	/* records read per lookup */

#define TTY_MAXLINES	50	/* body lines shown on a terminal */
#define TTY_MAXCOLS	200	/* bytes of escaped text per line */
#define TTY_TIMEOUT	5	/* seconds a stuck terminal may hold a write */

static struct {
	char	 buf[16384];
	size_t	 len;
} text;
static char	line_shown[UT_LINESIZE + 1];	/* the terminal chosen, for logs */

/*
 * Is this ut_line a name under /dev we may open: "tty3" or "pts/3"?
 * No leading '/', no "..", at most one '/', and only [A-Za-z0-9._-].
 */
static int
is_safe_line(const char *line)
{
	const char *p;
	int slashes = 0;

	if (*line == '\0' || *line == '/' || strstr(line, "..") != NULL)
		return 0;
	for (p = line; *p != '\0'; p++) {
		if (*p == '/') {
			if (++slashes > 1 || p[1] == '\0')
				return 0;
		} else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		    *p == '-'))
			return 0;
	}
	return 1;
}

/*
 * Open /dev/LINE if it is a character device owned by owner and writable
 * by its group ("mesg y"), as write(1) decides.  Returns the fd, with the
 * device's access time in *atime, or -1.  Never blocks and never becomes
 * our controlling terminal.
 */
static int
open_line(const char *line, uid_t owner, time_t *atime)
{
	char path[sizeof("/dev/") + UT_LINESIZE];
	struct stat ls, st;
	const char *slash;
	int fd;

	if (!is_safe_line(line))
		return -1;
	snprintf(path, sizeof(path), "/dev/%s", line);
	if ((slash = strchr(line, '/')) != NULL) {
		/* The directory must be a real one: no symlink out of /dev. */
		path[5 + (slash - line)] = '\0';
		if (lstat(path, &ls) != 0 || !S_ISDIR(ls.st_mode))
			return -1;
		path[5 + (slash - line)] = '/';
	}
	if (lstat(path, &ls) != 0 || !S_ISCHR(ls.st_mode) ||
	    ls.st_uid != owner || !(ls.st_mode & S_IWGRP))
		return -1;
	if ((fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW |
	    O_CLOEXEC)) < 0) {
		if (errno == EACCES)
			log_info("tty %s: %s", log_word(path), strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode) ||
	    st.st_dev != ls.st_dev || st.st_ino != ls.st_ino ||
	    st.st_rdev != ls.st_rdev || st.st_uid != owner ||
	    !(st.st_mode & S_IWGRP) || !isatty(fd)) {
		close(fd);
		return -1;
	}
	*atime = st.st_atime;
	return fd;
}

/* Read one whole utmp record; 1, or 0 at the end of the file. */
static int
read_record(int fd, unsigned char *rec)
{
	size_t have = 0;
	ssize_t n;

	while (have < UT_RECSIZE) {
		if ((n = read(fd, rec + have, UT_RECSIZE - have)) < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		if (n == 0)
			return 0;	/* a torn last record is ignored */
		have += (size_t)n;
	}
	return 1;
}

/*
 * The fd of user's least idle terminal that accepts messages, or -1.
 * The recipient is the owner of the mailbox -d/user, and the terminal
 * must belong to the same uid.  utmp is read record by record as it is
 * on disk, since getutxent is a stub on some libcs.
 */
int
tty_open(const char *user)
{
	unsigned char rec[UT_RECSIZE];
	char path[4096], line[UT_LINESIZE + 1];
	const char *utmp = conf.utmp != NULL ? conf.utmp : UTMP_DEFAULT;
	size_t ulen = strlen(user), n;
	struct stat st;
	time_t atime, best_atime = 0;
	int ufd, fd, best = -1;

	if (ulen == 0 || ulen > UT_USERSIZE ||
	    snprintf(path, sizeof(path), "%s/%s", conf.maildir, user) >=
	    (int)sizeof(path) || lstat(path, &st) != 0)
		return -1;
	if ((ufd = open(utmp, O_RDONLY | O_CLOEXEC)) < 0) {
		char esc[MAX_LOGVAL];

		if (errno != ENOENT)
			log_err("utmp=%s error=\"%s\"", log_esc(esc,
			    sizeof(esc), utmp), strerror(errno));
		return -1;
	}
	for (n = 0; n < MAX_UTMP_RECS && read_record(ufd, rec); n++) {
		short type;
		const char *u = (const char *)rec + offsetof(struct utmpx,
		    ut_user);

		memcpy(&type, rec + offsetof(struct utmpx, ut_type),
		    sizeof(type));
		if (type != USER_PROCESS || strncmp(u, user, UT_USERSIZE) != 0)
			continue;
		memcpy(line, rec + offsetof(struct utmpx, ut_line), UT_LINESIZE);
		line[UT_LINESIZE] = '\0';
		if ((fd = open_line(line, st.st_uid, &atime)) < 0)
			continue;
		if (best >= 0 && atime <= best_atime) {
			close(fd);
			continue;
		}
		if (best >= 0)
			close(best);
		best = fd;
		best_atime = atime;
		memcpy(line_shown, line, sizeof(line_shown));
	}
	close(ufd);
	return best;
}

/* Is user logged in on a terminal that accepts messages?  For RCPT. */
int
tty_active(const char *user)
{
	int fd;

	if ((fd = tty_open(user)) < 0)
		return 0;
	close(fd);
	return 1;
}

/* Append to the text; the caps keep it well inside the buffer. */
static void
put(const char *p, size_t n)
{
	if (n > sizeof(text.buf) - text.len)
		n = sizeof(text.buf) - text.len;
	memcpy(text.buf + text.len, p, n);
	text.len += n;
}

static void
put_str(const char *s)
{
	put(s, strlen(s));
}

/*
 * The length of a well-formed UTF-8 sequence at p (n bytes left) for a
 * code point of U+00A0 or above, or 0.  C1 controls (C2 80-9F), overlong
 * forms, surrogates and bytes that start nothing give 0.
 */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (p[0] == 0xc2)
		lo = 0xa0;
	else if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/*
 * Append s as terminal text, at most cap bytes of it.  Tab and printable
 * ASCII stay; C0 and DEL become ^X, bytes 80-9F M-^X and A0-FF M-x, as
 * vis(3) writes them: a terminal of another charset may take any of
 * 80-9F as a C1 control (9B is CSI), and UTF-8 text is full of them.
 * With -8 the terminals are UTF-8, so well-formed UTF-8 text passes,
 * and only a C1 code point (C2 80-9F) becomes one M-^X.  Returns 1 if
 * the text had to be cut, which " [...]" then shows.
 */
static int
put_escaped(const char *s, size_t n, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t col = 0, i = 0;

	while (i < n) {
		char esc[4];
		size_t elen = 0, take = 1;
		unsigned char c = p[i];

		if (c == '\t' || (c >= 0x20 && c < 0x7f))
			esc[elen++] = (char)c;
		else if (c < 0x80 || !conf.utf8tty ||
		    (take = utf8_len(p + i, n - i)) == 0) {
			take = 1;
			if (conf.utf8tty && c == 0xc2 && i + 1 < n &&
			    p[i + 1] >= 0x80 && p[i + 1] <= 0x9f) {
				c = p[i + 1];	/* U+0080-U+009F as UTF-8 */
				take = 2;
			}
			if (c >= 0x80) {
				esc[elen++] = 'M';
				esc[elen++] = '-';
				c &= 0x7f;
			}
			if (c < 0x20 || c == 0x7f) {
				esc[elen++] = '^';
				c ^= 0x40;
			}
			esc[elen++] = (char)c;
		}
		if (col + (elen > 0 ? elen : take) > cap) {
			put(" [...]", 6);
			return 1;
		}
		if (elen > 0)
			put(esc, elen);
		else
			put(s + i, take);	/* UTF-8 text */
		col += elen > 0 ? elen : take;
		i += take;
	}
	return 0;
}

/* One terminal line of at most TTY_MAXCOLS; returns 1 if it was cut. */
static int
put_line(const char *s, size_t n)
{
	int cut = put_escaped(s, n, TTY_MAXCOLS);

	put("\r\n", 2);
	return cut;
}

/* Reads the spool line by line from m->offset. */
struct reader {
	const struct message	*m;
	off_t			 off;
	char			 buf[4096];
	size_t			 pos, len;
};

/*
 * The next line, without its LF, cut to size bytes; returns its length,
 * -1 at the end and -2 on a read error.
 */
static long
next_line(struct reader *r, char *line, size_t size)
{
	size_t n = 0;
	int any = 0;

	for (;;) {
		char *lf;
		size_t take, want;
		ssize_t got;

		if (r->pos == r->len) {
			if (r->off >= r->m->size)
				return any ? (long)n : -1;
			want = sizeof(r->buf);
			if ((off_t)want > r->m->size - r->off)
				want = (size_t)(r->m->size - r->off);
			got = f_pread(r->m->fd, r->buf, want,
			    r->m->offset + r->off);
			if (got <= 0)
				return -2;
			r->off += got;
			r->pos = 0;
			r->len = (size_t)got;
		}
		any = 1;
		lf = memchr(r->buf + r->pos, '\n', r->len - r->pos);
		take = (lf != NULL ? (size_t)(lf - r->buf) : r->len) - r->pos;
		if (take > size - n)
			take = size - n;
		memcpy(line + n, r->buf + r->pos, take);
		n += take;
		if (lf == NULL) {
			r->pos = r->len;
			continue;
		}
		r->pos = (size_t)(lf - r->buf) + 1;
		return (long)n;
	}
}

/* Is the line a header field, "name:" with a name of printable ASCII? */
static int
is_header(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && p[i] != ':'; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return 0;
	return i > 0 && i < n;
}

/* What of the message's header a terminal shows: its Subject: field. */
struct subject {
	char	 text[MAX_TEXTLINE];
	size_t	 len;
	int	 open;		/* continuation lines still belong to it */
};

/*
 * Take a line of the header, keeping the Subject: field with its
 * continuation lines.  Returns 1, or 0 when the line is no header line:
 * the header has ended.
 */
static int
header_line(struct subject *sj, const char *line, size_t len)
{
	if (len > 0 && (line[0] == ' ' || line[0] == '\t')) {
		if (sj->open && len <= sizeof(sj->text) - sj->len) {
			memcpy(sj->text + sj->len, line, len);
			sj->len += len;
		}
		return 1;
	}
	sj->open = 0;
	if (len == 0 || !is_header(line, len))
		return 0;
	if (sj->len == 0 && len > 8 && strncasecmp(line, "Subject:", 8) == 0) {
		memcpy(sj->text, line, len);
		sj->len = len;
		sj->open = 1;
	}
	return 1;
}

/* The first line on the terminal: who sent it, and when. */
static void
put_banner(const struct message *m)
{
	char when[16];
	time_t now = time(NULL);

	strftime(when, sizeof(when), "%H:%M", localtime(&now));
	put_str("\r\nMessage from ");
	if (*m->sender != '\0')
		put_escaped(m->sender, strlen(m->sender), MAX_PATH_LEN);
	else
		put_str("MAILER-DAEMON");
	put_str(" at ");
	put_str(when);
	put_str(" ...\r\n");
}

/*
 * Lay out the message for a terminal: a banner naming the sender and the
 * time, the Subject: if any, the body without the other headers, and an
 * end line.  stored says the mailbox gets the whole message, which the
 * note on a cut message then mentions.  Returns 0, 1 if the text was
 * cut at TTY_MAXLINES or TTY_MAXCOLS, or -1 if the spool can't be read.
 */
int
tty_format(const struct message *m, int stored)
{
	static struct reader rd;
	struct subject sj;
	char line[MAX_TEXTLINE];
	size_t nlines = 0;
	int in_header = 1, cut = 0;
	long n;

	memset(&rd, 0, sizeof(rd));
	rd.m = m;
	sj.len = 0;
	sj.open = 0;
	text.len = 0;
	put_banner(m);
	while ((n = next_line(&rd, line, sizeof(line))) >= 0) {
		size_t len = (size_t)n;

		if (in_header) {
			if (header_line(&sj, line, len))
				continue;
			/* The end of the header, or a text without one. */
			in_header = 0;
			if (sj.len > 0 && put_line(sj.text, sj.len))
				cut = 1;
			if (len == 0)
				continue;
		}
		if (nlines++ == TTY_MAXLINES) {
			cut = 1;
			break;
		}
		if (put_line(line, len))
			cut = 1;
	}
	if (n == -2) {
		log_warn("msg=%s spool read", m->id);
		return -1;
	}
	if (in_header && sj.len > 0 && put_line(sj.text, sj.len))
		cut = 1;
	if (cut && stored)
		put_str("[message cut; the whole text is in the mailbox]\r\n");
	else if (cut)
		put_str("[message cut]\r\n");
	put_str("EOF\r\n");
	return cut;
}

/*
 * Write what tty_format() laid out to the terminal fd and close it.  The
 * fd is non-blocking: a terminal that takes nothing for TTY_TIMEOUT
 * seconds (say, stopped with ^S) fails the write, and an alarm ends the
 * delivery child should anything else hang.  Returns 0 or -1.
 */
int
tty_send(int fd, const struct message *m)
{
	struct timespec end, now, pause = { 0, 20 * 1000 * 1000 };
	const char *p = text.buf;
	size_t left = text.len;
	int rc = 0;

	alarm(2 * TTY_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += TTY_TIMEOUT;
	while (left > 0) {
		struct pollfd pfd = { fd, POLLOUT, 0 };
		ssize_t w;
		long ms;

		if ((w = write(fd, p, left)) >= 0) {
			p += w;
			left -= (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			rc = -1;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (long)(end.tv_sec - now.tv_sec) * 1000 +
		    (end.tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0 || poll(&pfd, 1, (int)ms) == 0) {
			errno = ETIMEDOUT;
			rc = -1;
			break;
		}
		/* A stopped tty polls writable yet takes nothing: no spin. */
		nanosleep(&pause, NULL);
	}
	if (rc != 0)
		log_warn("msg=%s tty /dev/%s", m->id, log_word(line_shown));
	else
		log_info("msg=%s tty=/dev/%s bytes=%zu", m->id,
		    log_word(line_shown), text.len);
	if (close(fd) != 0 && rc == 0) {
		log_warn("msg=%s tty /dev/%s: close", m->id,
		    log_word(line_shown));
		rc = -1;
	}
	alarm(0);
	return rc;
}
