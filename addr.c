/*
 * RFC 5321 addresses: the Path parser shared by MAIL, RCPT, VRFY and the
 * aliases file, with RFC 6531 UTF-8 on request, the test for local
 * domains, and which local parts may name a mailbox at all.  Calls
 * nothing of ours.
 */
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

/*
 * RFC 5321 4.1.2: Let-dig [Ldh-str] sub-domains, or an address literal;
 * with utf8, RFC 6531 3.3 U-labels too (not checked against IDNA).
 */
static const char *
domain_end(const char *p, int utf8)
{
	const char *start = p;
	size_t k;

	if (*p == '[') {
		for (p++; *p != ']'; p++)
			if (*p < 0x21 || *p > 0x7e || *p == '[' || *p == '\\')
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
	int rcpt = flags & ADDR_RCPT, utf8 = flags & ADDR_UTF8;

	pa->addr[0] = pa->local[0] = pa->domain[0] = '\0';
	if (*p++ != '<')
		return NULL;
	if (*p == '>')
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
	if (*p != '>' || (size_t)(p - start) > MAX_PATH_LEN - 2 ||
	    pa->local[0] == '-')
		return NULL;
	memcpy(pa->addr, start, (size_t)(p - start));
	pa->addr[p - start] = '\0';
	if (domain != NULL) {
		memcpy(pa->domain, domain, (size_t)(p - domain));
		pa->domain[p - domain] = '\0';
	}
	return p + 1;
}

/*
 * Parse an RFC 5321 Path at p: "<" [route ":"] mailbox ">" into pa: the
 * mailbox without the route, its unquoted local part and its domain ("" for
 * the null path, or for a bare "postmaster" when rcpt is set).  The null
 * path is a reverse-path only.  A local part may not begin with '-', so
 * that no address can pose as an option of an agent (as Postfix's
 * allow_min_user = no).  flags: ADDR_RCPT for a forward-path, ADDR_UTF8
 * to allow well-formed UTF-8 in the mailbox (RFC 6531 3.3); limits stay
 * in octets.  Returns the end of the path, or NULL.
 */
char *
addr_path(char *s, struct path *pa, int flags)
{
	const char *end = path_end(s, pa, flags);

	/* The end lies in s, which is the caller's to change. */
	return end != NULL ? s + (end - s) : NULL;
}

/* Is d one of the local domains: -h, localhost, each -D? */
int
addr_is_local(const char *d)
{
	size_t i, len = strlen(d);

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
