/*
 * libFuzzer target for the PROXY protocol parser in proxy.c.  An input
 * whose first byte is even is the start of a connection for proxy_parse():
 * the result is checked against what the parser promises, and so is every
 * shorter prefix, which must never ask for a byte past the header.  An odd
 * first byte makes the rest a -P argument for proxy_fronts(), and then
 * some peers are checked with proxy_trusted().
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>

#include "../smtpd.h"
#include "fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A string field: terminated inside its array. */
static void
check_str(const char *s, size_t sz)
{
	if (memchr(s, '\0', sz) == NULL)
		abort();
}

/* An address field: one inet_pton() reads back, of the family said. */
static void
check_addr(const char *s, int v6)
{
	unsigned char a[16];

	if (inet_pton(v6 ? AF_INET6 : AF_INET, s, a) != 1)
		abort();
}

static void
check_port(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 5 || strspn(s, "0123456789") != n ||
	    strtol(s, NULL, 10) > 65535)
		abort();
}

static void
check_done(const struct proxy_hdr *h, size_t size)
{
	size_t i;

	if (h->len == 0 || h->len > size || h->len > MAX_PROXY_V2)
		abort();
	check_str(h->src, sizeof(h->src));
	check_str(h->dst, sizeof(h->dst));
	check_str(h->sport, sizeof(h->sport));
	check_str(h->dport, sizeof(h->dport));
	check_str(h->tls, sizeof(h->tls));
	for (i = 0; h->tls[i] != '\0'; i++)
		if (h->tls[i] < 0x20 || h->tls[i] > 0x7e ||
		    strchr("\"\\()", h->tls[i]) != NULL)
			abort();
	if (h->relayed) {
		check_addr(h->src, h->src6);
		check_addr(h->dst, h->dst6);
		check_port(h->sport);
		check_port(h->dport);
	} else if (h->src[0] != '\0' || h->sport[0] != '\0')
		abort();
}

static void
fuzz_parse(const uint8_t *data, size_t size)
{
	struct proxy_hdr h, p;
	enum proxy_result r, rp;
	size_t k;

	r = proxy_parse(data, size, &h);
	if (r == PX_MORE && (h.len <= size || h.len > MAX_PROXY_V2))
		abort();
	if (r == PX_BAD && (h.why == NULL || h.why[0] == '\0'))
		abort();
	if (r != PX_DONE)
		return;
	check_done(&h, size);
	/* Read in pieces, it asks for no byte past its end. */
	for (k = 0; k < h.len; k++) {
		rp = proxy_parse(data, k, &p);
		if (rp == PX_DONE || (rp == PX_MORE && (p.len <= k ||
		    p.len > h.len)))
			abort();
		if (rp == PX_BAD)
			abort();	/* a prefix of a header is no error */
	}
	rp = proxy_parse(data, h.len, &p);
	if (rp != PX_DONE || p.len != h.len || p.relayed != h.relayed ||
	    strcmp(p.src, h.src) != 0 || strcmp(p.dst, h.dst) != 0 ||
	    strcmp(p.sport, h.sport) != 0 || strcmp(p.tls, h.tls) != 0)
		abort();
}

static void
fuzz_fronts(const uint8_t *data, size_t size)
{
	static const char *peers[] = { "127.0.0.1", "10.1.2.3", "0.0.0.0",
	    "255.255.255.255", "::1", "2001:db8::1", "::", "fe80::1" };
	char arg[256];
	size_t i, n = size < sizeof(arg) - 1 ? size : sizeof(arg) - 1;

	memcpy(arg, data, n);
	arg[n] = '\0';
	conf.nfronts = 0;
	if (proxy_fronts(arg) != 0)
		conf.nfronts = 0;
	if (conf.nfronts > MAX_FRONTS)
		abort();
	for (i = 0; i < conf.nfronts; i++)
		if (conf.fronts[i].bits > (conf.fronts[i].v6 ? 128U : 32U))
			abort();
	for (i = 0; i < sizeof(peers) / sizeof(peers[0]); i++)
		(void)proxy_trusted(peers[i], strchr(peers[i], ':') != NULL);
	if (proxy_trusted("", 0) || proxy_trusted("not an address", 0))
		abort();
	conf.nfronts = 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_fronts(data + 1, size - 1);
	else
		fuzz_parse(data + 1, size - 1);
	return 0;
}
