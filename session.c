/*
 * The SMTP session: states, the command table, one handler per verb,
 * address parsing, the DATA receiver and the Received: header.  Every
 * reply comes from reply.h through reply().
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "smtpd.h"
#include "reply.h"

/*
 * INIT: greeting sent; IDLE: after HELO/EHLO; MAIL: reverse-path set;
 * RCPT: >= 1 rcpt; BDAT: a chunk taken, the message goes on in BDAT only.
 */
enum state { ST_INIT = 1 << 0, ST_IDLE = 1 << 1, ST_MAIL = 1 << 2, ST_RCPT = 1 << 3,
	ST_BDAT = 1 << 4 };
#define ST_ANY	(ST_INIT | ST_IDLE | ST_MAIL | ST_RCPT | ST_BDAT)

enum mode { M_SMTP = 1 << 0, M_LMTP = 1 << 1 };


struct session {
	enum state	 state;
	int		 esmtp;			/* EHLO was used */
	unsigned int	 errors;		/* bad commands in a row */
	char		 helo[MAX_HOSTNAME + 1];	/* sanitised */
	char		 sender[MAX_PATH_LEN + 1];
	enum tx_kind	 kind;			/* MAIL, SEND, SOML or SAML */
	struct rcpt	*rcpts;
	size_t		 nrcpt, rcptcap;
	struct target	*targets;		/* of all rcpts, in order */
	size_t		 ntarget, targetcap;
	size_t		 dropped;		/* targets of this RCPT that did not fit */
	int		 nomem;			/* a target found no memory */
	char		 sessid[24];
	char		 msgid[32];
	unsigned int	 nmsg;
	unsigned int	 nrefused;		/* 4xx and 5xx replies */
	const char	*cmdline;		/* the command being answered */
	int		 spool;			/* -1 until the first DATA */
	int		 utf8;			/* RFC 6531: MAIL had SMTPUTF8 */
	unsigned long long bdat_size;		/* octets of the chunks so far */
};

static void	cmd_helo(struct session *, char *);
static void	cmd_ehlo(struct session *, char *);
static void	cmd_mail(struct session *, char *);
static void	cmd_send(struct session *, char *);
static void	cmd_soml(struct session *, char *);
static void	cmd_saml(struct session *, char *);
static void	cmd_rcpt(struct session *, char *);
static void	cmd_data(struct session *, char *);
static void	cmd_bdat(struct session *, char *);
static void	bdat_skip(struct session *, char *);
static void	cmd_rset(struct session *, char *);
static void	cmd_noop(struct session *, char *);
static void	cmd_quit(struct session *, char *);
static void	cmd_help(struct session *, char *);
static void	cmd_vrfy(struct session *, char *);
static void	cmd_expn(struct session *, char *);
static void	cmd_turn(struct session *, char *);

static const struct command {
	const char	*verb;
	unsigned int	 states;	/* where the verb is legal */
	unsigned int	 modes;		/* M_SMTP, M_LMTP */
	int		 flush;		/* reply may not wait for more input */
	void		(*run)(struct session *, char *);
} commands[] = {
	{ "HELO", ST_ANY,		M_SMTP,		 1, cmd_helo },
	{ "EHLO", ST_ANY,		M_SMTP,		 1, cmd_ehlo },
	{ "LHLO", ST_ANY,		M_LMTP,		 1, cmd_ehlo },
	{ "MAIL", ST_IDLE,		M_SMTP | M_LMTP, 0, cmd_mail },
	{ "SEND", ST_IDLE,		M_SMTP,		 0, cmd_send },	/* RFC 821 */
	{ "SOML", ST_IDLE,		M_SMTP,		 0, cmd_soml },
	{ "SAML", ST_IDLE,		M_SMTP,		 0, cmd_saml },
	{ "RCPT", ST_MAIL | ST_RCPT,	M_SMTP | M_LMTP, 0, cmd_rcpt },
	{ "DATA", ST_RCPT,		M_SMTP | M_LMTP, 1, cmd_data },
	/* Out of sequence, its chunk is still read: see dispatch(). */
	{ "BDAT", ST_RCPT | ST_BDAT,	M_SMTP | M_LMTP, 1, cmd_bdat },
	{ "RSET", ST_ANY,		M_SMTP | M_LMTP, 0, cmd_rset },
	{ "NOOP", ST_ANY,		M_SMTP | M_LMTP, 1, cmd_noop },
	{ "QUIT", ST_ANY,		M_SMTP | M_LMTP, 1, cmd_quit },
	{ "HELP", ST_ANY,		M_SMTP | M_LMTP, 1, cmd_help },
	{ "VRFY", ST_ANY,		M_SMTP | M_LMTP, 1, cmd_vrfy },
	{ "EXPN", ST_ANY,		M_SMTP | M_LMTP, 1, cmd_expn },
	{ "TURN", ST_ANY,		M_SMTP,		 1, cmd_turn },	/* always 502 */
};

static const char *
state_name(enum state st)
{
	switch (st) {
	case ST_INIT:	return "init";
	case ST_IDLE:	return "idle";
	case ST_MAIL:	return "mail";
	case ST_RCPT:	return "rcpt";
	case ST_BDAT:	return "bdat";
	}
	return "?";
}

/*
 * Log a 4xx or 5xx answer to a command: its verb and argument, escaped,
 * and why, which is the reply's own text without its argument.
 */
static void
log_refusal(struct session *s, const struct reply_text *t)
{
	char verb[64], arg[MAX_LOGVAL], why[128], word[16], peer[MAX_LOGVAL];
	const char *p;
	size_t n = strcspn(s->cmdline, " ");

	if (n >= sizeof(word))
		n = sizeof(word) - 1;
	memcpy(word, s->cmdline, n);
	word[n] = '\0';
	p = strchr(s->cmdline, ' ');
	log_esc(verb, sizeof(verb), word);
	log_esc(arg, sizeof(arg), p != NULL ? p + 1 : "");

	/* The text without "%s", blanks not doubled. */
	n = 0;
	for (p = t->text; *p != '\0' && n + 1 < sizeof(why); p++) {
		if (p[0] == '%' && p[1] == 's')
			p++;
		else if (*p != ' ' || (n > 0 && why[n - 1] != ' '))
			why[n++] = *p;
	}
	while (n > 0 && why[n - 1] == ' ')
		n--;
	why[n] = '\0';
	s->nrefused++;
	/* The client is repeated for fail2ban, which reads one line. */
	log_info("session=%s refused client=%s code=%d esc=%s cmd=%s arg=%s "
	    "why=\"%s\"", s->sessid, log_esc(peer, sizeof(peer),
	    conf.peer[0] != '\0' ? conf.peer : "local"), t->code,
	    t->esc[0] != '\0' ? t->esc : "-", verb, arg, why);
}

/* The last line of a session: how it ended, and counts. */
static void
log_end(struct session *s, const char *how)
{
	log_info("session=%s end=%s state=%s messages=%u refused=%u",
	    s->sessid, how, state_name(s->state), s->nmsg, s->nrefused);
}

/* Write one reply line; more != 0 makes it a "NNN-" continuation line. */
static void
reply_line(struct session *s, enum reply r, const char *arg, int more)
{
	const struct reply_text *t = &replies[r];
	char clean[256], head[16];
	const char *mark;
	size_t n;

	/* "NNN-" or "NNN ", the enhanced code and a blank, the text. */
	head[0] = (char)('0' + t->code / 100 % 10);
	head[1] = (char)('0' + t->code / 10 % 10);
	head[2] = (char)('0' + t->code % 10);
	head[3] = more ? '-' : ' ';
	io_put(head, 4);
	if (t->esc[0] != '\0') {
		io_put(t->esc, strlen(t->esc));
		io_put(" ", 1);
	}
	if ((mark = strstr(t->text, "%s")) != NULL) {
		io_put(t->text, (size_t)(mark - t->text));
		n = sanitize(clean, sizeof(clean), arg != NULL ? arg : "",
		    arg != NULL ? strlen(arg) : 0);
		io_put(clean, n);
		io_put(mark + 2, strlen(mark + 2));
	} else
		io_put(t->text, strlen(t->text));
	io_put("\r\n", 2);

	/* Syntax and sequence errors in a row end the session. */
	if (more)
		return;
	if (t->code >= 400 && s->cmdline != NULL)
		log_refusal(s, t);
	if (t->code == 500 || t->code == 501 || t->code == 503 ||
	    t->code == 555)
		s->errors++;
	else if (t->code < 400)
		s->errors = 0;
}

static void
reply(struct session *s, enum reply r, const char *arg)
{
	reply_line(s, r, arg, 0);
}

static void
reply_more(struct session *s, enum reply r, const char *arg)
{
	reply_line(s, r, arg, 1);
}

/* Send a 421 and end the session. */
static void NORETURN
bye421(struct session *s, enum reply r)
{
	s->cmdline = NULL;
	reply(s, r, conf.hostname);
	io_flush();
	log_end(s, r == R_TIMEOUT ? "timeout" : r == R_NOPRIV ? "refused" :
	    "errors");
	exit(0);
}

static void
reset_transaction(struct session *s)
{
	s->sender[0] = '\0';
	s->kind = TX_MAIL;
	s->nrcpt = 0;
	s->ntarget = 0;
	s->utf8 = 0;
	s->bdat_size = 0;
	if (s->state != ST_INIT)
		s->state = ST_IDLE;
}

/* Does the string hold no control character, and is it non-empty? */
static int
is_printable(const char *p)
{
	if (*p == '\0')
		return 0;
	for (; *p != '\0'; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			return 0;
	return 1;
}

/* HELO, EHLO, LHLO: a client name is required; resets the transaction. */
static int
greet(struct session *s, char *arg, int esmtp)
{
	char *p;

	if (!is_printable(arg)) {
		reply(s, R_SYNTAX, NULL);
		return -1;
	}
	sanitize(s->helo, sizeof(s->helo), arg, strlen(arg));
	/* It goes into Received: as a domain; nothing may open a comment. */
	for (p = s->helo; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-_:[]", *p) == NULL)
			*p = '_';
	s->esmtp = esmtp;
	s->state = ST_IDLE;
	reset_transaction(s);
	return 0;
}

static void
cmd_helo(struct session *s, char *arg)
{
	if (greet(s, arg, 0) == 0)
		reply(s, R_HELO, conf.hostname);
}

static void
cmd_ehlo(struct session *s, char *arg)
{
	char size[32];

	if (greet(s, arg, 1) != 0)
		return;
	log_fmt(size, sizeof(size), "SIZE %lu", conf.maxsize);
	reply_more(s, R_EHLO, conf.hostname);
	reply_more(s, R_EHLO, "PIPELINING");
	reply_more(s, R_EHLO, size);
	reply_more(s, R_EHLO, "8BITMIME");
	reply_more(s, R_EHLO, "ENHANCEDSTATUSCODES");
	reply_more(s, R_EHLO, "SMTPUTF8");
	reply_more(s, R_EHLO, "CHUNKING");
	if (conf.expn)
		reply_more(s, R_EHLO, "EXPN");
	if (!conf.lmtp) {	/* RFC 5321 F.6: as RFC 821 has them */
		reply_more(s, R_EHLO, "SEND");
		reply_more(s, R_EHLO, "SOML");
		reply_more(s, R_EHLO, "SAML");
	}
	reply(s, R_EHLO, "HELP");
}

/*
 * Check the ESMTP parameters of MAIL (RFC 1870 SIZE, RFC 6152 BODY,
 * RFC 6531 SMTPUTF8, which sets *utf8).
 */
static int
mail_params(struct session *s, char *p, int *utf8)
{
	char *key;

	while ((key = strsep(&p, " ")) != NULL) {
		char *val = strchr(key, '=');

		if (*key == '\0')
			continue;
		if (val != NULL)
			*val++ = '\0';
		if (strcasecmp(key, "SIZE") == 0 && val != NULL && s->esmtp) {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(val, &end, 10);
			if (*val < '0' || *val > '9' || *end != '\0' ||
			    errno != 0) {
				reply(s, R_SIZE_FIELD, NULL);
				return -1;
			}
			if (v > conf.maxsize) {
				reply(s, R_SIZE_EXCEEDED, NULL);
				return -1;
			}
		} else if (strcasecmp(key, "SMTPUTF8") == 0 && val == NULL &&
		    s->esmtp) {
			*utf8 = 1;
		} else if (strcasecmp(key, "BODY") == 0 && val != NULL &&
		    s->esmtp) {
			if (strcasecmp(val, "7BIT") != 0 &&
			    strcasecmp(val, "8BITMIME") != 0) {
				reply(s, R_BADBODY, NULL);
				return -1;
			}
		} else {
			reply(s, R_BADPARAM, key);
			return -1;
		}
	}
	return 0;
}

/* MAIL, SEND, SOML, SAML: start a transaction of this kind. */
static void
start_tx(struct session *s, char *arg, enum tx_kind kind)
{
	struct path pa;
	const char *end;
	int utf8 = 0;

	if (strncasecmp(arg, "FROM:", 5) != 0) {
		reply(s, R_SYNTAX, NULL);
		return;
	}
	arg += 5;
	while (*arg == ' ')
		arg++;
	if ((end = addr_path(arg, &pa, ADDR_UTF8)) == NULL ||
	    (*end != '\0' && *end != ' ')) {
		reply(s, R_BADSENDER, NULL);
		return;
	}
	if (mail_params(s, (char *)end, &utf8) != 0)
		return;
	if (!utf8 && addr_8bit(pa.addr)) {
		reply(s, R_NONASCII, NULL);
		return;
	}
	memcpy(s->sender, pa.addr, sizeof(s->sender));
	s->utf8 = utf8;
	s->kind = kind;
	s->nrcpt = s->ntarget = 0;
	s->state = ST_MAIL;
	reply(s, R_SENDER_OK, NULL);
}

static void
cmd_mail(struct session *s, char *arg)
{
	start_tx(s, arg, TX_MAIL);
}

static void
cmd_send(struct session *s, char *arg)
{
	start_tx(s, arg, TX_SEND);
}

static void
cmd_soml(struct session *s, char *arg)
{
	start_tx(s, arg, TX_SOML);
}

static void
cmd_saml(struct session *s, char *arg)
{
	start_tx(s, arg, TX_SAML);
}

/*
 * alias_add_fn: one more target for the RCPT being handled.  Past
 * MAX_TARGETS targets are only counted, so that resolve() can tell a list
 * too long for any transaction from one too long for this one.
 */
static void
add_target(void *ctx, enum target_kind kind, const char *user,
    const char *addr)
{
	struct session *s = ctx;
	struct target *t;

	if (s->ntarget == MAX_TARGETS || s->nomem) {
		s->dropped++;
		return;
	}
	if (s->ntarget == s->targetcap) {
		size_t cap = s->targetcap ? s->targetcap * 2 : 8;

		if (cap > MAX_TARGETS)
			cap = MAX_TARGETS;
		if ((t = realloc(s->targets, cap * sizeof(*t))) == NULL) {
			s->nomem = 1;
			return;
		}
		s->targets = t;
		s->targetcap = cap;
	}
	t = &s->targets[s->ntarget++];
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	log_fmt(t->user, sizeof(t->user), "%s", user);
	log_fmt(t->addr, sizeof(t->addr), "%s", addr);
}

/*
 * One copy per mailbox and per remote address: mark each target from
 * first on that repeats an earlier one.  Run once the targets of an RCPT
 * have their final places, so that each dup names the right index.
 */
static void
mark_dups(struct session *s, size_t first)
{
	size_t i, j;

	for (j = first; j < s->ntarget; j++) {
		struct target *t = &s->targets[j];

		for (i = 0; i < j; i++)
			if (s->targets[i].kind == t->kind &&
			    s->targets[i].dup == 0 &&
			    (t->kind == T_LOCAL ?
			    strcmp(s->targets[i].user, t->user) :
			    strcasecmp(s->targets[i].addr, t->addr)) == 0) {
				t->dup = i + 1;
				break;
			}
	}
}

/* The reply for an expansion that alias_expand() refused. */
static enum reply
alias_error(int r)
{
	return r == -3 ? R_ALIASBIG : R_ALIASLOOP;
}

/*
 * Resolve a local name to targets from index first on; returns the reply
 * for the RCPT, R_RCPT_OK when the targets stand.
 */
static enum reply
resolve(struct session *s, const char *local, const char *addr,
    size_t first)
{
	size_t i, n;
	int r;

	s->dropped = 0;
	s->nomem = 0;
	if (!dlv_valid_user(local))
		return R_NOUSER;
	if ((r = alias_expand(local, add_target, s)) < -1)
		return alias_error(r);
	if (r == -1) {
		if (strcmp(local, "postmaster") != 0 && !dlv_exists(local))
			return R_NOUSER;
		add_target(s, T_LOCAL, local, addr);
	}
	if (s->nomem)
		return R_LOCALERR;
	/*
	 * A list longer than any transaction may hold is refused for good;
	 * one that only overflows this transaction fits in the next.
	 */
	if (s->dropped > 0) {
		if (s->ntarget - first + s->dropped > MAX_TARGETS) {
			char name[MAX_LOGVAL];

			log_err("session=%s alias=%s members=%zu limit=%d "
			    "refused=too-many-members", s->sessid,
			    log_esc(name, sizeof(name), local),
			    s->ntarget - first + s->dropped, MAX_TARGETS);
			return R_LISTTOOBIG;
		}
		return R_TOOMANYRCPT;
	}
	/* RFC 5321 3.4: one remote target is a forwarding. */
	if (s->ntarget - first == 1 && s->targets[first].kind == T_REMOTE)
		return conf.fwd.n > 0 ? R_FORWARD : R_NOTLOCAL;
	if (conf.fwd.n == 0) {		/* list members we cannot reach */
		for (i = n = first; i < s->ntarget; i++) {
			if (s->targets[i].kind == T_REMOTE) {
				char name[MAX_LOGVAL], member[MAX_LOGVAL];

				log_info("session=%s alias=%s member=<%s> "
				    "skipped=no-forwarder", s->sessid,
				    log_esc(name, sizeof(name), local),
				    log_esc(member, sizeof(member),
				    s->targets[i].addr));
				continue;
			}
			s->targets[n++] = s->targets[i];
		}
		s->ntarget = n;
	}
	mark_dups(s, first);
	return s->ntarget > first ? R_RCPT_OK : R_NOUSER;
}

/*
 * RFC 821 3.4: SEND text goes to terminals only.  A forwarded address is
 * the client's to try (551); else every target must be a local user on a
 * terminal that accepts messages, or the RCPT gets 450.
 */
static enum reply
send_check(struct session *s, enum reply rep, size_t first)
{
	size_t i;

	if (rep == R_FORWARD)
		return R_NOTLOCAL;
	for (i = first; i < s->ntarget; i++)
		if (s->targets[i].kind != T_LOCAL ||
		    !tty_active(s->targets[i].user))
			return R_NOTACTIVE;
	return rep;
}

static void
cmd_rcpt(struct session *s, char *arg)
{
	struct path pa;
	const char *end;
	enum reply rep;
	struct rcpt *r;
	size_t first = s->ntarget;

	if (strncasecmp(arg, "TO:", 3) != 0) {
		reply(s, R_SYNTAX, NULL);
		return;
	}
	arg += 3;
	while (*arg == ' ')
		arg++;
	if ((end = addr_path(arg, &pa, ADDR_RCPT | ADDR_UTF8)) == NULL ||
	    (*end != '\0' && *end != ' ')) {
		reply(s, R_BADRCPT, NULL);
		return;
	}
	if (!s->utf8 && addr_8bit(pa.addr)) {
		reply(s, R_NONASCII, NULL);
		return;
	}
	while (*end == ' ')
		end++;
	if (*end != '\0') {
		reply(s, R_BADPARAM, end);
		return;
	}
	if (pa.domain[0] != '\0' && !addr_is_local(pa.domain)) {
		reply(s, R_NORELAY, NULL);
		return;
	}
	if (s->nrcpt == conf.maxrcpt) {
		reply(s, R_TOOMANYRCPT, NULL);
		return;
	}
	if (s->nrcpt == s->rcptcap) {
		size_t cap = s->rcptcap ? s->rcptcap * 2 : 8;

		if (cap > conf.maxrcpt)
			cap = conf.maxrcpt;
		if ((r = realloc(s->rcpts, cap * sizeof(*r))) == NULL) {
			reply(s, R_LOCALERR, NULL);
			return;
		}
		s->rcpts = r;
		s->rcptcap = cap;
	}
	addr_lower(pa.local);
	rep = resolve(s, pa.local, pa.addr, first);
	if (s->kind == TX_SEND && (rep == R_RCPT_OK || rep == R_FORWARD))
		rep = send_check(s, rep, first);
	if (rep != R_RCPT_OK && rep != R_FORWARD) {
		char to[MAX_PATH_LEN + 3];

		log_fmt(to, sizeof(to), "<%s>", rep == R_NOTLOCAL ?
		    s->targets[first].addr : "");
		s->ntarget = first;
		reply(s, rep, to);	/* logged as a refusal */
		return;
	}
	r = &s->rcpts[s->nrcpt++];
	memcpy(r->addr, pa.addr, sizeof(r->addr));
	r->first = first;
	r->count = s->ntarget - first;
	s->state = ST_RCPT;
	if (rep == R_FORWARD) {
		char to[MAX_PATH_LEN + 3];

		log_fmt(to, sizeof(to), "<%s>", s->targets[first].addr);
		reply(s, R_FORWARD, to);
	} else
		reply(s, R_RCPT_OK, NULL);
}

/* RFC 5321 4.4: the trace header, first in the spool. */
static void
received_header(struct session *s, char *hdr, size_t sz)
{
	static char date[64];
	static time_t dated = (time_t)-1;
	char peer[MAX_PEER + 16] = "", forr[MAX_PATH_LEN + 16] = "";
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
	/* RFC 6531 3.7.3: SMTPUTF8 is ESMTP; UTF8SMTP and UTF8LMTP say so. */
	n = log_fmt(hdr, sz, "Received: from %s%s\n\tby %s "
	    "(smtpd) with %s%s id %s%s;\n\t%s\n", s->helo, peer,
	    conf.hostname, s->utf8 ? "UTF8" : "", conf.lmtp ? "LMTP" :
	    s->utf8 ? "SMTP" : s->esmtp ? "ESMTP" : "SMTP", s->msgid, forr,
	    date);
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
		reply(s, r, s->msgid);
		return;
	}
	/* RFC 2033 4.2: one reply per accepted recipient, in order. */
	for (i = 0; i < s->nrcpt; i++)
		reply(s, outcome(s, s->rcpts[i].first, s->rcpts[i].count),
		    s->msgid);
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
	} else
		deliver(s, rv);
	reset_transaction(s);
}

/* An empty spool and a new message id; -1 when refused with 451. */
static int
new_message(struct session *s)
{
	if (s->spool < 0 && (s->spool = dlv_spool()) < 0) {
		reply(s, R_LOCALERR, NULL);
		return -1;
	}
	if (ftruncate(s->spool, 0) != 0 || lseek(s->spool, 0, SEEK_SET) != 0) {
		log_err("session=%s spool: %s", s->sessid, strerror(errno));
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
		bye421(s, R_TIMEOUT);
	if (r == IO_EOF) {
		log_end(s, how);
		exit(0);
	}
}

static void
cmd_data(struct session *s, char *arg)
{
	struct data_result rv;
	char trace[1024];
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
 * and are thrown away too (bdat_skip).  BDAT LAST ends the message as the
 * final dot does.
 */
static void
cmd_bdat(struct session *s, char *arg)
{
	struct data_result rv;
	unsigned long long n;
	char trace[1024], got[32];
	int last, keep;
	size_t i;

	if (bdat_args(arg, &n, &last) != 0) {
		reply(s, R_SYNTAX, NULL);
		reset_transaction(s);
		return;
	}
	keep = n <= conf.maxsize - s->bdat_size;
	if (keep && s->state == ST_RCPT) {
		if (new_message(s) != 0) {
			check_read(s, data_bdat_chunk(n, 0), "eof-in-bdat");
			reset_transaction(s);
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
		reset_transaction(s);
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
static void
bdat_skip(struct session *s, char *arg)
{
	unsigned long long n;
	int last;

	if (bdat_args(arg, &n, &last) == 0)
		check_read(s, data_bdat_chunk(n, 0), "eof-in-bdat");
}

static void
cmd_rset(struct session *s, char *arg)
{
	if (*arg != '\0') {
		reply(s, R_NOARGS, NULL);
		return;
	}
	reset_transaction(s);
	reply(s, R_RESET, NULL);
}

static void
cmd_noop(struct session *s, char *arg)
{
	(void)arg;	/* RFC 5321 4.1.1.9: a parameter is ignored */
	reply(s, R_NOOP, NULL);
}

static void
cmd_quit(struct session *s, char *arg)
{
	if (*arg != '\0') {
		reply(s, R_NOARGS, NULL);
		return;
	}
	reply(s, R_BYE, conf.hostname);
	io_flush();
	log_end(s, "quit");
	exit(0);
}

static void
cmd_help(struct session *s, char *arg)
{
	(void)arg;	/* one help text for every topic */
	reply_more(s, R_HELP, "smtpd commands:");
	reply_more(s, R_HELP, "HELO EHLO MAIL RCPT DATA RSET NOOP QUIT");
	reply_more(s, R_HELP, "HELP VRFY EXPN TURN BDAT");
	if (!conf.lmtp)
		reply_more(s, R_HELP, "SEND SOML SAML");
	reply(s, R_HELP_END, NULL);
}

/*
 * The local name a VRFY or EXPN argument names: "<path>", "user@domain" or
 * "user".  Returns 0, or the reply to send.
 */
static enum reply
vrfy_name(char *arg, char *local)
{
	char buf[MAX_CMDLINE + 2];
	struct path pa;
	const char *end;

	if (*arg == '\0')
		return R_SYNTAX;
	if (strchr(arg, '@') == NULL && *arg != '<') {
		log_fmt(local, MAX_LOCAL + 1, "%s", arg);
		addr_lower(local);
		return strlen(arg) <= MAX_LOCAL && dlv_valid_user(local) ?
		    R_COUNT : R_NOUSER;
	}
	log_fmt(buf, sizeof(buf), *arg == '<' ? "%s" : "<%s>", arg);
	if ((end = addr_path(buf, &pa, 1)) == NULL || *end != '\0')
		return R_SYNTAX;
	if (pa.domain[0] != '\0' && !addr_is_local(pa.domain))
		return R_NOUSER;
	memcpy(local, pa.local, MAX_LOCAL + 1);
	addr_lower(local);
	return dlv_valid_user(local) ? R_COUNT : R_NOUSER;
}

/* alias_add_fn for VRFY: count the targets, keep the first. */
struct first_target {
	size_t		 n;
	enum target_kind kind;
	char		 addr[MAX_PATH_LEN + 1];
};

static void
vrfy_add(void *ctx, enum target_kind kind, const char *user, const char *addr)
{
	struct first_target *f = ctx;

	(void)user;	/* addr names the target in full */
	if (f->n++ == 0) {
		f->kind = kind;
		log_fmt(f->addr, sizeof(f->addr), "%s", addr);
	}
}

static void
cmd_vrfy(struct session *s, char *arg)
{
	struct first_target f = { 0, T_LOCAL, "" };
	char local[MAX_LOCAL + 1], out[MAX_LOCAL + MAX_HOSTNAME + 8], match[256];
	enum reply r;
	int x;

	if (*arg == '\0') {
		reply(s, R_SYNTAX, NULL);
		return;
	}
	if (!conf.vrfy) {		/* the same answer for everyone */
		reply(s, R_VRFY_CANNOT, NULL);
		return;
	}
	if ((r = vrfy_name(arg, local)) != R_COUNT) {
		reply(s, r, NULL);
		return;
	}
	x = alias_expand(local, vrfy_add, &f);
	if (x > 0 && f.n == 1 && f.kind == T_REMOTE) {
		log_fmt(out, sizeof(out), "<%s>", f.addr);
		reply(s, conf.fwd.n > 0 ? R_VRFY_FORWARD : R_NOTLOCAL, out);
		return;
	}
	if (x > 0 || strcmp(local, "postmaster") == 0 || dlv_exists(local)) {
		log_fmt(out, sizeof(out), "<%s@%s>", local, conf.hostname);
		reply(s, R_VRFY_OK, out);
		return;
	}
	/* RFC 5321 3.5.3: a partial name may match one user or several. */
	switch (alias_match(local, match, sizeof(match)) +
	    dlv_match(local, match, sizeof(match))) {
	case 0:
		reply(s, R_NOUSER, NULL);
		break;
	case 1:
		log_fmt(out, sizeof(out), "<%.64s@%s>", match, conf.hostname);
		reply(s, R_VRFY_OK, out);
		break;
	default:
		reply(s, R_VRFY_AMBIG, local);
	}
}

/* alias_add_fn for EXPN: each member is one line, the last one waits. */
struct expn_list {
	struct session	*s;
	size_t		 n;
	char		 last[MAX_PATH_LEN + 3];
};

static void
expn_add(void *ctx, enum target_kind kind, const char *user, const char *addr)
{
	struct expn_list *l = ctx;

	(void)kind;
	(void)user;	/* addr names the target in full */
	if (l->n++ > 0)
		reply_more(l->s, R_EXPN_ITEM, l->last);
	log_fmt(l->last, sizeof(l->last), "<%s>", addr);
}

static void
cmd_expn(struct session *s, char *arg)
{
	struct first_target f = { 0, T_LOCAL, "" };
	struct expn_list l;
	char local[MAX_LOCAL + 1];
	enum reply r;
	int x;

	if (!conf.expn) {
		reply(s, R_EXPN_DISABLED, NULL);
		return;
	}
	if ((r = vrfy_name(arg, local)) != R_COUNT) {
		reply(s, r, NULL);
		return;
	}
	/* Count first, so that an error never follows continuation lines. */
	if ((x = alias_expand(local, vrfy_add, &f)) < -1) {
		reply(s, alias_error(x), NULL);
		return;
	}
	if (x <= 0) {
		reply(s, R_NOUSER, NULL);
		return;
	}
	l.s = s;
	l.n = 0;
	alias_expand(local, expn_add, &l);
	reply(s, R_EXPN_ITEM, l.last);
}

static void
cmd_turn(struct session *s, char *arg)
{
	(void)arg;	/* RFC 821: a server may refuse the role change */
	reply(s, R_TURN, NULL);
}

/* Look the verb up, check mode and state, run the handler. */
static void
dispatch(struct session *s, char *line, size_t len)
{
	const struct command *c;
	char *arg;
	size_t i, vlen;

	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';
	s->cmdline = line;
	if (memchr(line, '\0', len) != NULL) {
		reply(s, R_UNKNOWN, NULL);
		return;
	}
	vlen = strcspn(line, " ");
	arg = line[vlen] == ' ' ? line + vlen + 1 : line + vlen;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		c = &commands[i];
		if (strlen(c->verb) != vlen ||
		    strncasecmp(line, c->verb, vlen) != 0)
			continue;
		if (!(c->modes & (conf.lmtp ? M_LMTP : M_SMTP)))
			break;
		if (!(c->states & s->state)) {
			/* RFC 3030 4.2: the octets are a chunk, not commands. */
			if (c->run == cmd_bdat)
				bdat_skip(s, arg);
			reply(s, R_BADSEQ, NULL);
			return;
		}
		c->run(s, arg);
		if (c->flush)
			io_flush();
		return;
	}
	reply(s, R_UNKNOWN, NULL);
}

/* Name the session and log the connection. */
static void
sess_start(struct session *s)
{
	char peer[MAX_LOGVAL];

	s->state = ST_INIT;
	s->spool = -1;
	log_fmt(s->sessid, sizeof(s->sessid), "%lX%05lX",
	    (unsigned long)time(NULL), (unsigned long)getpid() & 0xfffff);
	log_info("session=%s connect client=%s", s->sessid,
	    log_esc(peer, sizeof(peer), conf.peer[0] != '\0' ? conf.peer :
	    "local"));
}

/* Started as root without -u: say so and end before the first command. */
void
sess_refuse(void)
{
	static struct session sess;
	char peer[MAX_LOGVAL];

	sess_start(&sess);
	log_err("session=%s refused client=%s code=421 why=\"started as "
	    "root without -u\"", sess.sessid, log_esc(peer, sizeof(peer),
	    conf.peer[0] != '\0' ? conf.peer : "local"));
	bye421(&sess, R_NOPRIV);
}

void
sess_run(void)
{
	static struct session sess;
	struct session *s = &sess;
	char line[MAX_CMDLINE];
	size_t len;
	int r;

	sess_start(s);
	reply(s, conf.lmtp ? R_GREETING_LMTP : R_GREETING, conf.hostname);
	for (;;) {
		io_deadline(conf.timeout);
		r = io_getline(line, sizeof(line), &len);
		if (r == IO_EOF) {
			log_end(s, "eof");
			exit(0);
		}
		if (r == IO_TIMEOUT)
			bye421(s, R_TIMEOUT);
		if (r == IO_TOOLONG) {
			s->cmdline = "-";	/* discarded */
			reply(s, R_TOOLONG, NULL);
		} else
			dispatch(s, line, len);
		s->cmdline = NULL;
		if (s->errors >= MAX_BADCMDS)
			bye421(s, R_TOOMANYERRS);
	}
}
