/*
 * The PROXY protocol, versions 1 and 2 (HAProxy's proxy-protocol.txt), for
 * a session behind a load balancer: -P names the trusted fronts, and the
 * header a front sends before any SMTP tells who the client is.  The
 * parser, proxy_parse(), works on the bytes read so far and says how many
 * more it needs, so the header is read through io.c's buffer without
 * taking a byte of the SMTP that follows it.  Calls io.c and log.c.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd.h"

#define V1_MIN		15	/* "PROXY UNKNOWN\r\n", the shortest line */
#define V2_HEAD		16	/* signature, version, family, length */

/* PROXY v2 TLV types and the TLS subtypes (proxy-protocol.txt 2.2). */
#define PP2_TYPE_CRC32C		0x03
#define PP2_TYPE_SSL		0x20
#define PP2_SUBTYPE_SSL_VERSION	0x21
#define PP2_SUBTYPE_SSL_CIPHER	0x23
#define PP2_CLIENT_SSL		0x01

static const unsigned char v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};
static const unsigned char v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static enum proxy_result
bad(struct proxy_hdr *h, const char *why)
{
	h->why = why;
	return PX_BAD;
}

/*
 * An address (4 or 16 bytes) as text into out, an IPv4-mapped IPv6
 * address as IPv4, as smtpd.c shows a socket peer.  Returns 0 or -1.
 */
static int
ip_format(const unsigned char *a, int v6, char *out, size_t sz, int *out6)
{
	if (v6 && memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
		a += sizeof(v4mapped);
		v6 = 0;
	}
	if (inet_ntop(v6 ? AF_INET6 : AF_INET, a, out, (socklen_t)sz) == NULL)
		return -1;
	*out6 = v6;
	return 0;
}

/*
 * A version 1 address of the family v6: an IPv4 address only in its
 * canonical form (no leading zeros), an IPv6 address as inet_pton()
 * reads it.  Returns 0 or -1.
 */
static int
v1_addr(const char *s, int v6, char *out, size_t sz, int *out6)
{
	unsigned char a[16];
	char back[INET6_ADDRSTRLEN];

	if (inet_pton(v6 ? AF_INET6 : AF_INET, s, a) != 1)
		return -1;
	if (!v6 && (inet_ntop(AF_INET, a, back, sizeof(back)) == NULL ||
	    strcmp(back, s) != 0))
		return -1;
	return ip_format(a, v6, out, sz, out6);
}

/* A version 1 port: 0 to 65535 in decimal, no leading zero.  0 or -1. */
static int
v1_port(const char *s, char *out, size_t sz)
{
	size_t n = strlen(s);

	if (n == 0 || n > 5 || strspn(s, "0123456789") != n ||
	    (s[0] == '0' && n > 1) || strtol(s, NULL, 10) > 65535 || sz <= n)
		return -1;
	memcpy(out, s, n + 1);
	return 0;
}

/* Split s at single blanks into at most max fields; -1 if it cannot. */
static int
v1_split(char *s, char **f, int max)
{
	int n = 0;

	for (;;) {
		if (n == max || *s == ' ' || *s == '\0')
			return -1;
		f[n++] = s;
		if ((s = strchr(s, ' ')) == NULL)
			return n;
		*s++ = '\0';
	}
}

/* The text line of version 1, "PROXY " already matched as far as it goes. */
static enum proxy_result
parse_v1(const unsigned char *b, size_t len, struct proxy_hdr *h)
{
	char line[MAX_PROXY_V1 + 1], *f[6];
	const unsigned char *lf = memchr(b, '\n', len);
	size_t n;
	int v6;

	if (lf == NULL) {
		if (len >= MAX_PROXY_V1)
			return bad(h, "oversize");
		/* The line may end at any byte past the shortest one. */
		h->len = len < V1_MIN ? V1_MIN : len + 1;
		return PX_MORE;
	}
	n = (size_t)(lf - b);
	if (n + 1 > MAX_PROXY_V1)
		return bad(h, "oversize");
	if (n < V1_MIN - 1 || b[n - 1] != '\r')
		return bad(h, "malformed");
	h->len = n + 1;
	memcpy(line, b, --n);
	line[n] = '\0';
	/* UNKNOWN: the rest of the line is ignored (2.1). */
	if (strncmp(line, "PROXY UNKNOWN", 13) == 0 &&
	    (line[13] == '\0' || line[13] == ' '))
		return PX_DONE;
	if (memchr(line, '\0', n) != NULL || v1_split(line, f, 6) != 6)
		return bad(h, "malformed");
	if (strcmp(f[1], "TCP4") == 0)
		v6 = 0;
	else if (strcmp(f[1], "TCP6") == 0)
		v6 = 1;
	else
		return bad(h, "unknown protocol");
	if (v1_addr(f[2], v6, h->src, sizeof(h->src), &h->src6) != 0 ||
	    v1_addr(f[3], v6, h->dst, sizeof(h->dst), &h->dst6) != 0)
		return bad(h, "bad address");
	if (v1_port(f[4], h->sport, sizeof(h->sport)) != 0 ||
	    v1_port(f[5], h->dport, sizeof(h->dport)) != 0)
		return bad(h, "bad port");
	h->relayed = 1;
	return PX_DONE;
}

/* RFC 3720 CRC32c of b, with the 4 bytes at zero taken as zeros (2.2.3). */
static uint32_t
crc32c(const unsigned char *b, size_t len, size_t zero)
{
	uint32_t c = 0xffffffffU;
	size_t i;
	int k;

	for (i = 0; i < len; i++) {
		c ^= i >= zero && i < zero + 4 ? 0 : b[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78U & (0U - (c & 1)));
	}
	return ~c;
}

/*
 * Append a TLS string to h->tls: printable ASCII but blank, quotes,
 * backslash and parentheses, which would end Received:'s comment, else
 * '?'; at most 63 bytes.
 */
static void
tls_word(struct proxy_hdr *h, const unsigned char *s, size_t n)
{
	size_t len = strlen(h->tls), i;

	if (len > 0 && len + 1 < sizeof(h->tls))
		h->tls[len++] = ' ';
	for (i = 0; i < n && i < 63 && len + 1 < sizeof(h->tls); i++) {
		unsigned char c = s[i];

		h->tls[len++] = c > 0x20 && c < 0x7f &&
		    strchr("\"\\()", c) == NULL ? (char)c : '?';
	}
	h->tls[len] = '\0';
}

/*
 * Walk the TLVs of b[off, end): each must fit exactly.  At depth 0 a
 * checksum is verified and the TLS TLV entered; at depth 1 (the TLS
 * TLV's subtypes) the version and cipher are kept.
 */
static enum proxy_result
tlvs(const unsigned char *b, size_t off, size_t end, int depth,
    struct proxy_hdr *h)
{
	const unsigned char *ver = NULL, *cipher = NULL, *v;
	size_t vlen = 0, clen = 0, n;

	while (off < end) {
		if (end - off < 3 ||
		    (n = (size_t)b[off + 1] << 8 | b[off + 2]) > end - off - 3)
			return bad(h, "bad TLV");
		v = b + off + 3;
		if (depth == 0 && b[off] == PP2_TYPE_CRC32C) {
			if (n != 4 || crc32c(b, h->len, off + 3) !=
			    ((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
			    (uint32_t)v[2] << 8 | v[3]))
				return bad(h, "bad checksum");
		} else if (depth == 0 && b[off] == PP2_TYPE_SSL) {
			/* client flags (1), verify (4), then subtypes */
			if (n < 5 ||
			    tlvs(b, off + 8, off + 3 + n, 1, h) != PX_DONE)
				return bad(h, "bad TLV");
			if (!(v[0] & PP2_CLIENT_SSL))
				h->tls[0] = '\0';
		} else if (depth == 1 && b[off] == PP2_SUBTYPE_SSL_VERSION) {
			ver = v;
			vlen = n;
		} else if (depth == 1 && b[off] == PP2_SUBTYPE_SSL_CIPHER) {
			cipher = v;
			clen = n;
		}
		off += 3 + n;
	}
	if (depth == 1) {
		h->tls[0] = '\0';
		tls_word(h, ver != NULL ? ver : (const unsigned char *)"TLS",
		    ver != NULL ? vlen : 3);
		if (cipher != NULL)
			tls_word(h, cipher, clen);
	}
	return PX_DONE;
}

/* The binary header of version 2, its signature matched so far. */
static enum proxy_result
parse_v2(const unsigned char *b, size_t len, struct proxy_hdr *h)
{
	static const size_t block[4] = { 0, 12, 36, 216 };
	unsigned int fam, proto;
	size_t total;

	if (len < V2_HEAD) {
		h->len = V2_HEAD;
		return PX_MORE;
	}
	if (b[12] >> 4 != 2)
		return bad(h, "bad version");
	if ((b[12] & 0xf) > 1)
		return bad(h, "bad command");
	total = V2_HEAD + ((size_t)b[14] << 8 | b[15]);
	if (total > MAX_PROXY_V2)
		return bad(h, "oversize");
	h->len = total;
	if (len < total)
		return PX_MORE;
	/* LOCAL: the balancer's own connection; the rest is ignored. */
	if ((b[12] & 0xf) == 0)
		return PX_DONE;
	fam = b[13] >> 4;
	proto = b[13] & 0xf;
	if (fam > 3 || proto > 2)
		return bad(h, "bad family");
	if (total - V2_HEAD < block[fam])
		return bad(h, "short address");
	/* TCP over IPv4 or IPv6; anything else is served as LOCAL is. */
	if (b[13] == 0x11 || b[13] == 0x21) {
		size_t alen = fam == 1 ? 4 : 16;
		const unsigned char *p = b + V2_HEAD + 2 * alen;

		if (ip_format(b + V2_HEAD, fam == 2, h->src, sizeof(h->src),
		    &h->src6) != 0 || ip_format(b + V2_HEAD + alen, fam == 2,
		    h->dst, sizeof(h->dst), &h->dst6) != 0)
			return bad(h, "bad address");
		log_fmt(h->sport, sizeof(h->sport), "%u",
		    (unsigned int)(p[0] << 8 | p[1]));
		log_fmt(h->dport, sizeof(h->dport), "%u",
		    (unsigned int)(p[2] << 8 | p[3]));
		h->relayed = 1;
	}
	return tlvs(b, V2_HEAD + block[fam], total, 0, h);
}

/*
 * Parse the first len bytes of the connection as a PROXY header.  PX_DONE:
 * a header of h->len bytes, described in h; PX_MORE: it needs h->len bytes
 * in all before it can say more, and none of them is past the header;
 * PX_BAD: not a header, h->why says why.
 */
enum proxy_result
proxy_parse(const unsigned char *b, size_t len, struct proxy_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->len = 1;
	if (len == 0)
		return PX_MORE;
	if (b[0] == 'P') {
		if (memcmp(b, "PROXY ", len < 6 ? len : 6) != 0)
			return bad(h, "not a PROXY header");
		return parse_v1(b, len, h);
	}
	if (memcmp(b, v2sig, len < sizeof(v2sig) ? len : sizeof(v2sig)) != 0)
		return bad(h, "not a PROXY header");
	return parse_v2(b, len, h);
}

/*
 * Add the -P fronts of arg: addresses or prefixes (address/bits), IPv4 or
 * IPv6, separated by commas.  Returns 0, or -1 for a bad one or too many.
 */
int
proxy_fronts(const char *arg)
{
	const char *p = arg, *end, *slash;
	char buf[INET6_ADDRSTRLEN + 8];
	struct front *f;
	size_t n;
	long bits;
	char *e;

	do {
		end = p + strcspn(p, ",");
		if ((n = (size_t)(end - p)) == 0 || n >= sizeof(buf) ||
		    conf.nfronts == MAX_FRONTS)
			return -1;
		memcpy(buf, p, n);
		buf[n] = '\0';
		f = &conf.fronts[conf.nfronts];
		if ((slash = strchr(buf, '/')) != NULL)
			buf[slash - buf] = '\0';
		if (inet_pton(AF_INET, buf, f->addr) == 1)
			f->v6 = 0;
		else if (inet_pton(AF_INET6, buf, f->addr) == 1)
			f->v6 = 1;
		else
			return -1;
		bits = f->v6 ? 128 : 32;
		if (slash != NULL) {
			bits = strtol(slash + 1, &e, 10);
			if (slash[1] < '0' || slash[1] > '9' || *e != '\0' ||
			    bits > (f->v6 ? 128 : 32))
				return -1;
		}
		/* A peer is never IPv4-mapped: smtpd.c shows it as IPv4. */
		if (f->v6 && bits >= 96 && memcmp(f->addr, v4mapped, 12) == 0) {
			memmove(f->addr, f->addr + 12, 4);
			f->v6 = 0;
			bits -= 96;
		}
		f->bits = (unsigned int)bits;
		conf.nfronts++;
		p = *end == ',' ? end + 1 : end;
	} while (*end != '\0');
	return 0;
}

/* Is the address s (IPv6 if v6) inside one of the -P fronts? */
int
proxy_trusted(const char *s, int v6)
{
	unsigned char a[16];
	size_t i;

	if (s[0] == '\0' || inet_pton(v6 ? AF_INET6 : AF_INET, s, a) != 1)
		return 0;
	for (i = 0; i < conf.nfronts; i++) {
		const struct front *f = &conf.fronts[i];
		unsigned int full = f->bits / 8, rest = f->bits % 8;

		if (f->v6 != v6 || memcmp(a, f->addr, full) != 0)
			continue;
		if (rest == 0 ||
		    ((a[full] ^ f->addr[full]) & (0xff00 >> rest) & 0xff) == 0)
			return 1;
	}
	return 0;
}

/* One log line for a refused front or header, then the end: no greeting. */
static void NORETURN
refuse(const char *why)
{
	char peer[MAX_LOGVAL];

	log_info("client=%s error=proxy why=\"%s\"", log_esc(peer,
	    sizeof(peer), conf.peer[0] != '\0' ? conf.peer : "local"), why);
	exit(1);
}

/*
 * With -P, before the greeting: the peer must be a trusted front, and the
 * header must arrive whole within -t.  Then the client's address, port and
 * destination, and the front's TLS, replace the connection's own, unless
 * the header is LOCAL or UNKNOWN.  Bytes after the header stay in io.c's
 * buffer for the session.
 */
void
proxy_start(void)
{
	static unsigned char buf[MAX_PROXY_V2];
	const unsigned char *p;
	struct proxy_hdr h;
	enum proxy_result r;
	size_t have = 0, n;
	const char *sp;

	if (!proxy_trusted(conf.peer, conf.peer6))
		refuse("untrusted front");
	io_deadline(conf.timeout);
	while ((r = proxy_parse(buf, have, &h)) == PX_MORE) {
		switch (io_peek(&p, &n)) {
		case IO_OK:
			break;
		case IO_TIMEOUT:
			refuse("timeout");
		default:
			refuse(have == 0 ? "no header" : "truncated");
		}
		if (n > h.len - have)
			n = h.len - have;
		memcpy(buf + have, p, n);
		io_consume(n);
		have += n;
	}
	if (r == PX_BAD)
		refuse(h.why);
	memcpy(conf.front, conf.peer, sizeof(conf.front));
	if (h.tls[0] != '\0') {	/* "version cipher": the front's TLS */
		sp = strchr(h.tls, ' ');
		log_token(conf.tls.proto, sizeof(conf.tls.proto), h.tls,
		    sp != NULL ? (size_t)(sp - h.tls) : strlen(h.tls));
		if (sp != NULL)
			log_token(conf.tls.cipher, sizeof(conf.tls.cipher), sp + 1,
			    strlen(sp + 1));
	}
	if (!h.relayed)
		return;
	memcpy(conf.peer, h.src, sizeof(conf.peer));
	conf.peer6 = h.src6;
	memcpy(conf.port, h.sport, sizeof(conf.port));
	memcpy(conf.local, h.dst, sizeof(conf.local));
	conf.local6 = h.dst6;
}
