/*
 * The DATA receiver: a byte machine over the input buffer that unstuffs
 * dots, finds the one end marker, records sticky errors, notes the header
 * fields that reveal loops, and writes the spool in large blocks.  The
 * BDAT receiver (RFC 3030) feeds counted chunks through the same line
 * checks, without dots or an end marker.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "smtpd.h"

enum dstate { D_BOL, D_TEXT, D_CR, D_DOT, D_DOTCR };

struct receiver {
	int		 spool;
	const char	*id;			/* for the log */
	struct target	*targets;		/* Delivered-To: marks loops */
	size_t		 ntarget;
	enum dstate	 st;
	enum data_error	 err;
	char		 line[MAX_TEXTLINE];	/* one line, without CRLF */
	size_t		 len;
	int		 toolong;		/* this line overflowed */
	unsigned long	 size;			/* as -s counts it */
	int		 in_header;
	unsigned int	 nreceived;
	int		 has_from;
	size_t		 outlen;
	off_t		 spooled;
	time_t		 start;			/* BDAT: when the first chunk came */
	char		 out[65536];		/* spool writes; last, not cleared */
};

/* One message at a time, DATA or BDAT; 64 KiB: not on the stack. */
static struct receiver cur;

static void
spool_write(struct receiver *rv, const char *p, size_t n)
{
	if (rv->err == E_SPOOL)
		return;
	if (f_write(rv->spool, p, n) != 0) {
		log_warn("msg=%s spool write", rv->id);
		rv->err = E_SPOOL;
		return;
	}
	rv->spooled += (off_t)n;
}

static void
spool_put(struct receiver *rv, const char *p, size_t n)
{
	if (rv->outlen + n > sizeof(rv->out)) {
		spool_write(rv, rv->out, rv->outlen);
		rv->outlen = 0;
	}
	memcpy(rv->out + rv->outlen, p, n);
	rv->outlen += n;
}

/* Does the line start with the header field name (with its colon)? */
static int
is_field(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len >= n && strncasecmp(line, name, n) == 0;
}

/* Mark recipients named by a Delivered-To: header as looping. */
static void
check_delivered_to(struct receiver *rv, const char *v, size_t len)
{
	size_t i, hl = strlen(conf.hostname);

	while (len > 0 && (*v == ' ' || *v == '\t'))
		v++, len--;
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	for (i = 0; i < rv->ntarget; i++) {
		struct target *t = &rv->targets[i];
		char name[2 * MAX_LOCAL + 2];
		size_t nl = strlen(t->user);

		/* The name as f_envelope() writes it, detail and all. */
		if (t->kind != T_LOCAL || len < nl ||
		    strncasecmp(v, t->user, nl) != 0)
			continue;
		addr_rcpt_name(name, sizeof(name), t->user, t->addr);
		nl = strlen(name);
		if (len == nl + 1 + hl && strncasecmp(v, name, nl) == 0 &&
		    v[nl] == '@' && strncasecmp(v + nl + 1, conf.hostname,
		    hl) == 0)
			t->looped = 1;
	}
}

/*
 * A complete line (without its CRLF) has arrived; eol is the length of its
 * line end as sent: 2, or 0 for a BDAT message's unterminated last line.
 */
static void
end_line(struct receiver *rv, size_t eol)
{
	const char *p = rv->line;
	size_t n = rv->len, len = rv->len;

	rv->size += n + eol;
	if (rv->toolong && rv->err == E_NONE)
		rv->err = E_LONGLINE;
	if (rv->size > conf.maxsize && rv->err == E_NONE)
		rv->err = E_TOOBIG;
	rv->toolong = 0;
	rv->len = 0;
	if (rv->err != E_NONE)
		return;
	if (rv->in_header) {
		if (n == 0)
			rv->in_header = 0;
		else if (is_field(p, n, "Received:"))
			rv->nreceived++;
		else if (is_field(p, n, "Delivered-To:"))
			check_delivered_to(rv, p + 13, n - 13);
	}
	while (n > 0 && *p == '>')
		p++, n--;
	if (n >= 5 && memcmp(p, "From ", 5) == 0)
		rv->has_from = 1;
	rv->line[len] = '\n';
	spool_put(rv, rv->line, len + 1);
}

static void
add_bytes(struct receiver *rv, const char *p, size_t n)
{
	if (rv->len + n > sizeof(rv->line) - 2) {
		rv->toolong = 1;
		n = sizeof(rv->line) - 2 - rv->len;
	}
	memcpy(rv->line + rv->len, p, n);
	rv->len += n;
}

/* The end of a run of bytes other than CR and LF in buf[i..n). */
static size_t
run_end(const unsigned char *buf, size_t i, size_t n)
{
	const unsigned char *cr = memchr(buf + i, '\r', n - i);
	const unsigned char *lf;
	size_t end = cr != NULL ? (size_t)(cr - buf) : n;

	/* memchr scans a word at a time; a bare LF can only come before. */
	lf = memchr(buf + i, '\n', end - i);
	return lf != NULL ? (size_t)(lf - buf) : end;
}

/* What the byte machine does with one byte. */
enum byte_step { B_NEXT, B_TEXT, B_END };

/*
 * One byte in a state other than D_TEXT: B_NEXT when it was taken,
 * B_END at the final LF, B_TEXT when it is text (what the state held
 * back, a bare CR, is added first).
 */
static enum byte_step
mark_byte(struct receiver *rv, unsigned char c)
{
	switch (rv->st) {
	case D_DOT:
		if (c == '\r') {
			rv->st = D_DOTCR;
			return B_NEXT;
		}
		break;			/* the dot is gone */
	case D_DOTCR:
		if (c == '\n')
			return B_END;
		add_bytes(rv, "\r", 1);	/* a bare CR */
		break;
	case D_BOL:
		if (c == '.') {
			rv->st = D_DOT;
			return B_NEXT;
		}
		break;
	case D_CR:
		if (c == '\n') {
			end_line(rv, 2);
			rv->st = D_BOL;
			return B_NEXT;
		}
		add_bytes(rv, "\r", 1);	/* a bare CR */
		break;
	case D_TEXT:
		break;
	}
	return B_TEXT;
}

/*
 * Text at buf[i] (of n): a CR, a bare LF, or a run of ordinary bytes
 * copied at once.  Returns the index of the last byte taken.
 */
static size_t
text_bytes(struct receiver *rv, const unsigned char *buf, size_t i, size_t n)
{
	size_t j;

	if (buf[i] == '\r') {
		rv->st = D_CR;
		return i;
	}
	rv->st = D_TEXT;
	if (buf[i] == '\n') {
		if (rv->err == E_NONE || rv->err == E_LONGLINE)
			rv->err = E_BARELF;
		return i;
	}
	j = run_end(buf, i + 1, n);
	add_bytes(rv, (const char *)buf + i, j - i);
	return j - 1;
}

/*
 * Run the byte machine over input until CR LF . CR LF.  Only that
 * sequence ends the data; a bare CR is data, a bare LF is recorded as
 * an error, one leading dot is removed.  Returns IO_OK, IO_EOF or
 * IO_TIMEOUT.
 */
static int
receive(struct receiver *rv)
{
	const unsigned char *buf;
	size_t n, i;
	int r;

	for (;;) {
		if ((r = io_peek(&buf, &n)) != IO_OK)
			return r;
		for (i = 0; i < n; i++) {
			switch (mark_byte(rv, buf[i])) {
			case B_NEXT:
				break;
			case B_END:
				io_consume(i + 1);
				rv->len = 0;
				return IO_OK;
			case B_TEXT:
				i = text_bytes(rv, buf, i, n);
				break;
			}
		}
		io_consume(n);
	}
}

/* Seconds on the monotonic clock. */
static time_t
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Begin a message: the spool (empty, at offset 0) gets the trace header. */
static void
start(int spool, const char *id, const char *trace, struct target *targets,
    size_t ntarget)
{
	memset(&cur, 0, offsetof(struct receiver, out));
	cur.spool = spool;
	cur.id = id;
	cur.targets = targets;
	cur.ntarget = ntarget;
	cur.in_header = 1;
	spool_put(&cur, trace, strlen(trace));
}

/* Write what is left and say what was found. */
static void
finish(struct data_result *res)
{
	spool_write(&cur, cur.out, cur.outlen);
	cur.outlen = 0;
	res->err = cur.err;
	res->size = cur.size;
	res->spooled = cur.spooled;
	res->nreceived = cur.nreceived;
	res->has_from = cur.has_from;
}

/*
 * Receive one message into the spool (empty, at offset 0), after the trace
 * header.  Targets named by a Delivered-To: header get looped set.
 * Returns IO_OK with *res filled in, IO_EOF or IO_TIMEOUT.
 */
int
data_receive(int spool, const char *id, const char *trace,
    struct target *targets, size_t ntarget, struct data_result *res)
{
	int r;

	start(spool, id, trace, targets, ntarget);
	if ((r = receive(&cur)) != IO_OK)
		return r;
	finish(res);
	return IO_OK;
}

/*
 * Feed one piece of a BDAT chunk through the line checks.  CR LF ends a
 * line whichever chunks its two octets come in; a bare CR is data and a
 * bare LF is the same error as in DATA; there is no dot to remove.
 */
static void
bdat_bytes(struct receiver *r, const unsigned char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = buf[i];

		if (r->st == D_CR) {
			if (c == '\n') {
				end_line(r, 2);
				r->st = D_TEXT;
				continue;
			}
			add_bytes(r, "\r", 1);	/* a bare CR */
		}
		if (c == '\r') {
			r->st = D_CR;
		} else if (c == '\n') {
			if (r->err == E_NONE || r->err == E_LONGLINE)
				r->err = E_BARELF;
			r->st = D_TEXT;
		} else {
			size_t j = run_end(buf, i + 1, n);

			add_bytes(r, (const char *)buf + i, j - i);
			i = j - 1;
			r->st = D_TEXT;
		}
	}
}

/* Start a BDAT message: the spool as for DATA, and the -T clock. */
void
data_bdat_start(int spool, const char *id, const char *trace,
    struct target *targets, size_t ntarget)
{
	start(spool, id, trace, targets, ntarget);
	cur.st = D_TEXT;
	cur.start = now();
}

/*
 * Read the n octets of a chunk: into the BDAT message begun last when
 * keep is set, else to be discarded.  Each read has -t; a kept chunk's
 * reads must also end within -T of the message's first chunk, a discarded
 * chunk's within -T of its start.  Returns IO_OK, IO_EOF or IO_TIMEOUT.
 */
int
data_bdat_chunk(unsigned long long n, int keep)
{
	const unsigned char *buf;
	time_t since = keep ? cur.start : now();
	size_t avail;
	int r;

	while (n > 0) {
		time_t left = (time_t)conf.datatime - (now() - since);

		if (left <= 0)
			return IO_TIMEOUT;
		io_deadline((int)left);
		if ((r = io_peek(&buf, &avail)) != IO_OK)
			return r;
		if (avail > n)
			avail = (size_t)n;
		if (keep)
			bdat_bytes(&cur, buf, avail);
		io_consume(avail);
		n -= avail;
	}
	return IO_OK;
}

/*
 * End the BDAT message begun last.  A last line without CR LF is ended
 * as if it had one (mbox and Maildir lines end in LF); a CR at the very
 * end is a bare CR.
 */
void
data_bdat_end(struct data_result *res)
{
	if (cur.st == D_CR)
		add_bytes(&cur, "\r", 1);
	if (cur.len > 0 || cur.toolong)
		end_line(&cur, 0);
	finish(res);
}
