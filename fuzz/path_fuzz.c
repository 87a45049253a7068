/*
 * libFuzzer target for the address parser in addr.c: the input is the
 * argument of MAIL FROM: or RCPT TO: (the first byte picks which, whether
 * SMTPUTF8 is on and whether a bare mailbox is taken), and the parsed path
 * is checked against the limits it promises.  Address literals are
 * checked against inet_pton(3), subaddresses against their split.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>

#include "../smtpd.h"
#include "fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * A literal the parser took has the value inet_pton(3) gives it; one
 * without a dotted part (where RFC 5321 allows leading zeros that
 * inet_pton refuses) is one inet_pton takes too.
 */
static void
check_literal(const char *d)
{
	unsigned char b[16], o[16];
	char in[MAX_DOMAIN + 1];
	size_t n = strlen(d);
	int r = addr_literal(d, b);

	if (r < 0 || n < 3 || d[n - 1] != ']')
		abort();	/* addr_path() took a malformed literal */
	if (r == 0 || strncasecmp(d, "[IPv6:", 6) != 0)
		return;
	memcpy(in, d + 6, n - 7);
	in[n - 7] = '\0';
	if (inet_pton(AF_INET6, in, o) == 1) {
		if (memcmp(b, o, 16) != 0)
			abort();
	} else if (strchr(in, '.') == NULL)
		abort();
}

/* A split local part joins again to itself, and addr_detail() agrees. */
static void
check_split(const struct path *pa)
{
	char local[MAX_LOCAL + 1], user[MAX_LOCAL + 1], detail[MAX_LOCAL + 1];
	const char *cut;

	memcpy(local, pa->local, sizeof(local));
	addr_lower(local);
	if ((cut = addr_split(local)) == NULL)
		return;
	if (cut == local || strchr(conf.delim, *cut) == NULL ||
	    strcspn(local, conf.delim) != (size_t)(cut - local))
		abort();
	memcpy(user, local, (size_t)(cut - local));
	user[cut - local] = '\0';
	if (addr_detail(user, pa->addr, detail) != (unsigned char)*cut ||
	    strcmp(detail, cut + 1) != 0)
		abort();
}

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
	flags = data[0] & (ADDR_RCPT | ADDR_UTF8 | ADDR_BARE);
	rcpt = flags & ADDR_RCPT;
	len = size - 1 < sizeof(buf) - 1 ? size - 1 : sizeof(buf) - 1;
	memcpy(buf, data + 1, len);
	buf[len] = '\0';
	len = strlen(buf);
	memset(&pa, 'Z', sizeof(pa));
	if ((end = addr_path(buf, &pa, flags)) == NULL)
		return 0;
	if (end <= buf || end > buf + len ||
	    (buf[0] == '<' ? end[-1] != '>' : end != buf + len ||
	    strchr(buf, ' ') != NULL) ||
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
	if (pa.domain[0] == '[')
		check_literal(pa.domain);
	if (pa.addr[0] != '\0')
		check_split(&pa);
	if (pa.domain[0] != '\0') {
		(void)addr_is_local(pa.domain);	/* exercised, any answer */
		addr_lower(pa.domain);
	}
	return 0;
}
