/*
 * smtpd: one SMTP session on stdin/stdout, started per connection by
 * inetd, tcpserver or a systemd socket unit.  This file holds start-up:
 * main, the options, the peer address and our own, the TLS front,
 * privileges and the jail.  Nothing else calls into it.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "smtpd.h"
#include "reply.h"

/*
 * Until the session starts, exit() means smtpd could not start: the reason
 * is logged (die() does it), and the client hears 421 with its class on
 * stdout.  Under inetd stderr is the client too, so nothing goes there.
 */
static int		 starting = 1;
static enum reply	 startup_why = R_BADCONFIG;

static void
startup_reply(void)
{
	const struct reply_text *t = &replies[startup_why];
	char line[128];
	int n;

	if (!starting)
		return;
	n = snprintf(line, sizeof(line), "%d %s %s\r\n", t->code, t->esc,
	    t->text);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	/* Exiting already: a client that cannot take it hears nothing. */
	if (write(1, line, (size_t)n) != n)
		return;
}

static void NORETURN
usage(const char *why, int opt)
{
	char o[2] = { (char)opt, '\0' }, esc[16];

	die("%s%s; usage: smtpd [-8EFLpqSV] [-A seconds] [-a aliases] "
	    "[-D domain] [-d maildir] [-e delimiters] [-f command] [-h name] "
	    "[-I seconds] [-k seconds] [-m command] [-n rcpts] "
	    "[-P front,...] [-Q dir] [-R seconds] "
	    "[-r dir] [-s bytes] [-T seconds] [-t seconds] [-U utmp] "
	    "[-u user | uid:gid] [-w seconds]", why, log_esc(esc, sizeof(esc), o));
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
		char esc[MAX_LOGVAL];

		die("-%c: bad number %s", opt, log_esc(esc, sizeof(esc), s));
	}
	return v;
}

/*
 * An address of the connection into dst (of size dstsz), *v6 saying which
 * family: from get (getpeername or getsockname) on fd 0, an IPv4 address
 * mapped into IPv6 as IPv4; else from the first set of the variables
 * env1, env2 that holds an address and nothing else.
 */
static void
find_addr(int (*get)(int, struct sockaddr *, socklen_t *), const char *env1,
    const char *env2, char *dst, size_t dstsz, int *v6)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const char *env;
	char buf[INET6_ADDRSTRLEN];
	const void *a = NULL;

	if (get(0, (struct sockaddr *)&ss, &sl) == 0) {
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
			sanitize(dst, dstsz, buf, sizeof(buf));
			*v6 = ss.ss_family == AF_INET6;
			return;
		}
	}
	if ((env = getenv(env1)) == NULL || *env == '\0')
		env = env2 != NULL ? getenv(env2) : NULL;
	if (env == NULL || *env == '\0')
		return;
	/* Only an address goes into Received:, the log and comparisons. */
	if (inet_pton(AF_INET, env, buf) == 1)
		*v6 = 0;
	else if (inet_pton(AF_INET6, env, buf) == 1)
		*v6 = 1;
	else
		return;
	sanitize(dst, dstsz, env, strlen(env));
}

/* A descriptor named by an environment variable: above 2 and open. */
static int
env_fd(const char *name)
{
	const char *env = getenv(name);
	char *end;
	long v;

	if (env == NULL || *env < '0' || *env > '9')
		return -1;
	errno = 0;
	v = strtol(env, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 2 || v > INT_MAX ||
	    fcntl((int)v, F_GETFD) < 0)
		return -1;
	return (int)v;
}

/*
 * The TLS front.  s6-tlsd (implicit TLS) has done the handshake and says
 * so in SSL_PROTOCOL and SSL_CIPHER; s6-ucspitlsd (UCSPI-TLS) passes the
 * three descriptors of STARTTLS in SSLCTLFD, SSLREADFD and SSLWRITEFD,
 * which agents do not inherit.  -S without either cannot be served.
 */
static void
find_tls(void)
{
	const char *p = getenv("SSL_PROTOCOL"), *c = getenv("SSL_CIPHER");
	int i;

	if (p != NULL && *p != '\0') {
		log_token(conf.tls.proto, sizeof(conf.tls.proto), p, strlen(p));
		if (c != NULL)
			log_token(conf.tls.cipher, sizeof(conf.tls.cipher), c,
			    strlen(c));
		return;
	}
	conf.tlsfd[0] = env_fd("SSLCTLFD");
	conf.tlsfd[1] = env_fd("SSLREADFD");
	conf.tlsfd[2] = env_fd("SSLWRITEFD");
	if (conf.tlsfd[0] < 0 || conf.tlsfd[1] < 0 || conf.tlsfd[2] < 0 ||
	    conf.tlsfd[0] == conf.tlsfd[1] || conf.tlsfd[0] == conf.tlsfd[2] ||
	    conf.tlsfd[1] == conf.tlsfd[2])
		conf.tlsfd[0] = conf.tlsfd[1] = conf.tlsfd[2] = -1;
	for (i = 0; i < 3 && conf.tlsfd[i] >= 0; i++)
		(void)fcntl(conf.tlsfd[i], F_SETFD, FD_CLOEXEC);
	if (conf.tlsneed && conf.tlsfd[0] < 0)
		die("-S: no TLS front (SSL_PROTOCOL, or SSLCTLFD, SSLREADFD "
		    "and SSLWRITEFD)");
}

/*
 * -u UID:GID: two decimal ids, looked up nowhere.  Returns 0 for a name
 * (anything else), and exits on digits that are not two valid ids.
 */
static int
numeric_ids(const char *s, uid_t *uid, gid_t *gid)
{
	const char *colon = strchr(s, ':');
	char u[24];
	size_t n;

	if (colon == NULL || (n = (size_t)(colon - s)) == 0 ||
	    strspn(s, "0123456789") != n || n >= sizeof(u))
		return 0;
	memcpy(u, s, n);
	u[n] = '\0';
	*uid = (uid_t)number(u, 0, INT_MAX, 'u');
	*gid = (gid_t)number(colon + 1, 0, INT_MAX, 'u');
	return 1;
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

	if (user != NULL && numeric_ids(user, &uid, &gid)) {
		if (uid == 0)
			die("-u %s: refusing to run as root", log_word(user));
		/* No name, no group list: the one group given, and no NSS. */
		if (setgroups(1, &gid) != 0)
			die_errno("-u %s: groups", log_word(user));
	} else if (user != NULL) {
		if ((pw = getpwnam(user)) == NULL)
			die("-u %s: no such user", log_word(user));
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		if (uid == 0)
			die("-u %s: refusing to run as root", log_word(user));
		/* Sets the supplementary groups, e.g. mail, from outside. */
		if (initgroups(user, gid) != 0)
			die_errno("-u %s: groups", log_word(user));
	}
	if (root != NULL && (chroot(root) != 0 || chdir("/") != 0))
		die_errno("chroot %s", log_word(root));
	if (user == NULL)
		return;
	if (setgid(gid) != 0 || setuid(uid) != 0)
		die_errno("cannot become %s", log_word(user));
	if (getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid || setuid(0) == 0 ||
	    (gid != 0 && setgid(0) == 0))
		die("privileges of %s not dropped", log_word(user));
}

/* What the options name that start-up acts on, rather than conf. */
struct opts {
	const char	*user, *root, *aliases, *mda, *fwd;
	int		 queue;		/* 'p', 'q' or 0 for a session */
};

/* An option that turns a feature on; 0 if ch is no such option. */
static int
flag_option(int ch)
{
	switch (ch) {
	case '8':
		conf.utf8tty = 1;
		break;
	case 'E':
		conf.expn = 1;
		break;
	case 'F':
		conf.force = 1;
		break;
	case 'L':
		conf.lmtp = 1;
		break;
	case 'S':
		conf.tlsneed = 1;
		break;
	case 'V':
		conf.vrfy = 1;
		break;
	default:
		return 0;
	}
	return 1;
}

/* An option naming local addresses; 0 if ch is no such option. */
static int
address_option(int ch, char *arg)
{
	unsigned char b[16];

	switch (ch) {
	case 'D':
		if (conf.ndomains == MAX_DOMAINS)
			die("too many -D");
		if (*arg == '[' && addr_literal(arg, b) != 1)
			die("-D: not an IPv4 or IPv6 address literal");
		conf.domains[conf.ndomains++] = arg;
		break;
	case 'e':
		/* Punctuation a dot-atom allows, but not '.' or '/'. */
		if (*arg == '\0' || strlen(arg) > 16 ||
		    strspn(arg, "!#$%&'*+-=?^_`{|}~") != strlen(arg))
			die("-e: delimiters must be among !#$%%&'*+-=?^_`{|}~");
		conf.delim = arg;
		break;
	default:
		return 0;
	}
	return 1;
}

/* An option with a value that goes into conf; 0 if ch is no such option. */
static int
value_option(int ch, char *arg)
{
	switch (ch) {
	case 'A':
		conf.maxage = number(arg, 0, 3650L * 86400, ch);
		break;
	case 'd':
		conf.maildir = arg;
		break;
	case 'h':
		if (strlen(arg) > MAX_HOSTNAME)
			die("-h: name too long");
		sanitize(conf.hostname, sizeof(conf.hostname), arg,
		    strlen(arg));
		break;
	case 'I':
		conf.maxinterval = number(arg, 1, 365L * 86400, ch);
		break;
	case 'k':
		conf.agenttime = (int)number(arg, 1, 86400, ch);
		break;
	case 'n':
		conf.maxrcpt = (size_t)number(arg, 1, MAX_TARGETS, ch);
		break;
	case 'Q':
		conf.queuedir = arg;
		break;
	case 'R':
		conf.retry = number(arg, 0, 365L * 86400, ch);
		break;
	case 's':
		conf.maxsize = (unsigned long)number(arg, 1, LONG_MAX, ch);
		break;
	case 'T':
		conf.datatime = (int)number(arg, 1, 86400, ch);
		break;
	case 't':
		conf.timeout = (int)number(arg, 1, 86400, ch);
		break;
	case 'U':
		conf.utmp = arg;
		break;
	case 'w':
		conf.lockwait = (int)number(arg, 0, 3600, ch);
		break;
	default:
		return 0;
	}
	return 1;
}

/* Parse the command line into conf and o, or exit. */
static void
parse_options(int argc, char *argv[], struct opts *o)
{
	char esc[MAX_LOGVAL];
	int ch;

	memset(o, 0, sizeof(*o));
	opterr = 0;	/* getopt() would tell stderr */
	while ((ch = getopt(argc, argv,
	    ":8A:a:D:d:Ee:Ff:h:I:k:Lm:n:P:pQ:qR:r:s:T:t:U:u:SVw:")) != -1) {
		if (flag_option(ch) || value_option(ch, optarg) ||
		    address_option(ch, optarg))
			continue;
		switch (ch) {
		case 'a':
			o->aliases = optarg;
			break;
		case 'f':
			o->fwd = optarg;
			break;
		case 'm':
			o->mda = optarg;
			break;
		case 'P':
			if (proxy_fronts(optarg) != 0)
				die("-P: bad front %s",
				    log_esc(esc, sizeof(esc), optarg));
			break;
		case 'p':
		case 'q':
			o->queue = ch;
			break;
		case 'r':
			o->root = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case ':':
			usage("missing argument to -", optopt);
		default:
			usage("bad option -", optopt);
		}
	}
	if (optind != argc)
		die("unexpected argument %s",
		    log_esc(esc, sizeof(esc), argv[optind]));
	if ((o->user != NULL || o->root != NULL) && geteuid() != 0)
		die("-u and -r need root");
}

/* The time zone and the host name, while the real filesystem is there. */
static void
zone_and_host(const char *root)
{
	char h[MAX_HOSTNAME + 1];

	/*
	 * With TZ unset, glibc's localtime() stats /etc/localtime on every
	 * call and falls back to UTC inside a jail that lacks it; naming the
	 * file keeps the zone loaded here.
	 */
	if (root != NULL && getenv("TZ") == NULL &&
	    setenv("TZ", ":/etc/localtime", 1) != 0)
		die_errno("setenv TZ");
	tzset();
	if (conf.hostname[0] != '\0')
		return;
	if (gethostname(h, sizeof(h)) != 0)
		die_errno("gethostname");
	h[MAX_HOSTNAME] = '\0';
	sanitize(conf.hostname, sizeof(conf.hostname), h, strlen(h));
}

/* Every mailbox is reached through the mail directory, as the -u user. */
static void
check_maildir(void)
{
	struct stat st;

	startup_why = R_NOMAILDIR;
	if (stat(conf.maildir, &st) != 0 || access(conf.maildir, X_OK) != 0)
		die_errno("mail directory %s", log_word(conf.maildir));
	if (!S_ISDIR(st.st_mode))
		die("mail directory %s: not a directory",
		    log_word(conf.maildir));
}

/* Start-up is over: list or run the queue, or serve the session. */
static void NORETURN
run(int queue)
{
	starting = 0;
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
	/* Behind a balancer, who the client is comes first. */
	if (conf.nfronts > 0)
		proxy_start();
	sess_run();
}

int
main(int argc, char *argv[])
{
	struct opts o;

	/* A vanished client is an EPIPE, a too-large file an EFBIG. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	log_open();
	if (atexit(startup_reply) != 0)
		die("atexit failed");
	parse_options(argc, argv, &o);
	zone_and_host(o.root);
	/* The client: socket peer, then $TCPREMOTEIP, then $REMOTE_ADDR. */
	find_addr(getpeername, "TCPREMOTEIP", "REMOTE_ADDR", conf.peer,
	    sizeof(conf.peer), &conf.peer6);
	if (o.queue == 0)
		find_tls();
	/* What the client reached, for literals; tcpserver: $TCPLOCALIP. */
	find_addr(getsockname, "TCPLOCALIP", NULL, conf.local,
	    sizeof(conf.local), &conf.local6);
	if (o.aliases != NULL)
		alias_load(o.aliases);
	drop_privileges(o.user, o.root);
	/* Agents run inside the jail as the -u user: check them there. */
	if (o.mda != NULL)
		dlv_template(&conf.mda, o.mda, 'm');
	if (o.fwd != NULL)
		dlv_template(&conf.fwd, o.fwd, 'f');
	check_maildir();
	run(o.queue);
}
