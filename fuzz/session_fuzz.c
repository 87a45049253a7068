/*
 * libFuzzer target over a whole session: the input is what a client sends,
 * fed through fd 0 as smtpd reads it; replies go to a file on fd 1 and are
 * checked line by line.  Messages are delivered into a temporary mail
 * directory, through the real forked delivery children.
 */
#include <stdint.h>

#include "../smtpd.h"
#include "fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Every reply line: "NNN " or "NNN-", printable ASCII, CRLF, <= 512 octets. */
static void
check_replies(int fd)
{
	static char buf[1 << 20];
	off_t end = lseek(fd, 0, SEEK_CUR);
	size_t len, i, start = 0;
	ssize_t n;

	if (end < 0 || (size_t)end > sizeof(buf))
		abort();
	len = (size_t)end;
	if ((n = pread(fd, buf, len, 0)) < 0 || (size_t)n != len)
		abort();
	for (i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i - start + 1 > 512 || i - start < 5 || buf[i - 1] != '\r')
			abort();
		if (buf[start] < '2' || buf[start] > '5' ||
		    buf[start + 1] < '0' || buf[start + 1] > '9' ||
		    buf[start + 2] < '0' || buf[start + 2] > '9' ||
		    (buf[start + 3] != ' ' && buf[start + 3] != '-'))
			abort();
		for (; start < i - 1; start++)
			if (buf[start] < 0x20 || buf[start] > 0x7e)
				abort();
		start = i + 1;
	}
	if (start != len)
		abort();	/* a reply without its CRLF */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int infd = -1, outfd;
	char line[MAX_CMDLINE];
	size_t len;
	int lowest, fd;

	if (infd < 0) {
		fuzz_setup_mail();
		infd = fuzz_tmpfile();
		outfd = fuzz_tmpfile();
		if (dup2(infd, 0) != 0 || dup2(outfd, 1) != 1)
			abort();
	}
	if (ftruncate(0, 0) != 0 || pwrite(0, data, size, 0) != (ssize_t)size ||
	    lseek(0, 0, SEEK_SET) != 0 || ftruncate(1, 0) != 0 ||
	    lseek(1, 0, SEEK_SET) != 0)
		abort();
	/* The session opens its spool afresh each run: close what it opened. */
	if ((lowest = dup(0)) < 0 || close(lowest) != 0)
		abort();
	if (setjmp(fuzz_jmp) == 0) {
		fuzz_in_session = 1;
		sess_run();
	}
	/* Drop what the session left unread, so the next run starts clean. */
	while (io_getline(line, sizeof(line), &len) != IO_EOF)
		continue;
	io_flush();
	check_replies(1);
	for (fd = lowest; fd < lowest + 16; fd++)
		close(fd);
	fuzz_reset_mail();
	return 0;
}
