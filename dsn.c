/*
 * Delivery status notifications (RFC 3464): a multipart/report from the
 * null sender about the recipients of a message that failed for good,
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

/*
 * A MIME boundary for a report about m that occurs nowhere in what a
 * client could have put into the report: the quoted header block h[0..hn),
 * the sender, the addresses and the last error.  An occurrence draws a
 * new one, so no client can end a part early or add one.  -1 if none
 * could be found.
 */
static int
boundary(char *b, size_t sz, const char *h, size_t hn,
    const struct message *m, const struct target *r, size_t n,
    const char *lasterr)
{
	uint64_t v[2];
	size_t i;
	int tries;

	for (tries = 0; tries < 100; tries++) {
		random_bits(v);
		snprintf(b, sz, "=_smtpd_%016llx%016llx",
		    (unsigned long long)v[0], (unsigned long long)v[1]);
		if (occurs(h, hn, b) || occurs(m->sender, strlen(m->sender),
		    b) || (lasterr != NULL && occurs(lasterr, strlen(lasterr),
		    b)))
			continue;
		for (i = 0; i < n; i++)
			if (occurs(r[i].addr, strlen(r[i].addr), b))
				break;
		if (i == n)
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
report_form(const struct message *m, const struct target *r, size_t n)
{
	size_t i;

	if (is_8bit(m->sender))
		return "global-";
	for (i = 0; i < n; i++)
		if (is_8bit(r[i].addr))
			return "global-";
	return "";
}

/*
 * Is r one the report names (failed for good, or pending when retrying
 * has expired, and not a duplicate)?  Returns its RFC 3463 status, with
 * the diagnostic in text (size sz), or NULL.
 */
static const char *
failure(const struct target *r, int expired, const char *lasterr,
    char *text, size_t sz)
{
	if (r->dup != 0)
		return NULL;
	if (r->status == DLV_PERM) {
		dsn_diag(text, sz, r);
		return r->looped ? replies[R_LOOP].esc : replies[R_PERMFAIL].esc;
	}
	if (r->status == DLV_TEMP && expired) {
		snprintf(text, sz, "%s", lasterr);
		return "4.4.7";		/* RFC 3463: delivery time expired */
	}
	return NULL;
}

/* The report's header and its first part, the text for a person. */
static void
report_intro(FILE *f, const struct message *m, long long arrival,
    int expired, const struct target *to, const char *g, const char *bound)
{
	char date[64], adate[64];

	rfc_date(date, sizeof(date), time(NULL));
	rfc_date(adate, sizeof(adate), (time_t)arrival);
	fprintf(f, "From: Mail Delivery System <MAILER-DAEMON@%s>\n"
	    "To: <%s>\nSubject: Undelivered Mail Returned to Sender\n"
	    "Date: %s\nMessage-ID: <%s.dsn@%s>\nAuto-Submitted: auto-replied\n"
	    "MIME-Version: 1.0\nContent-Type: multipart/report; "
	    "report-type=%sdelivery-status;\n\tboundary=\"%s\"\n\n"
	    "This is a MIME-encapsulated message.\n\n",
	    conf.hostname, to->addr, date, m->id, conf.hostname, g, bound);
	fprintf(f, "--%s\nContent-Type: text/plain; charset=%s\n"
	    "Content-Description: Notification\n\n"
	    "This is the mail system at %s.\n\n"
	    "The message from <%s>,\nreceived %s,\n"
	    "could not be delivered to the recipients below%s.\n\n",
	    bound, *g != '\0' ? "utf-8" : "us-ascii", conf.hostname, m->sender,
	    adate,
	    expired ? "; retrying has\nended" : "");
}

/*
 * The multipart/report of RFC 3464 for the failed recipients of m, or of
 * RFC 6533 (global-delivery-status, utf-8 address type, global-headers)
 * when the sender or a recipient is UTF-8; -1 if no boundary could be
 * found.
 */
static int
report(FILE *f, const struct message *m, long long arrival,
    const struct target *r, size_t n, int expired, const char *lasterr,
    const struct target *to)
{
	char adate[64], text[256], bound[96];
	const char *g = report_form(m, r, n), *status;
	size_t i, hlen = read_headers(m);

	if (boundary(bound, sizeof(bound), hdr, hlen, m, r, n, lasterr) != 0)
		return -1;
	report_intro(f, m, arrival, expired, to, g, bound);
	for (i = 0; i < n; i++)
		if (failure(&r[i], expired, lasterr, text, sizeof(text)) != NULL)
			fprintf(f, "<%s>: %s\n", r[i].addr, text);
	rfc_date(adate, sizeof(adate), (time_t)arrival);
	fprintf(f, "\n--%s\nContent-Type: message/%sdelivery-status\n"
	    "Content-Description: Delivery report\n\n"
	    "Reporting-MTA: dns; %s\nArrival-Date: %s\n",
	    bound, g, conf.hostname, adate);
	for (i = 0; i < n; i++)
		if ((status = failure(&r[i], expired, lasterr, text,
		    sizeof(text))) != NULL)
			fprintf(f, "\nFinal-Recipient: %s; %s\nAction: failed\n"
			    "Status: %s\nDiagnostic-Code: smtp; %s\n",
			    is_8bit(r[i].addr) ? "utf-8" : "rfc822",
			    r[i].addr, status, text);
	fprintf(f, "\n--%s\nContent-Type: %s\n"
	    "Content-Description: Undelivered message headers\n\n", bound,
	    *g != '\0' ? "message/global-headers" : "text/rfc822-headers");
	fwrite(hdr, 1, hlen, f);
	if (hlen > 0 && hdr[hlen - 1] != '\n')
		putc('\n', f);
	fprintf(f, "\n--%s--\n", bound);
	return 0;
}

/*
 * Write the notification about m's recipients r[0..n) that failed for
 * good (and, if expired, those still pending with lasterr) into a new
 * spool, addressed as dsn_target() chooses (to).  d gets the spool as a
 * message from <> whose id is id; the caller closes d->fd.  -1 on error.
 */
int
dsn_build(const struct message *m, long long arrival, const struct target *r,
    size_t n, int expired, const char *lasterr, struct target *to,
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
	if (report(f, m, arrival, r, n, expired, lasterr, to) != 0) {
		log_err("msg=%s dsn: no MIME boundary free of the text", m->id);
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
