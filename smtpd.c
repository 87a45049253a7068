/*
 * smtpd: one SMTP session on stdin/stdout, started per connection by
 * inetd, tcpserver or a systemd socket unit.  This file holds start-up,
 * options, the peer address, logging and the only code that touches
 * file descriptors 0 and 1: a bounded, buffered reader and writer.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "smtpd.h"

struct config conf = {
	.maildir = "/var/mail",
	.maxsize = 10240000,
	.maxrcpt = 100,
	.timeout = 300,
	.datatime = 1800,
	.lockwait = 30,
	.agenttime = 300,
	.retry = 1800,
	.maxinterval = 14400,
	.maxage = 5 * 86400,
};

static unsigned char	 ibuf[65536];	/* input, filled by read(2) */
static size_t		 ipos, ilen;
static char		 obuf[4096];	/* replies, flushed before reads */
static size_t		 olen;
static struct timespec	 deadline;	/* the current read must end by then */

static void NORETURN
usage(void)
{
	fprintf(stderr, "usage: smtpd [-8EFLpqV] [-A seconds] [-a aliases] "
	    "[-D domain] [-d maildir]\n"
	    "             [-f command] [-h name] [-I seconds] [-k seconds] "
	    "[-m command]\n"
	    "             [-n rcpts] [-Q dir] [-R seconds] [-r dir] [-s bytes] "
	    "[-T seconds]\n"
	    "             [-t seconds] [-U utmp] [-u user] [-w seconds]\n");
	exit(1);
}

static void vlog(int, const char *, va_list) PRINTFLIKE(2, 0);

static void
vlog(int prio, const char *fmt, va_list ap)
{
	char msg[1024];
	int saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	syslog(prio, "%s", msg);
	/* Callers read errno after logging it; musl's syslog() changes it. */
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

/* Parse a decimal option argument in [min, max] or exit. */
static long
number(const char *s, long min, long max, int opt)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "smtpd: -%c: bad number %s\n", opt, s);
		exit(1);
	}
	return v;
}

/* The client address: socket peer, then $TCPREMOTEIP, then $REMOTE_ADDR. */
static void
find_peer(void)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const char *env;
	char buf[sizeof(struct in6_addr) > INET6_ADDRSTRLEN ?
	    sizeof(struct in6_addr) : INET6_ADDRSTRLEN];
	const void *a = NULL;

	if (getpeername(0, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			a = &((struct sockaddr_in *)&ss)->sin_addr;
		else if (ss.ss_family == AF_INET6) {
			struct in6_addr *in6 =
			    &((struct sockaddr_in6 *)&ss)->sin6_addr;

			if (IN6_IS_ADDR_V4MAPPED(in6)) {
				a = in6->s6_addr + 12;
				ss.ss_family = AF_INET;
			} else
				a = in6;
		}
		if (a != NULL &&
		    inet_ntop(ss.ss_family, a, buf, sizeof(buf)) != NULL) {
			sanitize(conf.peer, sizeof(conf.peer), buf, sizeof(buf));
			conf.peer6 = ss.ss_family == AF_INET6;
			return;
		}
	}
	if ((env = getenv("TCPREMOTEIP")) == NULL || *env == '\0')
		env = getenv("REMOTE_ADDR");
	if (env == NULL || *env == '\0')
		return;
	/* Only an address goes into Received: and the log. */
	if (inet_pton(AF_INET, env, buf) == 1)
		conf.peer6 = 0;
	else if (inet_pton(AF_INET6, env, buf) == 1)
		conf.peer6 = 1;
	else
		return;
	sanitize(conf.peer, sizeof(conf.peer), env, strlen(env));
}

/*
 * Chroot into -r and drop to -u, in the order of STYLE 6: nothing of the
 * outside world is needed afterwards, and root cannot be regained.  The
 * user and its groups are read from /etc/passwd and /etc/group before the
 * chroot, since the jail need not hold them (nor the NSS modules).
 */
static void
drop_privileges(const char *user, const char *root)
{
	struct passwd *pw = NULL;
	uid_t uid = 0;
	gid_t gid = 0;

	if (user != NULL) {
		if ((pw = getpwnam(user)) == NULL)
			die("-u %s: no such user", user);
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		if (uid == 0)
			die("-u %s: refusing to run as root", user);
		/* Sets the supplementary groups, e.g. mail, from outside. */
		if (initgroups(user, gid) != 0)
			die("-u %s: groups: %s", user, strerror(errno));
	}
	if (root != NULL && (chroot(root) != 0 || chdir("/") != 0))
		die("chroot %s: %s", root, strerror(errno));
	if (user == NULL)
		return;
	if (setgid(gid) != 0 || setuid(uid) != 0)
		die("cannot become %s: %s", user, strerror(errno));
	if (getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid || setuid(0) == 0 ||
	    (gid != 0 && setgid(0) == 0))
		die("privileges of %s not dropped", user);
}

int
main(int argc, char *argv[])
{
	const char *user = NULL, *root = NULL, *aliases = NULL;
	const char *mda = NULL, *fwd = NULL;
	struct stat st;
	int ch, queue = 0;

	while ((ch = getopt(argc, argv, "8A:a:D:d:EFf:h:I:k:Lm:n:pQ:qR:r:s:T:t:U:u:Vw:")) != -1) {
		switch (ch) {
		case '8':
			conf.utf8tty = 1;
			break;
		case 'a':
			aliases = optarg;
			break;
		case 'E':
			conf.expn = 1;
			break;
		case 'f':
			fwd = optarg;
			break;
		case 'k':
			conf.agenttime = (int)number(optarg, 1, 86400, ch);
			break;
		case 'L':
			conf.lmtp = 1;
			break;
		case 'm':
			mda = optarg;
			break;
		case 'V':
			conf.vrfy = 1;
			break;
		case 'A':
			conf.maxage = number(optarg, 0, 3650L * 86400, ch);
			break;
		case 'F':
			conf.force = 1;
			break;
		case 'I':
			conf.maxinterval = number(optarg, 1, 365L * 86400, ch);
			break;
		case 'p':
		case 'q':
			queue = ch;
			break;
		case 'Q':
			conf.queuedir = optarg;
			break;
		case 'R':
			conf.retry = number(optarg, 0, 365L * 86400, ch);
			break;
		case 'D':
			if (conf.ndomains == MAX_DOMAINS) {
				fprintf(stderr, "smtpd: too many -D\n");
				exit(1);
			}
			conf.domains[conf.ndomains++] = optarg;
			break;
		case 'd':
			conf.maildir = optarg;
			break;
		case 'h':
			if (strlen(optarg) > MAX_HOSTNAME)
				usage();
			sanitize(conf.hostname, sizeof(conf.hostname), optarg,
			    strlen(optarg));
			break;
		case 'n':
			conf.maxrcpt = (size_t)number(optarg, 1, MAX_TARGETS,
			    ch);
			break;
		case 'r':
			root = optarg;
			break;
		case 's':
			conf.maxsize = (unsigned long)number(optarg, 1,
			    LONG_MAX, ch);
			break;
		case 'T':
			conf.datatime = (int)number(optarg, 1, 86400, ch);
			break;
		case 't':
			conf.timeout = (int)number(optarg, 1, 86400, ch);
			break;
		case 'U':
			conf.utmp = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'w':
			conf.lockwait = (int)number(optarg, 0, 3600, ch);
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	openlog("smtpd", LOG_PID | LOG_NDELAY, LOG_MAIL);
	if ((user != NULL || root != NULL) && geteuid() != 0)
		die("-u and -r need root");
	/*
	 * With TZ unset, glibc's localtime() stats /etc/localtime on every
	 * call and falls back to UTC inside a jail that lacks it; naming the
	 * file keeps the zone loaded here.
	 */
	if (root != NULL && getenv("TZ") == NULL &&
	    setenv("TZ", ":/etc/localtime", 1) != 0)
		die("setenv TZ: %s", strerror(errno));
	tzset();
	if (conf.hostname[0] == '\0') {
		char h[MAX_HOSTNAME + 1];

		if (gethostname(h, sizeof(h)) != 0)
			die("gethostname: %s", strerror(errno));
		h[MAX_HOSTNAME] = '\0';
		sanitize(conf.hostname, sizeof(conf.hostname), h, strlen(h));
	}
	find_peer();
	if (aliases != NULL)
		alias_load(aliases);
	drop_privileges(user, root);
	/* Agents run inside the jail as the -u user: check them there. */
	if (mda != NULL)
		dlv_template(&conf.mda, mda, 'm');
	if (fwd != NULL)
		dlv_template(&conf.fwd, fwd, 'f');
	if (stat(conf.maildir, &st) != 0 || !S_ISDIR(st.st_mode))
		die("mail directory %s: not a directory", conf.maildir);

	/* A vanished client is an EPIPE, a too-large file an EFBIG. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	if (queue == 'p')
		exit(q_print());
	if (queue == 'q') {
		if (geteuid() == 0 || getuid() == 0) {
			fprintf(stderr, "smtpd: refusing to run the queue as "
			    "root without -u\n");
			die("refusing to run the queue as root without -u");
		}
		exit(q_run());
	}
	if (geteuid() == 0 || getuid() == 0)
		sess_refuse();
	sess_run();
}

static long
ms_left(void)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long)(deadline.tv_sec - now.tv_sec) * 1000 +
	    (deadline.tv_nsec - now.tv_nsec) / 1000000;
	if (ms > (long)conf.timeout * 1000)
		ms = (long)conf.timeout * 1000;	/* idle limit of one read */
	return ms < 0 ? 0 : ms;
}

/* Every read from now on must end within secs seconds. */
void
io_deadline(int secs)
{
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += secs;
}

/* Fill the input buffer if it is empty; IO_OK, IO_EOF or IO_TIMEOUT. */
static int
io_fill(void)
{
	struct pollfd pfd;
	ssize_t n;
	int r;

	if (ipos < ilen)
		return IO_OK;
	io_flush();
	ipos = ilen = 0;
	for (;;) {
		pfd.fd = 0;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, (int)ms_left());
		if (r == 0)
			return IO_TIMEOUT;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		n = read(0, ibuf, sizeof(ibuf));
		if (n > 0) {
			ilen = (size_t)n;
			return IO_OK;
		}
		if (n == 0)
			return IO_EOF;
		if (errno == EINTR || errno == EAGAIN)
			continue;
		log_info("read error: %s", strerror(errno));
		return IO_EOF;
	}
}

/*
 * Read one command line, ending at LF, into buf (size max, which counts the
 * CRLF).  One CR before the LF is dropped and the line is NUL-terminated.
 * A longer line is discarded up to its LF and gives IO_TOOLONG.
 */
int
io_getline(char *buf, size_t max, size_t *len)
{
	size_t n = 0;
	int toolong = 0, r;

	for (;;) {
		unsigned char *p, *lf;
		size_t avail, take;

		if ((r = io_fill()) != IO_OK)
			return r;
		p = ibuf + ipos;
		avail = ilen - ipos;
		lf = memchr(p, '\n', avail);
		take = lf != NULL ? (size_t)(lf - p) : avail;
		/* Bytes up to the LF, CR included, leave room for it. */
		if (!toolong && n + take <= max - 1) {
			memcpy(buf + n, p, take);
			n += take;
		} else
			toolong = 1;
		ipos += take;
		if (lf == NULL)
			continue;
		ipos++;
		if (toolong)
			return IO_TOOLONG;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
		buf[n] = '\0';
		*len = n;
		return IO_OK;
	}
}

/* Make input available without consuming it. */
int
io_peek(const unsigned char **p, size_t *n)
{
	int r;

	if ((r = io_fill()) != IO_OK)
		return r;
	*p = ibuf + ipos;
	*n = ilen - ipos;
	return IO_OK;
}

void
io_consume(size_t n)
{
	ipos += n;
}

static void
write_all(const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(1, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			log_info("write error: %s", strerror(errno));
			exit(1);
		}
		p += w;
		n -= (size_t)w;
	}
}

void
io_put(const char *s, size_t n)
{
	if (olen + n > sizeof(obuf)) {
		io_flush();
		if (n > sizeof(obuf)) {
			write_all(s, n);
			return;
		}
	}
	memcpy(obuf + olen, s, n);
	olen += n;
}

void
io_flush(void)
{
	write_all(obuf, olen);
	olen = 0;
}
