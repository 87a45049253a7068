/*
 * Logging: formatted lines to syslog (LOG_MAIL, opened by main), die(),
 * the two escapers every peer string passes before it reaches a reply, a
 * log line or a header (log_word() escapes file names and other names
 * read from files into its own buffers), and log_fmt(), a small snprintf()
 * for the formats of the hot path.  Calls nothing of ours.
 *
 * The lines go to /dev/log over one socket per process, opened by
 * log_open() before any chroot, in syslog(3)'s format with the ident
 * "smtpd" and the pid.  The C library's syslog() opens, connects and
 * closes a new socket for every line while nothing listens there.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "smtpd.h"

static int	 log_fd = -1;
static int	 log_stream;	/* /dev/log is a stream socket: '\0' ends a line */

static void vlog(int, const char *, va_list) PRINTFLIKE(2, 0);

/* Connect to /dev/log; -1 if nothing listens there. */
static int
log_connect(void)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, "/dev/log", sizeof("/dev/log"));
	log_stream = 0;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return fd;
	if (errno == EPROTOTYPE) {
		close(fd);
		log_stream = 1;
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
		    0)) == -1)
			return -1;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
	}
	close(fd);
	return -1;
}

/*
 * Open the log socket, as openlog("smtpd", LOG_PID | LOG_NDELAY, LOG_MAIL)
 * would, while /dev/log is still reachable.  If nothing listens, lines are
 * dropped: nothing would listen inside a jail later either.
 */
void
log_open(void)
{
	int saved = errno;

	log_fd = log_connect();
	errno = saved;
}

/* The local time of t, converted once a second. */
const struct tm *
log_tm(time_t t)
{
	static time_t last = (time_t)-1;
	static struct tm tm;

	if (t != last) {
		if (localtime_r(&t, &tm) == NULL)
			memset(&tm, 0, sizeof(tm));
		last = t;
	}
	return &tm;
}

static const char months[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* Send "<PRI>Mmm dd hh:mm:ss smtpd[PID]: msg", as syslog(3) does. */
static void
log_send(int prio, const char *msg)
{
	const struct tm *tm = log_tm(time(NULL));
	char line[1200];
	int n;

	if (log_fd == -1)
		return;
	n = log_fmt(line, sizeof(line), "<%d>%s %2d %02d:%02d:%02d smtpd[%ld]: "
	    "%s", LOG_MAIL | prio, months[tm->tm_mon % 12], tm->tm_mday,
	    tm->tm_hour, tm->tm_min, tm->tm_sec, (long)getpid(), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	/* A stream socket gets the terminating '\0' too. */
	n += log_stream;
	if (send(log_fd, line, (size_t)n, MSG_NOSIGNAL) == n)
		return;
	/* The log daemon restarted: one new socket, one more try. */
	close(log_fd);
	if ((log_fd = log_connect()) == -1)
		return;
	/* Nothing to do if this fails too: there is nowhere to say so. */
	(void)send(log_fd, line, (size_t)n, MSG_NOSIGNAL);
}

static void
vlog(int prio, const char *fmt, va_list ap)
{
	char msg[1024];
	int saved = errno;

	log_vfmt(msg, sizeof(msg), fmt, ap);
	log_send(prio, msg);
	/* Callers read errno after logging it. */
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
}

static void vlog_errno(const char *, va_list) PRINTFLIKE(1, 0);

/* Log at LOG_ERR with ": " and strerror(errno) appended; errno is kept. */
static void
vlog_errno(const char *fmt, va_list ap)
{
	char msg[1024];
	int saved = errno;

	log_vfmt(msg, sizeof(msg), fmt, ap);
	log_err("%s: %s", msg, strerror(saved));
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(fmt, ap);
	va_end(ap);
}

/* die() with ": " and strerror(errno) appended, as log_warn() does. */
void
die_errno(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(fmt, ap);
	va_end(ap);
	exit(1);
}

void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

/*
 * Copy at most n bytes of src into dst (of size dstsz, always terminated),
 * replacing anything outside printable ASCII with '?'.  Every peer string
 * passes here before it reaches a reply, a log line or a header.
 */
size_t
sanitize(char *dst, size_t dstsz, const char *src, size_t n)
{
	size_t i;

	if (dstsz == 0)
		return 0;
	for (i = 0; i < n && i + 1 < dstsz && src[i] != '\0'; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[i] = '\0';
	return i;
}

/*
 * Copy s into dst (of size dstsz, always terminated) as one word of a
 * key=value log line: bytes outside printable ASCII, and the blank, '"'
 * and '\\' become \\xHH, so a client can neither end a field nor forge
 * one.  A value that does not fit is cut at a whole byte.  Returns dst.
 */
const char *
log_esc(char *dst, size_t dstsz, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c > 0x20 && c < 0x7f && c != '"' && c != '\\') {
			if (n + 1 >= dstsz)
				break;
			dst[n++] = (char)c;
		} else {
			if (n + 4 >= dstsz)
				break;
			dst[n++] = '\\';
			dst[n++] = 'x';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 0xf];
		}
	}
	if (dstsz > 0)
		dst[n] = '\0';
	return dst;
}

/*
 * s escaped as log_esc() does, in the next of four static buffers, for a
 * value that goes straight into a log call: a file name, or a name read
 * from a file, a queue entry or the environment.  One call of log_info()
 * and the like may hold four of them.
 */
const char *
log_word(const char *s)
{
	static char buf[4][MAX_LOGVAL];
	static unsigned int next;

	next = (next + 1) % 4;
	return log_esc(buf[next], sizeof(buf[next]), s);
}

/*
 * Copy the n bytes of s into dst (of size dstsz, always terminated) as a
 * word that a header comment, a log value and a reply all take as it is:
 * letters, digits and "._+/-" stay, every other byte becomes '_'.  For
 * what a TLS front says of the connection (TLSv1.3, a cipher's name).
 */
void
log_token(char *dst, size_t dstsz, const char *s, size_t n)
{
	size_t i;

	if (dstsz == 0)
		return;
	for (i = 0; i < n && i + 1 < dstsz && s[i] != '\0'; i++)
		dst[i] = isalnum((unsigned char)s[i]) ||
		    strchr("._+/-", s[i]) != NULL ? s[i] : '_';
	dst[i] = '\0';
}

/* Append the n bytes of s, padded to width, to dst (of size sz) at *len. */
static void
put(char *dst, size_t sz, size_t *len, const char *s, size_t n,
    int width, int left, char pad)
{
	size_t w = width > 0 && (size_t)width > n ? (size_t)width - n : 0;

	if (w == 0 && *len + n < sz) {
		memcpy(dst + *len, s, n);
		*len += n;
		return;
	}
	if (!left)
		for (; w > 0; w--, (*len)++)
			if (*len + 1 < sz)
				dst[*len] = pad;
	if (*len + 1 < sz)
		memcpy(dst + *len, s, *len + n < sz ? n : sz - 1 - *len);
	*len += n;
	for (; w > 0; w--, (*len)++)
		if (*len + 1 < sz)
			dst[*len] = ' ';
}

/* One conversion of a format: its flags, width, precision and size. */
struct spec {
	int	 left, width, prec;
	int	 size;		/* 0 int, 1 long, 2 long long, 3 size_t */
	char	 pad;
};

/*
 * Parse a conversion's flags, width, precision and size from f, just
 * after the '%', taking '*' values from ap; returns the conversion letter.
 */
static const char *
parse_spec(const char *f, struct spec *sp, va_list *ap)
{
	memset(sp, 0, sizeof(*sp));
	sp->prec = -1;
	sp->pad = ' ';
	for (; *f == '-' || *f == '0'; f++)
		if (*f == '-')
			sp->left = 1;
		else
			sp->pad = '0';
	if (*f == '*') {
		sp->width = va_arg(*ap, int);
		f++;
	} else
		for (; *f >= '0' && *f <= '9'; f++)
			sp->width = sp->width * 10 + (*f - '0');
	if (*f == '.') {
		sp->prec = 0;
		if (*++f == '*') {
			sp->prec = va_arg(*ap, int);
			f++;
		} else
			for (; *f >= '0' && *f <= '9'; f++)
				sp->prec = sp->prec * 10 + (*f - '0');
	}
	for (; *f == 'l' || *f == 'z'; f++)
		sp->size = *f == 'z' ? 3 : sp->size + 1;
	if (sp->width < 0) {
		sp->left = 1;
		sp->width = -sp->width;
	}
	if (sp->left)
		sp->pad = ' ';
	return f;
}

/* Put u in base (16: upper with X), negative with neg, as sp says. */
static void
put_num(char *dst, size_t sz, size_t *len, unsigned long long u,
    unsigned base, int upper, int neg, const struct spec *sp)
{
	static const char digits[] = "0123456789abcdef0123456789ABCDEF";
	char num[24], *p = num + sizeof(num);
	int width = sp->width;

	do {
		*--p = digits[(upper ? 16 : 0) + u % base];
		u /= base;
	} while (u != 0);
	if (neg && sp->pad == '0') {
		put(dst, sz, len, "-", 1, 0, 0, ' ');
		width = width > 0 ? width - 1 : 0;
	} else if (neg)
		*--p = '-';
	put(dst, sz, len, p, (size_t)(num + sizeof(num) - p), width,
	    sp->left, sp->pad);
}

/*
 * Put one conversion c, its value taken from ap; returns 0 for one that
 * log_vfmt() leaves to vsnprintf().
 */
static int
put_conv(char *dst, size_t sz, size_t *len, int c, const struct spec *sp,
    va_list *ap)
{
	unsigned long long u;
	const char *str;
	char ch;
	long long v;

	switch (c) {
	case '%':
		put(dst, sz, len, "%", 1, 0, 0, ' ');
		return 1;
	case 'c':
		ch = (char)va_arg(*ap, int);
		put(dst, sz, len, &ch, 1, sp->width, sp->left, ' ');
		return 1;
	case 's':
		if ((str = va_arg(*ap, const char *)) == NULL)
			str = "(null)";
		put(dst, sz, len, str, sp->prec < 0 ? strlen(str) :
		    strnlen(str, (size_t)sp->prec), sp->width, sp->left, ' ');
		return 1;
	case 'd':
	case 'i':
		if (sp->prec >= 0)
			return 0;
		v = sp->size == 0 ? va_arg(*ap, int) :
		    sp->size == 1 ? va_arg(*ap, long) :
		    sp->size == 2 ? va_arg(*ap, long long) :
		    (long long)va_arg(*ap, ssize_t);
		u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
		put_num(dst, sz, len, u, 10, 0, v < 0, sp);
		return 1;
	case 'u':
	case 'x':
	case 'X':
		if (sp->prec >= 0)
			return 0;
		u = sp->size == 0 ? va_arg(*ap, unsigned) :
		    sp->size == 1 ? va_arg(*ap, unsigned long) :
		    sp->size == 2 ? va_arg(*ap, unsigned long long) :
		    va_arg(*ap, size_t);
		put_num(dst, sz, len, u, c == 'u' ? 10 : 16, c == 'X', 0, sp);
		return 1;
	}
	return 0;
}

/*
 * vsnprintf() for the conversions smtpd formats on its hot path: %s, %c,
 * %d, %i, %u, %x, %X, with -, 0, a width and a string precision (digits
 * or *), and the l, ll and z sizes.  Anything else goes to vsnprintf()
 * whole.  Returns what vsnprintf() would.
 */
int
log_vfmt(char *dst, size_t sz, const char *fmt, va_list ap)
{
	const char *f;
	struct spec sp;
	size_t len = 0;
	va_list ap0, aq;
	int n;

	va_copy(ap0, ap);
	va_copy(aq, ap);
	for (f = fmt; *f != '\0'; f++) {
		if (*f != '%') {
			const char *run = f;

			while (f[1] != '%' && f[1] != '\0')
				f++;
			put(dst, sz, &len, run, (size_t)(f + 1 - run), 0, 0,
			    ' ');
			continue;
		}
		f = parse_spec(f + 1, &sp, &aq);
		if (!put_conv(dst, sz, &len, *f, &sp, &aq))
			goto other;
	}
	va_end(aq);
	va_end(ap0);
	if (sz > 0)
		dst[len < sz ? len : sz - 1] = '\0';
	return len > INT_MAX ? -1 : (int)len;
other:
	va_end(aq);
	n = vsnprintf(dst, sz, fmt, ap0);
	va_end(ap0);
	return n;
}

int
log_fmt(char *dst, size_t sz, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = log_vfmt(dst, sz, fmt, ap);
	va_end(ap);
	return n;
}
