/*
 * Delivery status notifications: the RFC 3461 parameters that ask for
 * them (RET, ENVID, NOTIFY, ORCPT: parsed and checked here for session.c
 * and rcpt.c), and the RFC 3464 multipart/report from the null sender
 * about the recipients of a message that failed, waits or was delivered,
 * written into a spool that the queue delivers like any other message.
 * Nothing here delivers; deliver.c does that, queue.c decides when.
 * When an address is UTF-8 the report is RFC 6533's global form.
 */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "smtpd.h"
#include "reply.h"

#define DSN_MAXHDRS	65536		/* original headers quoted, at most */

static char	hdr[DSN_MAXHDRS];	/* the header block being quoted */

/*
 * The reply that stands for r's status (code, enhanced code, text), for
 * the queue's last error and a notification's Diagnostic-Code.
 */
void
dsn_diag(char *buf, size_t sz, const struct target *r)
{
	const struct reply_text *t = &replies[r->status == DLV_TEMP ?
	    R_TEMPFAIL : r->looped ? R_LOOP : R_PERMFAIL];

	snprintf(buf, sz, "%d %s %s", t->code, t->esc, t->text);
}

/* The value of an upper-case hex digit, -1 for any other character:
 * xtext (RFC 3461 4) and utf-8-addr (RFC 6533 3) spell hex upper-case. */
static int
hexval(int c)
{
	return c >= 'a' && c <= 'f' ? -1 : addr_hex(c);
}

/*
 * RFC 3461 4: decode the xtext in into out (size sz).  "+" and two
 * upper-case hex digits stand for an octet, and any other character from
 * "!" to "~" but "=" for itself; the result must be printable ASCII
 * (4.2, 4.4: nothing else can be written in a report field) and not
 * empty.  0, or -1 if malformed.
 */
static int
xtext(char *out, size_t sz, const char *in)
{
	size_t n = 0;
	int c, h, l;

	for (; *in != '\0'; in++) {
		c = (unsigned char)*in;
		if (c == '+') {
			if ((h = hexval(in[1])) < 0 || (l = hexval(in[2])) < 0)
				return -1;
			c = h * 16 + l;
			in += 2;
		} else if (c < '!' || c > '~' || c == '=')
			return -1;
		if (c < ' ' || c > '~' || n + 1 >= sz)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return n > 0 ? 0 : -1;
}

/*
 * RFC 6533 3: the address of "ORCPT=utf-8;", utf-8-addr-xtext, or with
 * SMTPUTF8 utf-8-addr-unitext: printable ASCII but "+", "=" and "\\",
 * UTF-8, and "\\x{HEX}" for a character that is none of these (a space,
 * "+", "=", "\\", DEL or non-ASCII), in upper-case hex without leading
 * zeros.  Decoded, it must be an RFC 6531 mailbox.  0, -1 if it is not,
 * -2 if it is UTF-8 without SMTPUTF8.
 */
static int
utf8_orcpt(const char *in, int utf8)
{
	char buf[MAX_ORCPT + 3], *end;
	struct path pa;
	unsigned long v;
	size_t n = 1;
	int k, raw = 0;

	buf[0] = '<';
	for (; *in != '\0'; in++) {
		v = (unsigned char)*in;
		if (v == '\\') {
			if (in[1] != 'x' || in[2] != '{' || in[3] == '0')
				return -1;
			for (v = 0, in += 3, k = 0; hexval(*in) >= 0 && k < 6;
			    in++, k++)
				v = v * 16 + (unsigned long)hexval(*in);
			if (*in != '}' || k < 2 || (v < 0x80 && v != ' ' &&
			    v != '+' && v != '=' && v != '\\' && v != 0x7f) ||
			    v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
				return -1;
		} else if (v >= 0x80)
			raw = 1;
		else if (v <= ' ' || v == '+' || v == '=' || v == 0x7f)
			return -1;
		if (v < 0x80 || *in != '}') {
			if (n + 2 >= sizeof(buf))
				return -1;
			buf[n++] = (char)v;
			continue;
		}
		/* RFC 3629 3: the UTF-8 form of an escaped character. */
		k = v < 0x800 ? 2 : v < 0x10000 ? 3 : 4;
		if (n + (size_t)k + 2 >= sizeof(buf))
			return -1;
		buf[n] = (char)(k == 2 ? 0xc0 | v >> 6 : k == 3 ?
		    0xe0 | v >> 12 : 0xf0 | v >> 18);
		while (--k > 0)
			buf[++n] = (char)(0x80 | ((v >> (6 * (k - 1))) & 0x3f));
		n++;
	}
	buf[n++] = '>';
	buf[n] = '\0';
	if (raw && !utf8)
		return -2;
	if ((end = addr_path(buf, &pa, ADDR_RCPT | ADDR_UTF8)) == NULL ||
	    *end != '\0')
		return -1;
	return 0;
}

/*
 * RFC 3461 4.3, 4.4: one parameter of MAIL into d.  1 if key is none of
 * RET and ENVID; 0 if taken; -1 if refused, with the reply in *rep.
 */
int
dsn_mail_param(struct dsn_mail *d, const char *key, const char *val,
    int *rep)
{
	*rep = R_DSN_BAD;
	if (strcasecmp(key, "RET") == 0) {
		if (d->ret != RET_NONE)
			*rep = R_DSN_TWICE;
		else if (val != NULL && strcasecmp(val, "FULL") == 0)
			d->ret = RET_FULL;
		else if (val != NULL && strcasecmp(val, "HDRS") == 0)
			d->ret = RET_HDRS;
		else
			return -1;
		return *rep == R_DSN_TWICE ? -1 : 0;
	}
	if (strcasecmp(key, "ENVID") != 0)
		return 1;
	if (d->envid[0] != '\0')
		*rep = R_DSN_TWICE;
	else if (val != NULL && strlen(val) > MAX_ENVID)
		*rep = R_DSN_LONG;
	else if (val != NULL && xtext(d->envid, sizeof(d->envid), val) == 0)
		return 0;
	else
		d->envid[0] = '\0';
	return -1;
}

/* RFC 3461 4.1: NEVER alone, or a list of SUCCESS, FAILURE and DELAY. */
static unsigned int
notify_bits(const char *val)
{
	static const char *const names[] = { "SUCCESS", "FAILURE", "DELAY" };
	unsigned int bits = 0, i;
	size_t len;

	if (val == NULL)
		return 0;
	if (strcasecmp(val, "NEVER") == 0)
		return DSN_NEVER;
	for (;;) {
		len = strcspn(val, ",");
		for (i = 0; i < 3; i++)
			if (strlen(names[i]) == len &&
			    strncasecmp(val, names[i], len) == 0)
				break;
		if (i == 3)
			return 0;
		bits |= 1U << i;
		if (val[len] == '\0')
			return bits;
		val += len + 1;
	}
}

/*
 * RFC 3461 4.2, RFC 6533 3: ORCPT=addr-type;xtext into d->orcpt as
 * "addr-type;address", the address decoded; a "utf-8" address is kept
 * in its encoded form, which is what a report says.  0, or -1 with the
 * reply in *rep.
 */
static int
orcpt(struct dsn_rcpt *d, const char *val, int utf8, int *rep)
{
	size_t tl;
	int r;

	*rep = R_DSN_BAD;
	if (val == NULL)
		return -1;
	if (strlen(val) > MAX_ORCPT) {
		*rep = R_DSN_LONG;
		return -1;
	}
	/* addr-type is an RFC 5322 atom. */
	tl = strspn(val, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789!#$%&'*+-/?^_`{|}~");
	if (tl == 0 || val[tl] != ';')
		return -1;
	memcpy(d->orcpt, val, tl + 1);
	if (tl == 5 && strncasecmp(val, "utf-8", 5) == 0) {
		if ((r = utf8_orcpt(val + tl + 1, utf8)) != 0) {
			if (r == -2)
				*rep = R_NONASCII;
			return -1;
		}
		memcpy(d->orcpt + tl + 1, val + tl + 1, strlen(val + tl));
		return 0;
	}
	return xtext(d->orcpt + tl + 1, sizeof(d->orcpt) - tl - 1,
	    val + tl + 1);
}

/*
 * RFC 3461 4.1, 4.2: one parameter of RCPT into d, utf8 if the
 * transaction is SMTPUTF8.  1 if key is neither NOTIFY nor ORCPT; 0 if
 * taken; -1 if refused, with the reply in *rep.
 */
int
dsn_rcpt_param(struct dsn_rcpt *d, const char *key, const char *val,
    int utf8, int *rep)
{
	*rep = R_DSN_TWICE;
	if (strcasecmp(key, "NOTIFY") == 0) {
		if (d->notify != 0)
			return -1;
		*rep = R_DSN_BAD;
		return (d->notify = notify_bits(val)) != 0 ? 0 : -1;
	}
	if (strcasecmp(key, "ORCPT") != 0)
		return 1;
	if (d->orcpt[0] != '\0')
		return -1;
	if (orcpt(d, val, utf8, rep) == 0)
		return 0;
	d->orcpt[0] = '\0';
	return -1;
}

/* RFC 5322 3.3 date. */
static void
rfc_date(char *buf, size_t sz, time_t t)
{
	strftime(buf, sz, "%a, %d %b %Y %H:%M:%S %z", localtime(&t));
}

/*
 * Who gets a notification about sender's mail: the sender when its domain
 * is local and its mailbox exists, else the local postmaster.
 */
void
dsn_target(const char *sender, struct target *t)
{
	const char *at = strrchr(sender, '@'), *p;
	size_t n = 0;

	memset(t, 0, sizeof(*t));
	t->kind = T_LOCAL;
	if (at != NULL && addr_is_local(at + 1)) {
		for (p = sender; p < at && n < MAX_LOCAL; p++) {
			if (*p == '"')
				continue;
			if (*p == '\\' && p + 1 < at)
				p++;
			t->user[n++] = (char)(*p >= 'A' && *p <= 'Z' ?
			    *p - 'A' + 'a' : *p);
		}
		t->user[n] = '\0';
		if (p == at && (strcmp(t->user, "postmaster") == 0 ||
		    f_has_mailbox(t->user))) {
			snprintf(t->addr, sizeof(t->addr), "%s", sender);
			return;
		}
	}
	snprintf(t->user, sizeof(t->user), "postmaster");
	snprintf(t->addr, sizeof(t->addr), "postmaster@%.*s",
	    (int)sizeof(t->addr) - 12, conf.hostname);
}

/*
 * Read the original header block of m, at most DSN_MAXHDRS bytes of
 * whole lines, into hdr; returns its length.
 */
static size_t
read_headers(const struct message *m)
{
	size_t len = sizeof(hdr), i;
	ssize_t n;

	if ((off_t)len > m->size)
		len = (size_t)m->size;
	if ((n = f_pread(m->fd, hdr, len, m->offset)) < 0)
		n = 0;
	len = (size_t)n;
	for (i = 0; i < len; i++)
		if (hdr[i] == '\n' && (i == 0 || hdr[i - 1] == '\n'))
			return i;	/* up to the blank line */
	if (len == sizeof(hdr))
		while (len > 0 && hdr[len - 1] != '\n')
			len--;		/* the cap cut a line */
	return len;
}

/* Does w occur anywhere in s[0..n)? */
static int
occurs(const char *s, size_t n, const char *w)
{
	size_t wl = strlen(w), i;

	for (i = 0; i + wl <= n; i++)
		if (s[i] == w[0] && memcmp(s + i, w, wl) == 0)
			return 1;
	return 0;
}

/* splitmix64: spreads the bits of x over the result. */
static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * 128 bits a client cannot guess: from /dev/urandom, or where that cannot
 * be read (a -r jail without /dev) from the clocks, the pid and a counter.
 * The caller never relies on them alone; see boundary().
 */
static void
random_bits(uint64_t v[2])
{
	static uint64_t state;
	struct timespec rt, mono;
	ssize_t n = -1;
	int fd;

	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) >= 0) {
		while ((n = read(fd, v, 2 * sizeof(v[0]))) < 0 &&
		    errno == EINTR)
			continue;
		(void)close(fd);	/* read only */
	}
	if (n == (ssize_t)(2 * sizeof(v[0])))
		return;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	state = mix(state ^ (uint64_t)rt.tv_sec ^ ((uint64_t)getpid() << 32));
	state = mix(state ^ (uint64_t)rt.tv_nsec ^ ((uint64_t)mono.tv_nsec << 32));
	v[0] = state = mix(state ^ (uint64_t)mono.tv_sec);
	v[1] = state = mix(state);
}

/* Does b occur in the spooled message m, read in overlapping blocks? */
static int
occurs_msg(const struct message *m, const char *b)
{
	static char buf[65536];
	size_t keep = strlen(b) - 1, have = 0;
	off_t off = 0;
	ssize_t got;

	while (off < m->size) {
		size_t want = sizeof(buf) - have;

		if ((off_t)want > m->size - off)
			want = (size_t)(m->size - off);
		if ((got = f_pread(m->fd, buf + have, want, m->offset + off)) <= 0)
			return 1;	/* unreadable: never a safe boundary */
		off += got;
		have += (size_t)got;
		if (occurs(buf, have, b))
			return 1;
		if (have > keep) {
			memmove(buf, buf + have - keep, keep);
			have = keep;
		}
	}
	return 0;
}

/*
 * Does b occur in what a client could have put into the report: the
 * quoted header block h[0..hn) or, if full, the whole message, the
 * sender, ENVID, the addresses and ORCPTs, and the last error?
 */
static int
taken(const char *b, const char *h, size_t hn, int full,
    const struct message *m, const struct target *r, size_t n,
    const char *lasterr)
{
	size_t i;

	if (occurs(h, hn, b) || occurs(m->sender, strlen(m->sender), b) ||
	    (lasterr != NULL && occurs(lasterr, strlen(lasterr), b)) ||
	    (m->dsn != NULL && occurs(m->dsn->envid, strlen(m->dsn->envid),
	    b)) || (full && occurs_msg(m, b)))
		return 1;
	for (i = 0; i < n; i++)
		if (occurs(r[i].addr, strlen(r[i].addr), b) ||
		    occurs(r[i].dsn.orcpt, strlen(r[i].dsn.orcpt), b))
			return 1;
	return 0;
}

/*
 * A MIME boundary for a report about m that occurs nowhere in what a
 * client could have put into the report (see taken()).  An occurrence
 * draws a new one, so no client can end a part early or add one.  -1 if
 * none could be found.
 */
static int
boundary(char *b, size_t sz, const char *h, size_t hn, int full,
    const struct message *m, const struct target *r, size_t n,
    const char *lasterr)
{
	uint64_t v[2];
	int tries;

	for (tries = 0; tries < 100; tries++) {
		random_bits(v);
		snprintf(b, sz, "=_smtpd_%016llx%016llx",
		    (unsigned long long)v[0], (unsigned long long)v[1]);
		if (!taken(b, h, hn, full, m, r, n, lasterr))
			return 0;
	}
	return -1;
}

/* Does s hold a non-ASCII octet (a SMTPUTF8 address)? */
static int
is_8bit(const char *s)
{
	while (*s != '\0' && (unsigned char)*s < 0x80)
		s++;
	return *s != '\0';
}

/* "global-" when the report takes RFC 6533's form, else "". */
static const char *
report_form(const struct message *m, const struct target *r, size_t n,
    enum dsn_when when)
{
	size_t i;

	if (is_8bit(m->sender))
		return "global-";
	for (i = 0; i < n; i++)
		if (dsn_action(&r[i], when) != A_NONE &&
		    (is_8bit(r[i].addr) || is_8bit(r[i].dsn.orcpt)))
			return "global-";
	return "";
}

/* Does r's NOTIFY ask for failure reports?  None given means FAILURE. */
static int
wants_failure(const struct target *r)
{
	return r->dsn.notify == 0 || (r->dsn.notify & DSN_FAILURE) != 0;
}

/*
 * What a report made when says of r: failed for good (or pending when
 * retrying has expired; not when only deliveries are reported), delayed (pending after a queue run, once, if
 * NOTIFY has DELAY), delivered (if NOTIFY has SUCCESS), or nothing; a
 * duplicate never, and only what NOTIFY asks for (RFC 3461 4.1).
 */
enum dsn_action
dsn_action(const struct target *r, enum dsn_when when)
{
	if (r->dup != 0)
		return A_NONE;
	if (r->status == DLV_OK)
		return r->dsn.notify & DSN_SUCCESS ? A_DELIVERED : A_NONE;
	if (when == DSN_AT_DELIVERY)
		return A_NONE;
	if (r->status == DLV_PERM || when == DSN_AT_EXPIRY)
		return wants_failure(r) ? A_FAILED : A_NONE;
	if (when == DSN_AT_RUN &&
	    (r->dsn.notify & (DSN_DELAY | DSN_DELAYED)) == DSN_DELAY)
		return A_DELAYED;
	return A_NONE;
}

/*
 * The RFC 3463 status of r in a report, for action a, with the
 * diagnostic in text (size sz; "" for none).
 */
static const char *
status_of(const struct target *r, enum dsn_action a, const char *lasterr,
    char *text, size_t sz)
{
	text[0] = '\0';
	if (a == A_DELIVERED)
		return "2.0.0";
	if (a == A_DELAYED || r->status == DLV_PERM) {
		dsn_diag(text, sz, r);
		return a == A_DELAYED ? replies[R_TEMPFAIL].esc : r->looped ?
		    replies[R_LOOP].esc : replies[R_PERMFAIL].esc;
	}
	snprintf(text, sz, "%s", lasterr != NULL ? lasterr : "");
	return "4.4.7";		/* RFC 3463: delivery time expired */
}

/* Which actions the report holds, as bits 1 << action. */
static unsigned int
actions(const struct target *r, size_t n, enum dsn_when when)
{
	unsigned int bits = 0;
	size_t i;

	for (i = 0; i < n; i++)
		bits |= 1U << dsn_action(&r[i], when);
	return bits & ~(1U << A_NONE);
}

/* The report's header and the start of its first part. */
static void
report_intro(FILE *f, const struct message *m, long long arrival,
    unsigned int acts, const struct target *to, const char *g,
    const char *bound)
{
	char date[64], adate[64];

	rfc_date(date, sizeof(date), time(NULL));
	rfc_date(adate, sizeof(adate), (time_t)arrival);
	fprintf(f, "From: Mail Delivery System <MAILER-DAEMON@%s>\n"
	    "To: <%s>\nSubject: %s\n"
	    "Date: %s\nMessage-ID: <%s.dsn@%s>\nAuto-Submitted: auto-replied\n"
	    "MIME-Version: 1.0\nContent-Type: multipart/report; "
	    "report-type=%sdelivery-status;\n\tboundary=\"%s\"\n\n"
	    "This is a MIME-encapsulated message.\n\n",
	    conf.hostname, to->addr, acts & (1U << A_FAILED) ?
	    "Undelivered Mail Returned to Sender" : acts & (1U << A_DELAYED) ?
	    "Delayed Mail (still being retried)" :
	    "Successful Mail Delivery Report", date, m->id, conf.hostname, g,
	    bound);
	fprintf(f, "--%s\nContent-Type: text/plain; charset=%s\n"
	    "Content-Description: Notification\n\n"
	    "This is the mail system at %s.\n\n"
	    "The message from <%s>,\nreceived %s,\n"
	    "has this status for the recipients below.\n\n",
	    bound, *g != '\0' ? "utf-8" : "us-ascii", conf.hostname, m->sender,
	    adate);
}

/* The human-readable line about r, whose action in the report is a. */
static void
report_line(FILE *f, const struct target *r, enum dsn_action a,
    enum dsn_when when, const char *text, long long until)
{
	char date[64];

	if (a == A_DELIVERED)
		fprintf(f, "<%s>: delivered to the mailbox\n", r->addr);
	else if (a == A_DELAYED) {
		rfc_date(date, sizeof(date), (time_t)until);
		fprintf(f, "<%s>: not delivered yet; retrying until %s: %s\n",
		    r->addr, date, text);
	} else
		fprintf(f, "<%s>: could not be delivered%s: %s\n", r->addr,
		    when == DSN_AT_EXPIRY && r->status == DLV_TEMP ?
		    "; retrying has ended" : "", text);
}

/* The per-recipient fields of r (RFC 3464 2.3), whose action is a. */
static void
report_fields(FILE *f, const struct target *r, enum dsn_action a,
    const char *status, const char *text, long long until)
{
	static const char *const names[] = { "", "failed", "delayed",
	    "delivered" };
	const char *semi = strchr(r->dsn.orcpt, ';');
	char date[64];

	putc('\n', f);
	if (semi != NULL)
		fprintf(f, "Original-Recipient: %.*s; %s\n",
		    (int)(semi - r->dsn.orcpt), r->dsn.orcpt, semi + 1);
	fprintf(f, "Final-Recipient: %s; %s\nAction: %s\nStatus: %s\n",
	    is_8bit(r->addr) ? "utf-8" : "rfc822", r->addr, names[a], status);
	if (*text != '\0')
		fprintf(f, "Diagnostic-Code: smtp; %s\n", text);
	if (a == A_DELAYED) {
		rfc_date(date, sizeof(date), (time_t)until);
		fprintf(f, "Will-Retry-Until: %s\n", date);
	}
}

/*
 * The returned message: the whole of m (RET=FULL, in a report of a
 * failure), else its header block hdr[0..hlen) as today.  0, or -1 if
 * m cannot be read.
 */
static int
report_content(FILE *f, const struct message *m, int full, size_t hlen,
    const char *g, const char *bound)
{
	char buf[65536];
	off_t off;
	ssize_t got;

	if (!full) {
		fprintf(f, "\n--%s\nContent-Type: %s\nContent-Description: "
		    "Message headers\n\n", bound, *g != '\0' ?
		    "message/global-headers" : "text/rfc822-headers");
		fwrite(hdr, 1, hlen, f);
		if (hlen > 0 && hdr[hlen - 1] != '\n')
			putc('\n', f);
		fprintf(f, "\n--%s--\n", bound);
		return 0;
	}
	fprintf(f, "\n--%s\nContent-Type: message/%s\n%s"
	    "Content-Description: Undelivered message\n\n", bound,
	    *g != '\0' ? "global" : "rfc822", *g != '\0' ? "" :
	    "Content-Transfer-Encoding: 8bit\n");
	for (off = 0; off < m->size; off += got) {
		size_t want = sizeof(buf);

		if ((off_t)want > m->size - off)
			want = (size_t)(m->size - off);
		if ((got = f_pread(m->fd, buf, want, m->offset + off)) <= 0)
			return -1;
		fwrite(buf, 1, (size_t)got, f);
		if (off + got == m->size && buf[got - 1] != '\n')
			putc('\n', f);
	}
	fprintf(f, "\n--%s--\n", bound);
	return 0;
}

/*
 * The multipart/report of RFC 3464 about the recipients of m that a
 * report made when names, or of RFC 6533 (global-delivery-status, utf-8
 * address type, global headers) when the sender or one of them is UTF-8;
 * -1 if no boundary could be found or m could not be read.
 */
static int
report(FILE *f, const struct message *m, long long arrival,
    const struct target *r, size_t n, enum dsn_when when,
    const char *lasterr, const struct target *to)
{
	char adate[64], text[256], bound[96];
	const char *g = report_form(m, r, n, when), *status;
	unsigned int acts = actions(r, n, when);
	long long until = arrival + conf.maxage;
	int full = m->dsn != NULL && m->dsn->ret == RET_FULL &&
	    (acts & (1U << A_FAILED));
	size_t i, hlen = read_headers(m);
	enum dsn_action a;

	if (boundary(bound, sizeof(bound), hdr, hlen, full, m, r, n,
	    lasterr) != 0)
		return -1;
	report_intro(f, m, arrival, acts, to, g, bound);
	for (i = 0; i < n; i++)
		if ((a = dsn_action(&r[i], when)) != A_NONE) {
			status_of(&r[i], a, lasterr, text, sizeof(text));
			report_line(f, &r[i], a, when, text, until);
		}
	rfc_date(adate, sizeof(adate), (time_t)arrival);
	fprintf(f, "\n--%s\nContent-Type: message/%sdelivery-status\n"
	    "Content-Description: Delivery report\n\n", bound, g);
	if (m->dsn != NULL && m->dsn->envid[0] != '\0')
		fprintf(f, "Original-Envelope-Id: %s\n", m->dsn->envid);
	fprintf(f, "Reporting-MTA: dns; %s\nArrival-Date: %s\n",
	    conf.hostname, adate);
	for (i = 0; i < n; i++)
		if ((a = dsn_action(&r[i], when)) != A_NONE) {
			status = status_of(&r[i], a, lasterr, text,
			    sizeof(text));
			report_fields(f, &r[i], a, status, text, until);
		}
	return report_content(f, m, full, hlen, g, bound);
}

/*
 * Write the notification about m's recipients r[0..n) that a report made
 * when names (see dsn_action()) into a new spool, addressed as
 * dsn_target() chooses (to).  d gets the spool as a message from <>
 * whose id is id; the caller closes d->fd.  -1 on error.
 */
int
dsn_build(const struct message *m, long long arrival, const struct target *r,
    size_t n, enum dsn_when when, const char *lasterr, struct target *to,
    struct message *d, char *id, size_t idsz)
{
	FILE *f;
	int fd, err;

	dsn_target(m->sender, to);
	if ((fd = f_spool()) < 0)
		return -1;
	if ((f = fdopen(fd, "w")) == NULL) {
		log_warn("msg=%s dsn spool", m->id);
		(void)close(fd);	/* unlinked spool, nothing written */
		return -1;
	}
	memset(d, 0, sizeof(*d));
	if (report(f, m, arrival, r, n, when, lasterr, to) != 0) {
		log_err("msg=%s dsn: no MIME boundary free of the text, or "
		    "the message unreadable", m->id);
		(void)fclose(f);	/* unlinked spool, not used */
		return -1;
	}
	err = fflush(f) != 0 || ferror(f) ? errno : 0;
	if (err == 0 && ((d->size = ftello(f)) <= 0 ||
	    (d->fd = dup(fd)) < 0))
		err = errno ? errno : EIO;
	if (fclose(f) != 0 && err == 0) {
		err = errno;
		(void)close(d->fd);	/* the copy is bad either way */
	}
	if (err != 0) {
		errno = err;
		log_warn("msg=%s dsn spool", m->id);
		return -1;
	}
	if (fcntl(d->fd, F_SETFD, FD_CLOEXEC) != 0)
		log_warn("msg=%s dsn spool", m->id);
	snprintf(id, idsz, "%s.dsn", m->id);
	d->sender = "";
	d->id = id;
	d->has_from = 1;	/* quote whatever the headers hold */
	return 0;
}
