/*
 * RFC 5321 addresses: the Path parser shared by MAIL, RCPT, VRFY and the
 * aliases file, with RFC 6531 UTF-8 on request, address literals read to
 * their value, the test for local domains, which local parts may name a
 * mailbox at all, and subaddresses (-e).  Calls nothing of ours.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtpd.h"

/*
 * RFC 3629 4: the length of the well-formed UTF-8 sequence of a non-ASCII
 * character at p, or 0: no overlong forms, surrogates or code points past
 * U+10FFFF, and no C1 controls (U+0080 to U+009F).
 */
static size_t
utf8_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (p[0] == 0xc2)
		lo = 0xa0;			/* C1 controls */
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;		/* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f;		/* surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;		/* overlong */
		else if (p[0] == 0xf4)
			hi = 0x8f;		/* past U+10FFFF */
	} else
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Octets of one RFC 5321 atext character at p (RFC 6531 3.3 with utf8). */
static size_t
atext_len(const char *p, int utf8)
{
	unsigned char c = (unsigned char)*p;

	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL))
		return 1;
	return utf8 && c >= 0x80 ? utf8_len(p) : 0;
}

/* Octets of one let-dig at p: with utf8, a non-ASCII character counts. */
static size_t
letdig_len(const char *p, int utf8)
{
	unsigned char c = (unsigned char)*p;

	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return utf8 && c >= 0x80 ? utf8_len(p) : 0;
}

/* Does s hold a non-ASCII octet? */
int
addr_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* The value of a hexadecimal digit of either case, or -1. */
int
addr_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 5321 4.1.3: four Snum into b[0..3]; the end, or NULL. */
static const char *
ipv4_literal(const char *p, unsigned char *b)
{
	unsigned int v;
	int i, n;

	for (i = 0; i < 4; i++) {
		if (i > 0 && *p++ != '.')
			return NULL;
		for (v = 0, n = 0; n < 3 && *p >= '0' && *p <= '9'; n++)
			v = v * 10 + (unsigned int)(*p++ - '0');
		if (n == 0 || v > 255)
			return NULL;
		b[i] = (unsigned char)v;
	}
	return p;
}

/* Does an IPv4 address begin at p: up to 3 digits, then a dot? */
static int
ipv4_next(const char *p)
{
	size_t n = 0;

	while (n < 3 && p[n] >= '0' && p[n] <= '9')
		n++;
	return n > 0 && p[n] == '.';
}

/* Put the groups g[0..n) into b, the gap (if any) widened to fit. */
static void
ipv6_fill(unsigned char *b, const unsigned int *g, size_t n, size_t gap)
{
	size_t i, at;

	memset(b, 0, 16);
	for (i = 0; i < n; i++) {
		at = i >= gap ? i + 8 - n : i;
		b[2 * at] = (unsigned char)(g[i] >> 8);
		b[2 * at + 1] = (unsigned char)(g[i] & 0xff);
	}
}

/*
 * RFC 5321 4.1.3 IPv6-addr: full or compressed, either with an IPv4 tail,
 * into the 16 octets at b; the end, or NULL.  "::" may stand for a single
 * group of zeros, as RFC 4291 2.2 and inet_pton(3) allow.
 */
static const char *
ipv6_literal(const char *p, unsigned char *b)
{
	unsigned int g[8], x;
	size_t n = 0, gap = 9, k;
	int v;

	if (p[0] == ':' && p[1] == ':') {
		gap = 0;
		p += 2;
	}
	for (;;) {
		if (n < 8 && ipv4_next(p)) {
			if (n > 6 || (p = ipv4_literal(p, b)) == NULL)
				return NULL;
			g[n++] = (unsigned int)b[0] << 8 | b[1];
			g[n++] = (unsigned int)b[2] << 8 | b[3];
			break;
		}
		for (k = 0, x = 0; k < 4 && (v = addr_hex((unsigned char)*p)) >= 0;
		    k++, p++)
			x = x * 16 + (unsigned int)v;
		if (k == 0 && gap == n)
			break;			/* nothing after "::" */
		if (k == 0 || n == 8)
			return NULL;
		g[n++] = x;
		if (*p != ':')
			break;
		if (p[1] != ':')
			p++;
		else if (gap != 9)
			return NULL;		/* a second "::" */
		else {
			gap = n;
			p += 2;
		}
	}
	if (gap == 9 ? n != 8 : n > 7)
		return NULL;
	ipv6_fill(b, g, n, gap);
	return p;
}

/*
 * RFC 5321 4.1.3: read the address literal d ("[...]") into the 16 octets
 * at b, an IPv4 address as RFC 4291 2.5.5.2 maps it.  Returns 1 for an
 * IPv4 or IPv6 literal, 0 for a General-address-literal (a tag, a colon
 * and text: no address of ours), -1 for a malformed one.
 */
int
addr_literal(const char *d, unsigned char *b)
{
	const char *p = d + 1, *q;

	if (*d != '[')
		return -1;
	if (strncasecmp(p, "IPv6:", 5) == 0)
		return (p = ipv6_literal(p + 5, b)) != NULL && p[0] == ']' &&
		    p[1] == '\0' ? 1 : -1;
	if ((q = ipv4_literal(p, b + 12)) != NULL && q[0] == ']' &&
	    q[1] == '\0') {
		memset(b, 0, 10);
		b[10] = b[11] = 0xff;
		return 1;
	}
	/* Standardized-tag ":" 1*dcontent; the tag is an Ldh-str. */
	while (letdig_len(p, 0) > 0 || *p == '-')
		p++;
	if (p == d + 1 || p[-1] == '-' || *p++ != ':')
		return -1;
	for (q = p; *p > 0x20 && *p < 0x7f && *p != '[' && *p != ']' &&
	    *p != '\\'; p++)
		;
	return p > q && p[0] == ']' && p[1] == '\0' ? 0 : -1;
}

/*
 * RFC 5321 4.1.2: Let-dig [Ldh-str] sub-domains, or an address literal
 * (well-formed, see addr_literal()); with utf8, RFC 6531 3.3 U-labels too
 * (not checked against IDNA).
 */
static const char *
domain_end(const char *p, int utf8)
{
	const char *start = p;
	char lit[MAX_DOMAIN + 2];
	unsigned char b[16];
	size_t k;

	if (*p == '[') {
		if ((p = strchr(p, ']')) == NULL ||
		    (size_t)(p - start) > MAX_DOMAIN)
			return NULL;
		memcpy(lit, start, (size_t)(p - start) + 1);
		lit[p - start + 1] = '\0';
		if (addr_literal(lit, b) < 0)
			return NULL;
		p++;
	} else {
		for (;;) {
			const char *label = p;

			while (*p == '-' || (k = letdig_len(p, utf8)) > 0)
				p += *p == '-' ? 1 : k;
			if (p == label || *label == '-' || p[-1] == '-')
				return NULL;
			if (*p != '.')
				break;
			p++;
		}
	}
	return (size_t)(p - start) <= MAX_DOMAIN ? p : NULL;
}

const char *
addr_domain(const char *p)
{
	return domain_end(p, 0);
}

/* Skip an RFC 5321 source route, "@a,@b:", at p; its end, or NULL. */
static const char *
skip_route(const char *p)
{
	do {
		if ((p = addr_domain(p + 1)) == NULL)
			return NULL;
	} while (*p == ',' && *++p == '@');
	return *p == ':' ? p + 1 : NULL;
}

/* A quoted local part at p, unquoted into local; its end, or NULL. */
static const char *
quoted_local(const char *p, char *local, int utf8)
{
	size_t n = 0, k;

	for (p++; *p != '"'; p++) {
		if (*p == '\\')
			p++;
		else if (utf8 && (unsigned char)*p >= 0x80 &&
		    (k = utf8_len(p)) > 0 && n + k <= MAX_LOCAL) {
			memcpy(local + n, p, k);
			n += k;
			p += k - 1;
			continue;
		}
		if (*p < 0x20 || *p > 0x7e || n == MAX_LOCAL)
			return NULL;
		local[n++] = *p;
	}
	local[n] = '\0';
	return p + 1;
}

/* A dot-atom local part at p, copied into local; its end, or NULL. */
static const char *
atom_local(const char *p, char *local, int utf8)
{
	size_t n = 0, k;

	for (;;) {
		const char *atom = p;

		while ((k = atext_len(p, utf8)) > 0 && n + k <= MAX_LOCAL) {
			memcpy(local + n, p, k);
			n += k;
			p += k;
		}
		if (p == atom || atext_len(p, utf8) > 0)
			return NULL;
		if (*p != '.')
			break;
		if (n == MAX_LOCAL)
			return NULL;
		local[n++] = *p++;
	}
	local[n] = '\0';
	return p;
}

/* addr_path() on a string it may not change; the end of the path, or NULL. */
static const char *
path_end(const char *p, struct path *pa, int flags)
{
	const char *start, *at, *domain = NULL;
	int rcpt = flags & ADDR_RCPT, utf8 = flags & ADDR_UTF8, bare = 0;

	pa->addr[0] = pa->local[0] = pa->domain[0] = '\0';
	if (*p != '<') {
		/* A bare mailbox: no route, no blank, nothing after it. */
		if (!(flags & ADDR_BARE) || *p == '@' || strchr(p, ' ') != NULL)
			return NULL;
		bare = 1;
	} else if (*++p == '>')
		return rcpt ? NULL : p + 1;	/* null path, MAIL only */
	if (*p == '@' && (p = skip_route(p)) == NULL)	/* ignored */
		return NULL;
	start = p;
	p = *p == '"' ? quoted_local(p, pa->local, utf8) :
	    atom_local(p, pa->local, utf8);
	if ((at = p) == NULL)
		return NULL;
	if (*p == '@') {
		if ((p = domain_end(p + 1, utf8)) == NULL)
			return NULL;
		domain = at + 1;
	} else if (!rcpt || strcasecmp(pa->local, "postmaster") != 0 ||
	    start[0] == '"')
		return NULL;
	if (*p != (bare ? '\0' : '>') ||
	    (size_t)(p - start) > MAX_PATH_LEN - 2 || pa->local[0] == '-')
		return NULL;
	memcpy(pa->addr, start, (size_t)(p - start));
	pa->addr[p - start] = '\0';
	if (domain != NULL) {
		memcpy(pa->domain, domain, (size_t)(p - domain));
		pa->domain[p - domain] = '\0';
	}
	return bare ? p : p + 1;
}

/*
 * Parse an RFC 5321 Path at p: "<" [route ":"] mailbox ">" into pa: the
 * mailbox without the route, its unquoted local part and its domain ("" for
 * the null path, or for a bare "postmaster" when rcpt is set).  The null
 * path is a reverse-path only.  A local part may not begin with '-', so
 * that no address can pose as an option of an agent (as Postfix's
 * allow_min_user = no).  flags: ADDR_RCPT for a forward-path, ADDR_UTF8
 * to allow well-formed UTF-8 in the mailbox (RFC 6531 3.3); limits stay
 * in octets; ADDR_BARE to take a mailbox without its angle brackets too,
 * when it has no blank and is all of s (then no parameters can follow).
 * Returns the end of the path, or NULL.
 */
char *
addr_path(char *s, struct path *pa, int flags)
{
	const char *end = path_end(s, pa, flags);

	/* The end lies in s, which is the caller's to change. */
	return end != NULL ? s + (end - s) : NULL;
}

/*
 * Is the address literal d one of ours: the address the connection
 * arrived on, or a literal given with -D?  Compared by value, so that
 * [IPv6:0::1] is [IPv6:::1] and [IPv6:::ffff:127.0.0.1] is [127.0.0.1].
 */
static int
literal_is_local(const char *d)
{
	unsigned char b[16], o[16];
	size_t i;

	if (addr_literal(d, b) != 1)
		return 0;
	if (inet_pton(AF_INET, conf.local, o + 12) == 1) {
		memset(o, 0, 10);
		o[10] = o[11] = 0xff;
		if (memcmp(b, o, 16) == 0)
			return 1;
	} else if (inet_pton(AF_INET6, conf.local, o) == 1 &&
	    memcmp(b, o, 16) == 0)
		return 1;
	for (i = 0; i < conf.ndomains; i++)
		if (conf.domains[i][0] == '[' &&
		    addr_literal(conf.domains[i], o) == 1 &&
		    memcmp(b, o, 16) == 0)
			return 1;
	return 0;
}

/* Is d one of the local domains: -h, localhost, each -D, our literals? */
int
addr_is_local(const char *d)
{
	size_t i, len = strlen(d);

	if (*d == '[')
		return literal_is_local(d);
	if ((strlen(conf.hostname) == len &&
	    strncasecmp(d, conf.hostname, len) == 0) ||
	    (len == 9 && strncasecmp(d, "localhost", len) == 0))
		return 1;
	for (i = 0; i < conf.ndomains; i++)
		if (strlen(conf.domains[i]) == len &&
		    strncasecmp(d, conf.domains[i], len) == 0)
			return 1;
	return 0;
}

/* Lower-case s in place (ASCII only; the C locale is never changed). */
void
addr_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/*
 * Is this local part one that may name a mailbox at all?  Never a path
 * (no '/', no leading dot, so not "." or ".."), a control character, or a
 * dotlock name.
 */
int
addr_valid_user(const char *u)
{
	const char *p;
	size_t n = strlen(u);

	if (*u == '\0' || *u == '.' ||
	    (n >= 5 && strcmp(u + n - 5, ".lock") == 0))
		return 0;
	for (p = u; *p != '\0'; p++)
		if (*p == '/' || (unsigned char)*p < 0x20 ||
		    (unsigned char)*p == 0x7f)	/* UTF-8 is a name's bytes */
			return 0;
	return 1;
}

/*
 * -e: where local splits into a user and a detail, at the first of the
 * delimiters; NULL when it does not.  The user is never empty, and the
 * detail holds only what a dot-atom may (RFC 6531 UTF-8 too), begins with
 * neither '-' nor '.', so it may reach an agent's argument as it is.
 */
const char *
addr_split(const char *local)
{
	const char *cut, *p;
	size_t k;

	if (conf.delim == NULL || *local == '\0' ||
	    *(cut = local + strcspn(local, conf.delim)) == '\0' ||
	    cut == local || cut[1] == '-' || cut[1] == '.')
		return NULL;
	for (p = cut + 1; *p != '\0'; p += k)
		if ((k = *p == '.' ? 1 : atext_len(p, 1)) == 0)
			return NULL;
	return cut;
}

/*
 * The detail of a copy for the mailbox user sent to addr: when addr's
 * local part (lower-cased) is user, a delimiter and a detail, the detail
 * goes to detail (MAX_LOCAL + 1 octets) and the delimiter is returned;
 * else 0, with detail "".
 */
int
addr_detail(const char *user, const char *addr, char *detail)
{
	char buf[MAX_PATH_LEN + 3];
	struct path pa;
	const char *cut;
	size_t ul = strlen(user);

	detail[0] = '\0';
	if (conf.delim == NULL)
		return 0;
	snprintf(buf, sizeof(buf), "<%s>", addr);
	if (addr_path(buf, &pa, ADDR_RCPT | ADDR_UTF8) == NULL)
		return 0;
	addr_lower(pa.local);
	if ((cut = addr_split(pa.local)) == NULL ||
	    (size_t)(cut - pa.local) != ul || strncmp(pa.local, user, ul) != 0)
		return 0;
	memcpy(detail, cut + 1, strlen(cut + 1) + 1);
	return (unsigned char)*cut;
}

/*
 * The name of a copy for the mailbox user sent to addr, as Delivered-To:
 * gives it before the '@': the user, with -e its delimiter and detail too.
 */
void
addr_rcpt_name(char *buf, size_t sz, const char *user, const char *addr)
{
	char detail[MAX_LOCAL + 1];
	int delim = addr_detail(user, addr, detail);

	if (delim != 0)
		snprintf(buf, sz, "%s%c%s", user, delim, detail);
	else
		snprintf(buf, sz, "%s", user);
}
