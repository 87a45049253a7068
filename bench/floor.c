/*
 * floor: the least an inetd-style SMTP receiver must do, as a yardstick for
 * bench/run.  It speaks just enough SMTP on stdin/stdout (greeting,
 * EHLO/HELO, MAIL, RCPT, DATA with the dot unstuffed, RSET, NOOP, QUIT),
 * keeps the message in memory and, before the 250 after the final dot,
 * appends it to MBOX under an fcntl lock and fsyncs it.  With -f the append
 * runs in a child forked per message, which the session waits for: the
 * limit of a design that forks a delivery agent per copy.  With -l the append
 * also holds the dotlock MBOX.lock (created with O_EXCL, removed after the
 * fsync), as an mbox shared with mail readers needs: what a lock file costs
 * on the disk measured.  -u UID:GID drops to those ids, numerically, with
 * no supplementary groups.
 *
 * No checks of addresses, no headers beyond the "From " line, no limits
 * beyond the memory needed: it is not a mail server.
 *
 * usage: floor [-fl] [-u uid:gid] mbox
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static char	 ibuf[65536];
static size_t	 ipos, ilen;
static char	*msg;
static size_t	 msglen, msgcap;
static char	 lockname[4096];

static int
getbyte(void)
{
	ssize_t n;

	if (ipos == ilen) {
		do
			n = read(0, ibuf, sizeof(ibuf));
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return -1;
		ipos = 0;
		ilen = (size_t)n;
	}
	return (unsigned char)ibuf[ipos++];
}

/* A line up to LF, CR LF stripped, truncated to size - 1; -1 at EOF. */
static int
getline_(char *line, size_t size)
{
	size_t n = 0;
	int c;

	while ((c = getbyte()) != '\n') {
		if (c < 0)
			return -1;
		if (n + 1 < size)
			line[n++] = (char)c;
	}
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	return (int)n;
}

static void
say(const char *s)
{
	size_t len = strlen(s), off = 0;
	ssize_t n;

	while (off < len) {
		if ((n = write(1, s + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			exit(1);
		}
		off += (size_t)n;
	}
}

static void
add(const char *p, size_t len)
{
	if (msglen + len > msgcap) {
		while (msglen + len > msgcap)
			msgcap = msgcap ? msgcap * 2 : 65536;
		if ((msg = realloc(msg, msgcap)) == NULL)
			exit(1);
	}
	memcpy(msg + msglen, p, len);
	msglen += len;
}

/* Lines up to ".", the leading dot of the others removed, LF-terminated. */
static int
data(void)
{
	static char line[8192];
	int n;

	msglen = 0;
	add("From bench@client.example Thu Jan  1 00:00:00 1970\n", 51);
	while ((n = getline_(line, sizeof(line))) >= 0) {
		if (n == 1 && line[0] == '.')
			return 0;
		if (line[0] == '.')
			add(line + 1, (size_t)n - 1);
		else
			add(line, (size_t)n);
		add("\n", 1);
	}
	return -1;
}

static int
append(const char *mbox)
{
	struct flock fl;
	size_t off = 0;
	ssize_t n;
	int fd, lfd;

	add("\n", 1);
	if ((fd = open(mbox, O_WRONLY | O_APPEND | O_CREAT, 0600)) < 0)
		return -1;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLKW, &fl) != 0) {
		close(fd);
		return -1;
	}
	if (lockname[0] != '\0') {
		/* Under the fcntl lock, a lock file left is a stale one. */
		if ((lfd = open(lockname, O_WRONLY | O_CREAT | O_EXCL,
		    0600)) < 0) {
			close(fd);
			return -1;
		}
		close(lfd);
	}
	while (off < msglen) {
		if ((n = write(fd, msg + off, msglen - off)) < 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0) {
		close(fd);
		return -1;
	}
	if (lockname[0] != '\0')
		unlink(lockname);
	return close(fd);
}

static int
deliver(const char *mbox, int forking)
{
	pid_t pid;
	int status;

	if (!forking)
		return append(mbox);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0)
		_exit(append(mbox) == 0 ? 0 : 1);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int
main(int argc, char *argv[])
{
	char line[1024];
	unsigned long uid, gid;
	int ch, forking = 0, locking = 0, rcpts = 0;
	char *end;

	while ((ch = getopt(argc, argv, "flu:")) != -1) {
		switch (ch) {
		case 'f':
			forking = 1;
			break;
		case 'l':
			locking = 1;
			break;
		case 'u':
			uid = strtoul(optarg, &end, 10);
			if (*end != ':')
				return 2;
			gid = strtoul(end + 1, &end, 10);
			if (*end != '\0' || uid == 0 ||
			    setgroups(0, NULL) != 0 || setgid((gid_t)gid) != 0 ||
			    setuid((uid_t)uid) != 0)
				return 2;
			break;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc)
		return 2;
	if (locking && snprintf(lockname, sizeof(lockname), "%s.lock",
	    argv[optind]) >= (int)sizeof(lockname))
		return 2;
	say("220 floor ESMTP\r\n");
	while (getline_(line, sizeof(line)) >= 0) {
		if (strncasecmp(line, "EHLO", 4) == 0)
			say("250-floor\r\n250 8BITMIME\r\n");
		else if (strncasecmp(line, "HELO", 4) == 0 ||
		    strncasecmp(line, "NOOP", 4) == 0)
			say("250 ok\r\n");
		else if (strncasecmp(line, "MAIL", 4) == 0 ||
		    strncasecmp(line, "RSET", 4) == 0) {
			rcpts = 0;
			say("250 ok\r\n");
		} else if (strncasecmp(line, "RCPT", 4) == 0) {
			rcpts++;
			say("250 ok\r\n");
		} else if (strncasecmp(line, "DATA", 4) == 0 && rcpts > 0) {
			say("354 go ahead\r\n");
			if (data() != 0)
				return 1;
			say(deliver(argv[optind], forking) == 0 ?
			    "250 delivered\r\n" : "451 not delivered\r\n");
			rcpts = 0;
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			say("221 bye\r\n");
			return 0;
		} else
			say("500 what\r\n");
	}
	return 0;
}
