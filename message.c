/*
 * The message: DATA and BDAT take it into the spool through data.c, after
 * the Received: header; then one copy per target is delivered, and the
 * final reply (one per recipient with LMTP) says what became of it,
 * handing what was partly delivered to the queue.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "smtpd.h"
#include "session.h"

void
msg_reset(struct session *s)
{
	s->sender[0] = '\0';
	s->kind = TX_MAIL;
	s->nrcpt = 0;
	s->ntarget = 0;
	s->utf8 = 0;
	memset(&s->dsn, 0, sizeof(s->dsn));
	s->bdat_size = 0;
	if (s->state != ST_INIT)
		s->state = ST_IDLE;
}

/* RFC 5321 4.4: the trace header, first in the spool. */
static void
received_header(struct session *s, char *hdr, size_t sz)
{
	static char date[64];
	static time_t dated = (time_t)-1;
	char peer[MAX_PEER + 16] = "", forr[MAX_PATH_LEN + 16] = "";
	char tls[2 * MAX_TLSWORD + 32] = "";
	time_t now = time(NULL);
	int n;

	/* Formatted once a second: messages in a row share it. */
	if (now != dated) {
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z",
		    log_tm(now));
		dated = now;
	}
	if (conf.peer[0] != '\0')
		log_fmt(peer, sizeof(peer), " ([%s%s])",
		    conf.peer6 ? "IPv6:" : "", conf.peer);
	if (s->nrcpt == 1)
		log_fmt(forr, sizeof(forr), "\n\tfor <%s>", s->rcpts[0].addr);
	/*
	 * RFC 6531 3.7.3: SMTPUTF8 is ESMTP; UTF8SMTP and UTF8LMTP say so.
	 * RFC 3848: an S for TLS (ESMTPS, LMTPS, UTF8SMTPS, UTF8LMTPS), and
	 * the front's words in a comment.
	 */
	if (s->tls.proto[0] != '\0')
		log_fmt(tls, sizeof(tls), "S\n\t(version=%s cipher=%s)",
		    s->tls.proto, s->tls.cipher[0] != '\0' ? s->tls.cipher :
		    "unknown");
	n = log_fmt(hdr, sz, "Received: from %s%s\n\tby %s "
	    "(smtpd) with %s%s%s id %s%s;\n\t%s\n", s->helo, peer,
	    conf.hostname, s->utf8 ? "UTF8" : "", conf.lmtp ? "LMTP" :
	    s->utf8 ? "SMTP" : s->esmtp || tls[0] != '\0' ? "ESMTP" : "SMTP",
	    tls, s->msgid, forr, date);
	if (n < 0 || (size_t)n >= sz)
		hdr[0] = '\0';	/* cannot be: every part is bounded */
}

/*
 * The outcome of targets [first, first + n): delivered when all are.
 * Some delivered and others failed is R_PARTIAL with SMTP, which
 * deliver() hands to the queue; with LMTP it is temporary if any failure
 * is, else delivered (the others are logged).  None delivered is
 * temporary if any failure is, else permanent; loops get their own reply.
 */
static enum reply
outcome(const struct session *s, size_t first, size_t n)
{
	size_t i, ok = 0, temp = 0, loops = 0;

	for (i = first; i < first + n; i++) {
		const struct target *t = &s->targets[i];

		ok += t->status == DLV_OK;
		temp += t->status == DLV_TEMP;
		loops += t->looped;
	}
	if (ok == n)
		return R_ACCEPTED;
	if (temp > 0)
		return ok > 0 && !conf.lmtp ? R_PARTIAL : R_TEMPFAIL;
	if (ok > 0)
		return conf.lmtp ? R_ACCEPTED : R_PARTIAL;
	return loops == n ? R_LOOP : R_PERMFAIL;
}

/*
 * RFC 2033 4.2: one reply per accepted recipient, in order.  The client
 * reports what failed; the copies of recipients answered 250 whose NOTIFY
 * has SUCCESS are reported here (RFC 3461 6.2), the others not.
 */
static void
lmtp_replies(struct session *s, const struct message *m)
{
	enum reply r;
	size_t i, j;

	for (i = 0; i < s->nrcpt; i++) {
		r = outcome(s, s->rcpts[i].first, s->rcpts[i].count);
		for (j = 0; r != R_ACCEPTED && j < s->rcpts[i].count; j++)
			s->targets[s->rcpts[i].first + j].dsn.notify &=
			    ~(unsigned int)DSN_SUCCESS;
		reply(s, r, s->msgid);
	}
	q_report(m, s->targets, s->ntarget);
}

/* Deliver one copy to each target and send the final reply (or replies). */
static void
deliver(struct session *s, const struct data_result *rv)
{
	struct message m;
	char from[MAX_LOGVAL], addr[MAX_LOGVAL];
	size_t i, ok = 0;

	m.fd = s->spool;
	m.offset = 0;
	m.size = rv->spooled;
	m.sender = s->sender;
	m.id = s->msgid;
	m.has_from = rv->has_from;
	m.kind = s->kind;
	m.dsn = &s->dsn;
	for (i = 0; i < s->ntarget; i++) {
		struct target *t = &s->targets[i];

		if (t->dup != 0) {
			t->status = s->targets[t->dup - 1].status;
			t->looped = s->targets[t->dup - 1].looped;
			continue;
		}
		if (rv->nreceived > MAX_RECEIVED)
			t->looped = 1;
		if (t->looped) {
			t->status = DLV_PERM;
			log_info("session=%s msg=%s rcpt=<%s> status=loop",
			    s->sessid, s->msgid,
			    log_esc(addr, sizeof(addr), t->addr));
			continue;
		}
		t->status = dlv_deliver(&m, t);
		ok += t->status == DLV_OK;
	}
	log_info("session=%s msg=%s from=<%s> size=%lu rcpts=%zu "
	    "delivered=%zu", s->sessid, s->msgid,
	    log_esc(from, sizeof(from), s->sender), rv->size, s->nrcpt, ok);
	if (!conf.lmtp) {
		enum reply r = outcome(s, 0, s->ntarget);
		int q;

		/*
		 * Some copies were delivered: the queue takes the others,
		 * but not SEND's, which are for a terminal now or never.
		 */
		if (r == R_PARTIAL && s->kind != TX_SEND &&
		    (q = q_settle(&m, s->targets, s->ntarget)) >= 0)
			r = q > 0 ? R_QUEUED : R_ACCEPTED;
		else if (r == R_ACCEPTED)
			q_report(&m, s->targets, s->ntarget);
		reply(s, r, s->msgid);
		return;
	}
	lmtp_replies(s, &m);
}

/*
 * After the message: the one reply for a sticky error (one per recipient
 * with LMTP), or delivery and its replies; the transaction ends.
 */
static void
end_message(struct session *s, const struct data_result *rv)
{
	static const enum reply err_reply[] = {
		[E_LONGLINE] = R_MSG_LONGLINE, [E_BARELF] = R_MSG_BARELF,
		[E_TOOBIG] = R_MSG_TOOBIG, [E_SPOOL] = R_NOSPACE,
	};
	static const char *const err_name[] = {
		[E_LONGLINE] = "longline", [E_BARELF] = "barelf",
		[E_TOOBIG] = "toobig", [E_SPOOL] = "spool",
	};
	size_t i;

	if (rv->err != E_NONE) {
		log_info("session=%s msg=%s error=%s size=%lu", s->sessid,
		    s->msgid, err_name[rv->err], rv->size);
		for (i = 0; i < (conf.lmtp ? s->nrcpt : 1); i++)
			reply(s, err_reply[rv->err], NULL);
	} else {
		/* A stop waits until the copies are written and told. */
		f_hold_stops(1);
		deliver(s, rv);
		io_flush();
		f_hold_stops(0);
	}
	msg_reset(s);
}

/* An empty spool and a new message id; -1 when refused with 451. */
static int
new_message(struct session *s)
{
	if (s->spool < 0 && (s->spool = f_spool()) < 0) {
		reply(s, R_LOCALERR, NULL);
		return -1;
	}
	if (ftruncate(s->spool, 0) != 0 || lseek(s->spool, 0, SEEK_SET) != 0) {
		log_warn("session=%s spool", s->sessid);
		reply(s, R_LOCALERR, NULL);
		return -1;
	}
	log_fmt(s->msgid, sizeof(s->msgid), "%s.%u", s->sessid, ++s->nmsg);
	return 0;
}

/* The end of input or time in the middle of a message ends the session. */
static void
check_read(struct session *s, int r, const char *how)
{
	if (r == IO_TIMEOUT)
		reply_bye421(s, R_TIMEOUT);
	if (r == IO_EOF) {
		reply_log_end(s, how);
		exit(0);
	}
}

void
cmd_data(struct session *s, char *arg)
{
	struct data_result rv;
	char trace[1536];
	int r;

	if (*arg != '\0') {
		reply(s, R_NOARGS, NULL);
		return;
	}
	if (new_message(s) != 0)
		return;
	reply(s, R_DATA, NULL);
	received_header(s, trace, sizeof(trace));
	io_deadline(conf.datatime);
	r = data_receive(s->spool, s->msgid, trace, s->targets, s->ntarget,
	    &rv);
	check_read(s, r, "eof-in-data");
	end_message(s, &rv);
}

/* RFC 3030 2: "BDAT" SP chunk-size [SP "LAST"]; 0, or -1 if malformed. */
static int
bdat_args(const char *arg, unsigned long long *n, int *last)
{
	char *end;

	if (*arg < '0' || *arg > '9')
		return -1;
	errno = 0;
	*n = strtoull(arg, &end, 10);
	if (errno != 0)
		return -1;
	*last = strcasecmp(end, " LAST") == 0;
	return *end == '\0' || *last ? 0 : -1;
}

/*
 * RFC 3030: take one chunk of the message.  A chunk that would make the
 * message exceed -s is read and thrown away, and then refused; any refusal
 * ends the transaction, so chunks the client pipelined after it get 503
 * and are thrown away too (msg_bdat_skip).  BDAT LAST ends the message as the
 * final dot does.
 */
void
cmd_bdat(struct session *s, char *arg)
{
	struct data_result rv;
	unsigned long long n;
	char trace[1536], got[32];
	int last, keep;
	size_t i;

	if (bdat_args(arg, &n, &last) != 0) {
		reply(s, R_SYNTAX, NULL);
		msg_reset(s);
		return;
	}
	keep = n <= conf.maxsize - s->bdat_size;
	if (keep && s->state == ST_RCPT) {
		if (new_message(s) != 0) {
			check_read(s, data_bdat_chunk(n, 0), "eof-in-bdat");
			msg_reset(s);
			return;
		}
		received_header(s, trace, sizeof(trace));
		data_bdat_start(s->spool, s->msgid, trace, s->targets,
		    s->ntarget);
		s->state = ST_BDAT;
	}
	check_read(s, data_bdat_chunk(n, keep), "eof-in-bdat");
	if (!keep) {
		log_info("session=%s msg=%s error=toobig size=%llu", s->sessid,
		    s->state == ST_BDAT ? s->msgid : "-", s->bdat_size + n);
		for (i = 0; i < (conf.lmtp && last ? s->nrcpt : 1); i++)
			reply(s, R_MSG_TOOBIG, NULL);
		msg_reset(s);
		return;
	}
	s->bdat_size += n;
	if (!last) {
		snprintf(got, sizeof(got), "%llu", n);
		reply(s, R_CHUNK_OK, got);
		return;
	}
	data_bdat_end(&rv);
	end_message(s, &rv);
}

/* A BDAT out of sequence: its chunk is read and thrown away. */
void
msg_bdat_skip(struct session *s, char *arg)
{
	unsigned long long n;
	int last;

	if (bdat_args(arg, &n, &last) == 0)
		check_read(s, data_bdat_chunk(n, 0), "eof-in-bdat");
}
