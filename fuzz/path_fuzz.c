/*
 * libFuzzer target for the address parser in addr.c: the input is the
 * argument of MAIL FROM: or RCPT TO: (the first byte picks which, and
 * whether SMTPUTF8 is on), and the parsed path is checked against the
 * limits it promises.
 */
#include <stdint.h>

#include "../smtpd.h"
#include "fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char buf[MAX_CMDLINE];
	struct path pa;
	const char *end;
	size_t len;
	int rcpt, flags;

	if (!ready) {
		fuzz_setup_mail();
		ready = 1;
	}
	if (size == 0)
		return 0;
	flags = data[0] & (ADDR_RCPT | ADDR_UTF8);
	rcpt = flags & ADDR_RCPT;
	len = size - 1 < sizeof(buf) - 1 ? size - 1 : sizeof(buf) - 1;
	memcpy(buf, data + 1, len);
	buf[len] = '\0';
	len = strlen(buf);
	memset(&pa, 'Z', sizeof(pa));
	if ((end = addr_path(buf, &pa, flags)) == NULL)
		return 0;
	if (end <= buf || end > buf + len || end[-1] != '>' ||
	    memchr(pa.addr, '\0', sizeof(pa.addr)) == NULL ||
	    memchr(pa.local, '\0', sizeof(pa.local)) == NULL ||
	    memchr(pa.domain, '\0', sizeof(pa.domain)) == NULL ||
	    pa.local[0] == '-')
		abort();
	if (pa.addr[0] == '\0' && (rcpt || strncmp(buf, "<>", 2) != 0 ||
	    end != buf + 2))
		abort();	/* only MAIL's null path has no mailbox */
	for (len = 0; pa.addr[len] != '\0'; len++) {
		unsigned char c = (unsigned char)pa.addr[len];

		/* Never UTF-8 unasked; never a byte UTF-8 cannot hold. */
		if (c >= 0x80 && (!(flags & ADDR_UTF8) || c == 0xc0 ||
		    c == 0xc1 || c >= 0xf5))
			abort();
	}
	if (pa.domain[0] != '\0') {
		(void)addr_is_local(pa.domain);	/* exercised, any answer */
		addr_lower(pa.domain);
	}
	return 0;
}
