/*
 * The client stream, and the only code that touches file descriptors 0
 * and 1 in a session: a bounded, buffered reader and a buffered writer,
 * both under one deadline.  Calls nothing of ours but log.c.
 */
#include <errno.h>
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
static enum io_result
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
