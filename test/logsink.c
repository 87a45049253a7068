/*
 * logsink: catch what a command sends to syslog, for the log tests.
 *
 * usage: logsink devdir logfile command [arg ...]
 *        logsink -n	(exits 0 when this process may make a mount namespace)
 *
 * Binds a datagram socket as devdir/log (made afresh, mode 0666, so a
 * session that dropped root can send), runs the command in a mount namespace of its
 * own where devdir is bind-mounted over /dev, and appends each message
 * that arrives to logfile, one a line, while the command runs and until
 * the socket is empty after it ended.  The command keeps our stdin,
 * stdout and stderr.  Exits with the command's status (128 + N for a
 * signal N).  Linux only: unshare(2) and mount(2).
 */
#define _GNU_SOURCE
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int done_pipe[2];

static void
on_child(int sig)
{
	int e = errno;

	(void)sig;
	if (write(done_pipe[1], "", 1) < 0) {
		/* full: poll wakes anyway */
	}
	errno = e;
}

static void
fail(const char *what)
{
	fprintf(stderr, "logsink: %s: %s\n", what, strerror(errno));
	exit(125);
}

/* A mount namespace of our own, whose mounts stay in it. */
static int
private_ns(void)
{
	return unshare(CLONE_NEWNS) == 0 &&
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 ? 0 : -1;
}

/* In the child: a mount namespace where devdir is /dev, then the command. */
static void
run(const char *devdir, char **argv)
{
	if (private_ns() != 0 ||
	    mount(devdir, "/dev", NULL, MS_BIND, NULL) != 0) {
		fprintf(stderr, "logsink: namespace: %s\n", strerror(errno));
		_exit(125);
	}
	execvp(argv[0], argv);
	fprintf(stderr, "logsink: %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Appends every datagram waiting on s to fd, one a line. */
static void
drain(int s, int fd)
{
	char buf[65536 + 1];
	ssize_t n;

	while ((n = recv(s, buf, sizeof buf - 1, MSG_DONTWAIT)) >= 0) {
		while (n > 0 && buf[n - 1] == '\n')
			n--;
		buf[n++] = '\n';
		if (write(fd, buf, (size_t)n) != n)
			fail("write");
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		fail("recv");
}

static int
check(void)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		fail("fork");
	if (pid == 0)
		_exit(private_ns() == 0 ? 0 : 1);
	if (waitpid(pid, &st, 0) != pid)
		fail("waitpid");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct pollfd pfd[2];
	struct sigaction sa;
	pid_t pid, w;
	int s, fd, st;

	if (argc == 2 && strcmp(argv[1], "-n") == 0)
		return check();
	if (argc < 4) {
		fprintf(stderr, "usage: logsink devdir logfile command [arg ...]\n");
		return 125;
	}
	if (mkdir(argv[1], 0755) != 0 && errno != EEXIST)
		fail(argv[1]);
	if ((size_t)snprintf(addr.sun_path, sizeof addr.sun_path, "%s/log",
	    argv[1]) >= sizeof addr.sun_path) {
		errno = ENAMETOOLONG;
		fail(argv[1]);
	}
	/* A socket an earlier run left is replaced. */
	if (unlink(addr.sun_path) != 0 && errno != ENOENT)
		fail(addr.sun_path);
	if ((s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(s, (struct sockaddr *)&addr, sizeof addr) != 0 ||
	    chmod(addr.sun_path, 0666) != 0)
		fail(addr.sun_path);
	if ((fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) < 0)
		fail(argv[2]);
	if (pipe2(done_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		fail("pipe");
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_child;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	if (sigaction(SIGCHLD, &sa, NULL) != 0)
		fail("sigaction");
	if ((pid = fork()) < 0)
		fail("fork");
	if (pid == 0) {
		signal(SIGCHLD, SIG_DFL);
		run(argv[1], argv + 3);
	}
	/* Read while it runs: a full socket queue would block the sender. */
	pfd[0] = (struct pollfd){ .fd = s, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = done_pipe[0], .events = POLLIN };
	while ((w = waitpid(pid, &st, WNOHANG)) == 0) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			fail("poll");
		drain(s, fd);
	}
	if (w != pid)
		fail("waitpid");
	drain(s, fd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
