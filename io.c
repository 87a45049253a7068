/*
 * The client stream: a bounded, buffered reader and a buffered writer,
 * both under one deadline, and the switch of the stream to a UCSPI-TLS
 * front's pipes at STARTTLS.  Apart from the 421 that smtpd.c writes when
 * start-up fails, this is the only code that reads fd 0 or writes fd 1:
 * the session's replies and smtpd -p's listing both go through io_put().
 * Calls nothing of ours but log.c.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpd.h"

static unsigned char	 ibuf[65536];	/* input, filled by read(2) */
static size_t		 ipos, ilen;
static char		 obuf[4096];	/* replies, flushed before reads */
static size_t		 olen;
static struct timespec	 deadline;	/* the current read must end by then */
static struct timespec	 linestart;	/* the last LF read, or io_deadline() */
static int		 wsock = -1;	/* fd 1 is a socket, made non-blocking */

/* Set *t to secs seconds after *from. */
static void
after(struct timespec *t, const struct timespec *from, int secs)
{
	*t = *from;
	t->tv_sec += secs;
}

/*
 * The one deadline helper: wait until fd is ready for events or dl has
 * passed.  Returns 1 when ready (or in error, which the next read or write
 * reports), 0 at the deadline.
 */
static int
wait_fd(int fd, short events, const struct timespec *dl)
{
	struct pollfd pfd;
	struct timespec now;
	long ms;
	int r;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (long)(dl->tv_sec - now.tv_sec) * 1000 +
		    (dl->tv_nsec - now.tv_nsec) / 1000000;
		if (ms < 0)
			ms = 0;
		else if (ms > INT_MAX)
			ms = INT_MAX;
		pfd.fd = fd;
		pfd.events = events;
		if ((r = poll(&pfd, 1, (int)ms)) > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			die_errno("poll");
	}
}

/*
 * Every read from now on must end within secs seconds, and each line
 * (command or text) must arrive whole within -t of the end of the one
 * before it, or of this call.
 */
void
io_deadline(int secs)
{
	clock_gettime(CLOCK_MONOTONIC, &linestart);
	after(&deadline, &linestart, secs);
}

/* Fill the input buffer if it is empty; IO_OK, IO_EOF or IO_TIMEOUT. */
static enum io_result
io_fill(void)
{
	struct timespec dl;
	ssize_t n;

	if (ipos < ilen)
		return IO_OK;
	io_flush();
	ipos = ilen = 0;
	for (;;) {
		/* The earlier of the -T or -t deadline and the line's. */
		after(&dl, &linestart, conf.timeout);
		if (deadline.tv_sec < dl.tv_sec ||
		    (deadline.tv_sec == dl.tv_sec &&
		    deadline.tv_nsec < dl.tv_nsec))
			dl = deadline;
		if (!wait_fd(0, POLLIN, &dl))
			return IO_TIMEOUT;
		n = read(0, ibuf, sizeof(ibuf));
		if (n > 0) {
			ilen = (size_t)n;
			if (memchr(ibuf, '\n', ilen) != NULL)
				clock_gettime(CLOCK_MONOTONIC, &linestart);
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
enum io_result
io_getline(char *buf, size_t max, size_t *len)
{
	size_t n = 0;
	int toolong = 0;
	enum io_result r;

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
enum io_result
io_peek(const unsigned char **p, size_t *n)
{
	enum io_result r;

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

/*
 * Write all of p, within -t, or end the session: a client that does not
 * read its replies cannot hold smtpd in write(2).  A socket on fd 1 is
 * made non-blocking (it is this session's alone); a pipe or terminal,
 * which may be shared, is written at most PIPE_BUF bytes at a time after
 * poll() said there is room, which then does not block.
 */
static void
write_all(const char *p, size_t n)
{
	struct timespec now, dl;
	struct stat st;
	size_t chunk;
	ssize_t w;
	int fl;

	if (wsock < 0) {
		wsock = fstat(1, &st) == 0 && S_ISSOCK(st.st_mode);
		if (wsock && ((fl = fcntl(1, F_GETFL)) < 0 ||
		    fcntl(1, F_SETFL, fl | O_NONBLOCK) < 0))
			wsock = 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	after(&dl, &now, conf.timeout);
	while (n > 0) {
		if (!wait_fd(1, POLLOUT, &dl)) {
			log_info("client=%s error=write-timeout",
			    log_word(conf.peer[0] != '\0' ? conf.peer :
			    "local"));
			exit(1);
		}
		chunk = wsock || n < PIPE_BUF ? n : PIPE_BUF;
		if ((w = write(1, p, chunk)) < 0) {
			if (errno == EINTR || errno == EAGAIN)
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

/* Throw away what was read and not consumed; returns how many bytes. */
size_t
io_discard(void)
{
	size_t n = ilen - ipos;

	ipos = ilen = 0;
	return n;
}

/*
 * STARTTLS through UCSPI-TLS (s6-ucspitlsd): fd[0] is the control socket,
 * fd[1] and fd[2] the pipes from and to the TLS tunnel.  The reply already
 * queued (220) goes out in clear; then "Y" asks the front for the
 * handshake and for the connection's description, which it writes on the
 * control socket and ends by closing it: NUL-terminated KEY=VALUE strings
 * (SSL_PROTOCOL, SSL_CIPHER, ...), at most max - 1 bytes kept in desc and
 * the rest read and dropped.  Nothing of the clear stream is read after
 * the 220 and nothing already read survives (CVE-2011-0411: the caller
 * calls io_discard() first).  The pipes then become fds 0 and 1, so the
 * connection itself is left to the front alone.  IO_OK, or IO_EOF when
 * the handshake failed (the front closed without a word), or IO_TIMEOUT
 * after -t.
 */
enum io_result
io_starttls(const int *fd, char *desc, size_t max, size_t *len)
{
	struct timespec now, dl;
	char junk[512];
	ssize_t n;
	int fl;

	io_flush();
	/* The front's handshake reads this socket: it must block again. */
	if (wsock == 1 && (fl = fcntl(1, F_GETFL)) >= 0)
		(void)fcntl(1, F_SETFL, fl & ~O_NONBLOCK);
	wsock = -1;
	*len = 0;
	do
		n = write(fd[0], "Y", 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		return IO_EOF;
	clock_gettime(CLOCK_MONOTONIC, &now);
	after(&dl, &now, conf.timeout);
	for (;;) {
		if (!wait_fd(fd[0], POLLIN, &dl))
			return IO_TIMEOUT;
		if (*len + 1 < max)
			n = read(fd[0], desc + *len, max - 1 - *len);
		else
			n = read(fd[0], junk, sizeof(junk));
		if (n == 0)
			break;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return IO_EOF;
		if (n > 0 && *len + 1 < max)
			*len += (size_t)n;
	}
	desc[*len] = '\0';
	if (*len == 0 || dup2(fd[1], 0) < 0 || dup2(fd[2], 1) < 0)
		return IO_EOF;
	(void)close(fd[0]);
	(void)close(fd[1]);
	(void)close(fd[2]);
	return IO_OK;
}
