/*
 * libFuzzer target for the address parser: session.c is included so that
 * its static parse_path() and the MAIL and RCPT handlers can be called
 * directly.  The first byte picks the entry point, the rest is the
 * argument as a command line would carry it.
 */
#include <stdint.h>

#define sess_run	pathfuzz_sess_run
#define sess_refuse	pathfuzz_sess_refuse
#include "../session.c"
#include "fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
inside(const char *p, const char *buf, size_t len)
{
	return p >= buf && p <= buf + len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct session s;
	static int ready;
	char buf[MAX_CMDLINE], addr[MAX_PATH_LEN + 1], local[MAX_LOCAL + 1];
	const char *domain, *end;
	size_t len;
	int sel;

	if (!ready) {
		fuzz_setup_mail();
		if (dup2(fuzz_tmpfile(), 1) != 1)
			abort();
		ready = 1;
	}
	if (size == 0)
		return 0;
	sel = data[0] % 4;
	len = size - 1 < sizeof(buf) - 1 ? size - 1 : sizeof(buf) - 1;
	memcpy(buf, data + 1, len);
	buf[len] = '\0';
	len = strlen(buf);
	switch (sel) {
	case 0:
	case 1:
		end = parse_path(buf, addr, local, &domain, sel);
		if (end == NULL)
			break;
		if (!inside(end, buf, len) || end[-1] != '>' ||
		    strlen(addr) > MAX_PATH_LEN || strlen(local) > MAX_LOCAL ||
		    (domain != NULL && !inside(domain, buf, len)) ||
		    (domain == NULL && addr[0] != '\0' && !sel))
			abort();
		break;
	case 2:
		s.state = ST_IDLE;
		s.esmtp = 1;
		cmd_mail(&s, buf);
		break;
	case 3:
		s.state = ST_MAIL;
		s.nrcpt = 0;
		cmd_rcpt(&s, buf);
		if (s.nrcpt > conf.maxrcpt)
			abort();
		break;
	}
	io_flush();
	if (ftruncate(1, 0) != 0 || lseek(1, 0, SEEK_SET) != 0)
		abort();
	return 0;
}
