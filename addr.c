/*
 * RFC 5321 addresses: the Path parser shared by MAIL, RCPT, VRFY and the
 * aliases file, and the test for local domains.
 */
#include <string.h>
#include <strings.h>

#include "smtpd.h"

/* RFC 5321 4.1.2: Let-dig [Ldh-str] sub-domains, or an address literal. */
const char *
addr_domain(const char *p)
{
	const char *start = p;

	if (*p == '[') {
		for (p++; *p != ']'; p++)
			if (*p < 0x21 || *p > 0x7e || *p == '[' || *p == '\\')
				return NULL;
		p++;
	} else {
		for (;;) {
			const char *label = p;

			while ((*p >= 'a' && *p <= 'z') ||
			    (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '-')
				p++;
			if (p == label || *label == '-' || p[-1] == '-')
				return NULL;
			if (*p != '.')
				break;
			p++;
		}
	}
	return (size_t)(p - start) <= MAX_DOMAIN ? p : NULL;
}

static int
is_atext(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * Parse an RFC 5321 Path at p: "<" [route ":"] mailbox ">" into pa: the
 * mailbox without the route, its unquoted local part and its domain ("" for
 * the null path, or for a bare "postmaster" when rcpt is set).  The null
 * path is a reverse-path only.  A local part may not begin with '-', so
 * that no address can pose as an option of an agent (as Postfix's
 * allow_min_user = no).  Returns the end of the path, or NULL.
 */
const char *
addr_path(const char *p, struct path *pa, int rcpt)
{
	char *local = pa->local;
	const char *start, *at, *domain = NULL;
	size_t n = 0;

	pa->addr[0] = pa->local[0] = pa->domain[0] = '\0';
	if (*p++ != '<')
		return NULL;
	if (*p == '>')
		return rcpt ? NULL : p + 1;	/* null path, MAIL only */
	if (*p == '@') {			/* source route: ignored */
		do {
			if ((p = addr_domain(p + 1)) == NULL)
				return NULL;
		} while (*p == ',' && *++p == '@');
		if (*p++ != ':')
			return NULL;
	}
	start = p;
	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\\')
				p++;
			if (*p < 0x20 || *p > 0x7e || n == MAX_LOCAL)
				return NULL;
			local[n++] = *p;
		}
		p++;
	} else {
		for (;;) {
			const char *atom = p;

			while (is_atext((unsigned char)*p) && n < MAX_LOCAL)
				local[n++] = *p++;
			if (p == atom || is_atext((unsigned char)*p))
				return NULL;
			if (*p != '.')
				break;
			if (n == MAX_LOCAL)
				return NULL;
			local[n++] = *p++;
		}
	}
	local[n] = '\0';
	at = p;
	if (*p == '@') {
		if ((p = addr_domain(p + 1)) == NULL)
			return NULL;
		domain = at + 1;
	} else if (!rcpt || strcasecmp(local, "postmaster") != 0 ||
	    start[0] == '"')
		return NULL;
	if (*p != '>' || (size_t)(p - start) > MAX_PATH_LEN - 2 ||
	    local[0] == '-')
		return NULL;
	memcpy(pa->addr, start, (size_t)(p - start));
	pa->addr[p - start] = '\0';
	if (domain != NULL) {
		memcpy(pa->domain, domain, (size_t)(p - domain));
		pa->domain[p - domain] = '\0';
	}
	return p + 1;
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
