/*
 * ptyhelper: a logged-in terminal for the SEND/SOML/SAML tests.
 *
 * usage: ptyhelper [-s] -f utmp -n user -c capture [-i idle] [-l line]
 *                  [-m mode] [-o uid] [-t type] -- command [arg ...]
 *
 * Opens a pseudo-terminal in raw mode, gives the slave to uid (-o,
 * default ours) with mode -m (default 0620, "mesg y"; 0600 is "mesg n"),
 * sets its access time idle seconds back (-i), and appends a utmp record
 * of type -t (user, dead, login; default user) for user on the slave's
 * line, or on -l line (where "%s" stands for the slave's line), to the
 * utmp file.  -s stops output on the terminal, as ^S does.  Then it runs the command with
 * our stdin and stdout, reads the master side while it runs and for a
 * short while after, and writes what arrived to the capture file.  When
 * the command has ended the record becomes a DEAD_PROCESS, as at logout:
 * the line is then free for another test's terminal.  Exits
 * with the command's status.  It prints nothing itself but errors, on
 * stderr.
 */
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <utmpx.h>

/* Records as tty.c reads them: glibc's 384 bytes on Linux. */
#ifdef __linux__
#define UT_RECSIZE	384
#else
#define UT_RECSIZE	sizeof(struct utmpx)
#endif

#define DRAIN_MS	300	/* quiet time after the command ends */

static void
fail(const char *what)
{
	fprintf(stderr, "ptyhelper: %s: %s\n", what, strerror(errno));
	exit(111);
}

static void
usage(void)
{
	fprintf(stderr, "usage: ptyhelper [-s] -f utmp -n user -c capture "
	    "[-i idle] [-l line] [-m mode] [-o uid] [-t type] -- command ...\n");
	exit(111);
}

static void
write_all(int fd, const void *buf, size_t n, const char *what)
{
	const char *p = buf;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			fail(what);
		}
		p += w;
		n -= (size_t)w;
	}
}

/* A utmp string field: NUL-padded, not terminated when full. */
static void
field(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	memcpy(dst, src, n < size ? n : size);
}

/* Appends a record; returns its offset in the file. */
static off_t
add_record(const char *file, const char *user, const char *line, short type)
{
	unsigned char rec[UT_RECSIZE];
	struct utmpx ut;
	struct timeval tv;
	off_t off;
	int fd;

	memset(&ut, 0, sizeof(ut));
	ut.ut_type = type;
	ut.ut_pid = getpid();
	field(ut.ut_line, sizeof(ut.ut_line), line);
	field(ut.ut_id, sizeof(ut.ut_id),
	    line + (strlen(line) > 4 ? strlen(line) - 4 : 0));
	field(ut.ut_user, sizeof(ut.ut_user), user);
	gettimeofday(&tv, NULL);
	ut.ut_tv.tv_sec = tv.tv_sec;
	ut.ut_tv.tv_usec = tv.tv_usec;
	memset(rec, 0, sizeof(rec));
	memcpy(rec, &ut, sizeof(ut) < sizeof(rec) ? sizeof(ut) : sizeof(rec));
	if ((fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0644)) < 0)
		fail(file);
	write_all(fd, rec, sizeof(rec), file);
	if ((off = lseek(fd, 0, SEEK_CUR)) < 0)
		fail(file);
	if (close(fd) != 0)
		fail(file);
	return off - (off_t)sizeof(rec);
}

/* Logout: the record at off becomes a DEAD_PROCESS. */
static void
end_record(const char *file, off_t off)
{
	short type = DEAD_PROCESS;
	int fd;

	if ((fd = open(file, O_WRONLY | O_CLOEXEC)) < 0)
		fail(file);
	if (pwrite(fd, &type, sizeof(type),
	    off + (off_t)offsetof(struct utmpx, ut_type)) != sizeof(type))
		fail(file);
	if (close(fd) != 0)
		fail(file);
}

static void
make_raw(int fd)
{
	struct termios t;

	if (tcgetattr(fd, &t) != 0)
		fail("tcgetattr");
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR |
	    IGNCR | ICRNL | IXON);
	t.c_oflag &= ~(tcflag_t)OPOST;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	t.c_cflag |= CS8;
	if (tcsetattr(fd, TCSANOW, &t) != 0)
		fail("tcsetattr");
}

/* Copy what the master has to out; 0 when nothing came within ms. */
static int
drain(int master, int out, int ms)
{
	struct pollfd pfd = { master, POLLIN, 0 };
	char buf[4096];
	ssize_t n;
	int r;

	if ((r = poll(&pfd, 1, ms)) < 0 && errno != EINTR)
		fail("poll");
	if (r <= 0)
		return 0;
	if ((n = read(master, buf, sizeof(buf))) < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return 1;
		return 0;	/* EIO: no slave left */
	}
	if (n == 0)
		return 0;
	write_all(out, buf, (size_t)n, "capture");
	return 1;
}

int
main(int argc, char *argv[])
{
	const char *utmp = NULL, *user = NULL, *capture = NULL, *line = NULL;
	const char *name, *p;
	mode_t mode = 0620;
	uid_t uid = getuid();
	long idle = 0;
	short type = USER_PROCESS;
	char linebuf[64];
	int ch, master, slave, out, status, stop = 0;
	pid_t pid;
	off_t rec;

	while ((ch = getopt(argc, argv, "c:f:i:l:m:n:o:st:")) != -1) {
		switch (ch) {
		case 'c':
			capture = optarg;
			break;
		case 'f':
			utmp = optarg;
			break;
		case 'i':
			idle = strtol(optarg, NULL, 10);
			break;
		case 'l':
			line = optarg;
			break;
		case 'm':
			mode = (mode_t)strtol(optarg, NULL, 8);
			break;
		case 'n':
			user = optarg;
			break;
		case 'o':
			uid = (uid_t)strtol(optarg, NULL, 10);
			break;
		case 's':
			stop = 1;
			break;
		case 't':
			if (strcmp(optarg, "user") == 0)
				type = USER_PROCESS;
			else if (strcmp(optarg, "dead") == 0)
				type = DEAD_PROCESS;
			else if (strcmp(optarg, "login") == 0)
				type = LOGIN_PROCESS;
			else
				usage();
			break;
		default:
			usage();
		}
	}
	argv += optind;
	if (utmp == NULL || user == NULL || capture == NULL || *argv == NULL)
		usage();

	if ((master = posix_openpt(O_RDWR | O_NOCTTY)) < 0)
		fail("posix_openpt");
	if (fcntl(master, F_SETFD, FD_CLOEXEC) != 0 || grantpt(master) != 0 ||
	    unlockpt(master) != 0 || (name = ptsname(master)) == NULL)
		fail("pty");
	/* Keep a slave open, so nothing written is lost when smtpd closes. */
	if ((slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
		fail(name);
	make_raw(slave);
	if (chown(name, uid, (gid_t)-1) != 0 || chmod(name, mode) != 0)
		fail(name);
	if (idle > 0) {
		struct timespec ts[2];

		clock_gettime(CLOCK_REALTIME, &ts[0]);
		ts[0].tv_sec -= idle;
		ts[1].tv_sec = 0;
		ts[1].tv_nsec = UTIME_OMIT;
		if (utimensat(AT_FDCWD, name, ts, 0) != 0)
			fail(name);
	}
	if (stop && tcflow(slave, TCOOFF) != 0)
		fail("tcflow");
	name = strncmp(name, "/dev/", 5) == 0 ? name + 5 : name;
	if (line == NULL)
		line = name;
	else if ((p = strstr(line, "%s")) != NULL) {
		snprintf(linebuf, sizeof(linebuf), "%.*s%s%s", (int)(p - line),
		    line, name, p + 2);
		line = linebuf;
	}
	rec = add_record(utmp, user, line, type);
	if ((out = open(capture, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) < 0)
		fail(capture);

	if ((pid = fork()) < 0)
		fail("fork");
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "ptyhelper: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r < 0 && errno != EINTR)
			fail("waitpid");
		if (r == pid)
			break;
		drain(master, out, 50);
	}
	end_record(utmp, rec);
	while (drain(master, out, DRAIN_MS))
		;
	if (close(out) != 0)
		fail(capture);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}
