/*
 * Delivery status notifications (RFC 3464): a multipart/report from the
 * null sender about the recipients of a message that failed for good,
 * written into a spool that the queue delivers like any other message.
 * Nothing here delivers; deliver.c does that, queue.c decides when.
 * When an address is UTF-8 the report is RFC 6533's global form.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpd.h"
#include "reply.h"

#define DSN_MAXHDRS	65536		/* original headers quoted, at most */

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
		    dlv_exists(t->user))) {
			snprintf(t->addr, sizeof(t->addr), "%s", sender);
			return;
		}
	}
	snprintf(t->user, sizeof(t->user), "postmaster");
	snprintf(t->addr, sizeof(t->addr), "postmaster@%.*s",
	    (int)sizeof(t->addr) - 12, conf.hostname);
}

/* The original header block of m, at most DSN_MAXHDRS bytes, whole lines. */
static void
headers(FILE *f, const struct message *m)
{
	char buf[4096];
	off_t off = 0;
	int bol = 1;
	ssize_t n, i;

	while (off < m->size && off < DSN_MAXHDRS) {
		size_t want = sizeof(buf);

		if ((off_t)want > m->size - off)
			want = (size_t)(m->size - off);
		if ((n = pread(m->fd, buf, want, m->offset + off)) <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < n; i++) {
			if (buf[i] == '\n' && bol) {
				fwrite(buf, 1, (size_t)i, f);
				return;		/* the blank line */
			}
			bol = buf[i] == '\n';
		}
		if (off + n >= DSN_MAXHDRS) {
			/* Keep only whole lines when the cap cuts the block. */
			while (n > 0 && buf[n - 1] != '\n')
				n--;
			fwrite(buf, 1, (size_t)n, f);
			return;
		}
		fwrite(buf, 1, (size_t)n, f);
		off += n;
	}
	if (!bol)
		putc('\n', f);
}

/* Does s hold a non-ASCII octet (a SMTPUTF8 address)? */
static int
is_8bit(const char *s)
{
	while (*s != '\0' && (unsigned char)*s < 0x80)
		s++;
	return *s != '\0';
}

/*
 * The multipart/report of RFC 3464 for the failed recipients of m, or of
 * RFC 6533 (global-delivery-status, utf-8 address type, global-headers)
 * when the sender or a recipient is UTF-8.
 */
static void
report(FILE *f, const struct message *m, long long arrival,
    const struct target *r, size_t n, int expired, const char *lasterr,
    const struct target *to)
{
	char date[64], adate[64], text[256], bound[96];
	const char *g = "";	/* "global-" for RFC 6533 */
	size_t i;

	for (i = 0; i < n && !is_8bit(m->sender); i++)
		if (is_8bit(r[i].addr))
			break;
	if (i < n || is_8bit(m->sender))
		g = "global-";
	rfc_date(date, sizeof(date), time(NULL));
	rfc_date(adate, sizeof(adate), (time_t)arrival);
	snprintf(bound, sizeof(bound), "=_smtpd_%s", m->id);
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
	for (i = 0; i < n; i++) {
		if (r[i].dup != 0)
			continue;
		if (r[i].status == DLV_PERM)
			dsn_diag(text, sizeof(text), &r[i]);
		else if (r[i].status == DLV_TEMP && expired)
			snprintf(text, sizeof(text), "%s", lasterr);
		else
			continue;
		fprintf(f, "<%s>: %s\n", r[i].addr, text);
	}
	fprintf(f, "\n--%s\nContent-Type: message/%sdelivery-status\n"
	    "Content-Description: Delivery report\n\n"
	    "Reporting-MTA: dns; %s\nArrival-Date: %s\n",
	    bound, g, conf.hostname, adate);
	for (i = 0; i < n; i++) {
		const char *status;

		if (r[i].dup != 0)
			continue;
		if (r[i].status == DLV_PERM) {
			dsn_diag(text, sizeof(text), &r[i]);
			status = r[i].looped ? replies[R_LOOP].esc :
			    replies[R_PERMFAIL].esc;
		} else if (r[i].status == DLV_TEMP && expired) {
			snprintf(text, sizeof(text), "%s", lasterr);
			status = "4.4.7";	/* RFC 3463: delivery time expired */
		} else
			continue;
		fprintf(f, "\nFinal-Recipient: %s; %s\nAction: failed\n"
		    "Status: %s\nDiagnostic-Code: smtp; %s\n",
		    is_8bit(r[i].addr) ? "utf-8" : "rfc822", r[i].addr,
		    status, text);
	}
	fprintf(f, "\n--%s\nContent-Type: %s\n"
	    "Content-Description: Undelivered message headers\n\n", bound,
	    *g != '\0' ? "message/global-headers" : "text/rfc822-headers");
	headers(f, m);
	fprintf(f, "\n--%s--\n", bound);
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
	if ((fd = dlv_spool()) < 0)
		return -1;
	if ((f = fdopen(fd, "w")) == NULL) {
		log_err("msg=%s dsn spool: %s", m->id, strerror(errno));
		(void)close(fd);	/* unlinked spool, nothing written */
		return -1;
	}
	report(f, m, arrival, r, n, expired, lasterr, to);
	memset(d, 0, sizeof(*d));
	err = fflush(f) != 0 || ferror(f) ? errno : 0;
	if (err == 0 && ((d->size = ftello(f)) <= 0 ||
	    (d->fd = dup(fd)) < 0))
		err = errno ? errno : EIO;
	if (fclose(f) != 0 && err == 0) {
		err = errno;
		(void)close(d->fd);	/* the copy is bad either way */
	}
	if (err != 0) {
		log_err("msg=%s dsn spool: %s", m->id, strerror(err));
		return -1;
	}
	if (fcntl(d->fd, F_SETFD, FD_CLOEXEC) != 0)
		log_err("msg=%s dsn spool: %s", m->id, strerror(errno));
	snprintf(id, idsz, "%s.dsn", m->id);
	d->sender = "";
	d->id = id;
	d->has_from = 1;	/* quote whatever the headers hold */
	return 0;
}
