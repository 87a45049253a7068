/*
 * source: the load of bench/run.  SESSIONS concurrent clients (one process
 * each) connect to 127.0.0.1:PORT and send TOTAL messages of SIZE bytes to
 * bench@bench.example, PER messages per connection, one command at a time
 * (no pipelining), each waiting for its reply.  Every message must get a
 * 250 after its final dot; the exit status is 0 only if all did.
 *
 * usage: source -p port [-s sessions] [-m total] [-d per] [-l size]
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char	 rbuf[4096];
static size_t	 rpos, rlen;
static char	*body;
static size_t	 bodylen;

static void
sendall(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			perror("source: write");
			exit(1);
		}
		p += n;
		len -= (size_t)n;
	}
}

/* The code of the next reply, its continuation lines skipped. */
static int
reply(int fd)
{
	char line[1024];
	size_t n;
	ssize_t r;
	int c;

	for (;;) {
		n = 0;
		for (;;) {
			if (rpos == rlen) {
				if ((r = read(fd, rbuf, sizeof(rbuf))) <= 0) {
					fprintf(stderr, "source: connection "
					    "closed\n");
					exit(1);
				}
				rpos = 0;
				rlen = (size_t)r;
			}
			c = rbuf[rpos++];
			if (c == '\n')
				break;
			if (n + 1 < sizeof(line))
				line[n++] = (char)c;
		}
		line[n] = '\0';
		if (n < 4 || line[3] != '-')
			return atoi(line);
	}
}

static void
expect(int fd, const char *cmd, int want)
{
	int code;

	if (cmd != NULL)
		sendall(fd, cmd, strlen(cmd));
	if ((code = reply(fd)) != want) {
		fprintf(stderr, "source: %s: got %d, not %d\n",
		    cmd ? cmd : "greeting", code, want);
		exit(1);
	}
}

static void
session(int port, int per)
{
	struct sockaddr_in sin;
	int fd, i, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0) {
		perror("source: socket");
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		perror("source: connect");
		exit(1);
	}
	rpos = rlen = 0;
	expect(fd, NULL, 220);
	expect(fd, "EHLO client.example\r\n", 250);
	for (i = 0; i < per; i++) {
		expect(fd, "MAIL FROM:<bench@client.example>\r\n", 250);
		expect(fd, "RCPT TO:<bench@bench.example>\r\n", 250);
		expect(fd, "DATA\r\n", 354);
		sendall(fd, body, bodylen);
		expect(fd, NULL, 250);
	}
	expect(fd, "QUIT\r\n", 221);
	close(fd);
}

/* Headers, then lines of 78 x and CR LF up to SIZE bytes, then the dot. */
static void
make_body(size_t size)
{
	static const char hdr[] = "From: <bench@client.example>\r\n"
	    "To: <bench@bench.example>\r\nSubject: bench\r\n\r\n";
	size_t n;

	if ((body = malloc(size + sizeof(hdr) + 128)) == NULL) {
		perror("source: malloc");
		exit(1);
	}
	memcpy(body, hdr, sizeof(hdr) - 1);
	bodylen = sizeof(hdr) - 1;
	while (bodylen < size) {
		n = size - bodylen < 80 ? size - bodylen : 80;
		if (n < 3)
			n = 3;
		memset(body + bodylen, 'x', n - 2);
		memcpy(body + bodylen + n - 2, "\r\n", 2);
		bodylen += n;
	}
	memcpy(body + bodylen, ".\r\n", 3);
	bodylen += 3;
}

int
main(int argc, char *argv[])
{
	int ch, port = 0, sessions = 1, total = 1, per = 1, conns, i, j;
	int status, bad = 0;
	size_t size = 1024;
	pid_t pid;

	while ((ch = getopt(argc, argv, "d:l:m:p:s:")) != -1) {
		switch (ch) {
		case 'd':
			per = atoi(optarg);
			break;
		case 'l':
			size = (size_t)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			total = atoi(optarg);
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 's':
			sessions = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (port <= 0 || sessions < 1 || per < 1 || total < per ||
	    total % per != 0)
		goto usage;
	make_body(size);
	conns = total / per;
	for (i = 0; i < sessions; i++) {
		if ((pid = fork()) < 0) {
			perror("source: fork");
			exit(1);
		}
		if (pid == 0) {
			/* Connections i, i + sessions, ... */
			for (j = i; j < conns; j += sessions)
				session(port, per);
			_exit(0);
		}
	}
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad = 1;
	return bad;
usage:
	fprintf(stderr, "usage: source -p port [-s sessions] [-m total] "
	    "[-d per] [-l size]\n");
	return 2;
}
