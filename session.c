/*
 * The SMTP session: the command table, which says in which states and
 * modes each verb is legal, the dispatcher, the session's loop, and the
 * verbs of the session itself: HELO, EHLO, LHLO, STARTTLS, MAIL (with
 * SEND, SOML, SAML), RSET, NOOP, QUIT, HELP and TURN.  RCPT, VRFY and EXPN are in
 * rcpt.c, DATA and BDAT in message.c; every reply goes through reply.c.
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
#include "session.h"

static void	cmd_helo(struct session *, char *);
static void	cmd_ehlo(struct session *, char *);
static void	cmd_starttls(struct session *, char *);
static void	cmd_mail(struct session *, char *);
static void	cmd_send(struct session *, char *);
static void	cmd_soml(struct session *, char *);
static void	cmd_saml(struct session *, char *);
static void	cmd_rset(struct session *, char *);
static void	cmd_noop(struct session *, char *);
static void	cmd_quit(struct session *, char *);
static void	cmd_help(struct session *, char *);
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
	{ "STARTTLS", ST_INIT | ST_IDLE, M_SMTP | M_LMTP, 1, cmd_starttls },
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
	msg_reset(s);
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
	reply_more(s, R_EHLO, "DSN");
	if (conf.tlsfd[0] >= 0 && s->tls.proto[0] == '\0')
		reply_more(s, R_EHLO, "STARTTLS");
	if (conf.expn)
		reply_more(s, R_EHLO, "EXPN");
	if (!conf.lmtp) {	/* RFC 5321 F.6: as RFC 821 has them */
		reply_more(s, R_EHLO, "SEND");
		reply_more(s, R_EHLO, "SOML");
		reply_more(s, R_EHLO, "SAML");
	}
	reply(s, R_EHLO, "HELP");
}

/* The front's description: NUL-terminated KEY=VALUE strings. */
static void
tls_describe(struct tls_info *t, const char *p, size_t len)
{
	const char *end = p + len;

	memset(t, 0, sizeof(*t));
	for (; p < end; p += strlen(p) + 1) {
		if (strncmp(p, "SSL_PROTOCOL=", 13) == 0)
			log_token(t->proto, sizeof(t->proto), p + 13,
			    strlen(p + 13));
		else if (strncmp(p, "SSL_CIPHER=", 11) == 0)
			log_token(t->cipher, sizeof(t->cipher), p + 11,
			    strlen(p + 11));
	}
	if (t->proto[0] == '\0')	/* encrypted all the same */
		log_token(t->proto, sizeof(t->proto), "TLS", 3);
}

/*
 * RFC 3207 STARTTLS through the UCSPI-TLS front (io_starttls()).  What
 * the client sent after the command in clear is thrown away, and the
 * session starts again as after the greeting, in TLS: HELO or EHLO first.
 */
static void
cmd_starttls(struct session *s, char *arg)
{
	char desc[1024];
	size_t len, dropped;
	enum io_result r;

	if (s->tls.proto[0] != '\0') {
		reply(s, R_TLS_ACTIVE, NULL);
		return;
	}
	if (conf.tlsfd[0] < 0) {
		reply(s, R_TLS_NONE, NULL);
		return;
	}
	if (*arg != '\0') {
		reply(s, R_NOARGS, NULL);
		return;
	}
	reply(s, R_TLS_READY, NULL);
	dropped = io_discard();
	if ((r = io_starttls(conf.tlsfd, desc, sizeof(desc), &len)) != IO_OK) {
		reply_log_end(s, r == IO_TIMEOUT ? "tls-timeout" :
		    "tls-failed");
		exit(0);
	}
	tls_describe(&s->tls, desc, len);
	msg_reset(s);
	s->state = ST_INIT;
	s->esmtp = 0;
	s->helo[0] = '\0';
	log_info("session=%s starttls tls=%s cipher=%s discarded=%zu",
	    s->sessid, s->tls.proto, s->tls.cipher[0] != '\0' ?
	    s->tls.cipher : "-", dropped);
}

/*
 * Check the ESMTP parameters of MAIL (RFC 1870 SIZE, RFC 6152 BODY,
 * RFC 6531 SMTPUTF8, which sets *utf8, RFC 3461 RET and ENVID into *dm).
 */
static int
mail_params(struct session *s, char *p, int *utf8, struct dsn_mail *dm)
{
	char *key;
	int rep, k;

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
		} else if (s->esmtp &&
		    (k = dsn_mail_param(dm, key, val, &rep)) <= 0) {
			if (k < 0) {
				reply(s, (enum reply)rep, key);
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
	struct dsn_mail dm;
	struct path pa;
	char *end;
	int utf8 = 0;

	if (strncasecmp(arg, "FROM:", 5) != 0) {
		reply(s, R_SYNTAX, NULL);
		return;
	}
	arg += 5;
	while (*arg == ' ')
		arg++;
	if ((end = addr_path(arg, &pa, ADDR_UTF8 | ADDR_BARE)) == NULL ||
	    (*end != '\0' && *end != ' ')) {
		reply(s, R_BADSENDER, NULL);
		return;
	}
	memset(&dm, 0, sizeof(dm));
	if (mail_params(s, end, &utf8, &dm) != 0)
		return;
	if (!utf8 && addr_8bit(pa.addr)) {
		reply(s, R_NONASCII, NULL);
		return;
	}
	memcpy(s->sender, pa.addr, sizeof(s->sender));
	s->utf8 = utf8;
	s->dsn = dm;
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

static void
cmd_rset(struct session *s, char *arg)
{
	if (*arg != '\0') {
		reply(s, R_NOARGS, NULL);
		return;
	}
	msg_reset(s);
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
	reply_log_end(s, "quit");
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

static void
cmd_turn(struct session *s, char *arg)
{
	(void)arg;	/* RFC 821: a server may refuse the role change */
	reply(s, R_TURN, NULL);
}

/*
 * The longest line, CR LF included, that a command may have: RFC 3461 4
 * lengthens MAIL (RET, ENVID) and RCPT (NOTIFY, ORCPT).
 */
static size_t
line_limit(const char *line)
{
	if (strncasecmp(line, "MAIL ", 5) == 0)
		return MAX_MAILLINE;
	if (strncasecmp(line, "RCPT ", 5) == 0)
		return MAX_RCPTLINE;
	return MAX_CMDLINE;
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
		/* RFC 3207 4: with -S, only these before TLS. */
		if (conf.tlsneed && s->tls.proto[0] == '\0' &&
		    c->run != cmd_ehlo && c->run != cmd_starttls &&
		    c->run != cmd_noop && c->run != cmd_quit) {
			if (c->run == cmd_bdat)
				msg_bdat_skip(s, arg);
			reply(s, R_TLS_NEEDED, NULL);
			return;
		}
		if (!(c->states & s->state)) {
			/* RFC 3030 4.2: the octets are a chunk, not commands. */
			if (c->run == cmd_bdat)
				msg_bdat_skip(s, arg);
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

/* Name the session and log the connection, and the front's part (-P). */
static void
sess_start(struct session *s)
{
	char peer[MAX_LOGVAL], front[MAX_LOGVAL], tls[MAX_LOGVAL];
	char cipher[MAX_LOGVAL], via[4 * MAX_LOGVAL + 32] = "";

	s->state = ST_INIT;
	s->spool = -1;
	s->tls = conf.tls;	/* implicit TLS: the front's word */
	log_fmt(s->sessid, sizeof(s->sessid), "%lX%05lX",
	    (unsigned long)time(NULL), (unsigned long)getpid() & 0xfffff);
	if (conf.front[0] != '\0')
		log_fmt(via, sizeof(via), "%s%s front=%s%s%s%s%s",
		    conf.port[0] != '\0' ? " port=" : "", conf.port,
		    log_esc(front, sizeof(front), conf.front),
		    conf.tls.proto[0] != '\0' ? " tls=" : "",
		    log_esc(tls, sizeof(tls), conf.tls.proto),
		    conf.tls.cipher[0] != '\0' ? " cipher=" : "",
		    log_esc(cipher, sizeof(cipher), conf.tls.cipher));
	log_info("session=%s connect client=%s%s", s->sessid,
	    log_esc(peer, sizeof(peer), conf.peer[0] != '\0' ? conf.peer :
	    "local"), via);
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
	reply_bye421(&sess, R_NOPRIV);
}

void
sess_run(void)
{
	static struct session sess;
	struct session *s = &sess;
	char line[MAX_RCPTLINE];
	size_t len;
	int r;

	sess_start(s);
	reply(s, conf.lmtp ? R_GREETING_LMTP : R_GREETING, conf.hostname);
	for (;;) {
		io_deadline(conf.timeout);
		r = io_getline(line, sizeof(line), &len);
		if (r == IO_EOF) {
			reply_log_end(s, "eof");
			exit(0);
		}
		if (r == IO_TIMEOUT)
			reply_bye421(s, R_TIMEOUT);
		if (r == IO_TOOLONG || len + 2 > line_limit(line)) {
			s->cmdline = "-";	/* discarded */
			reply(s, R_TOOLONG, NULL);
		} else
			dispatch(s, line, len);
		s->cmdline = NULL;
		if (s->errors >= MAX_BADCMDS)
			reply_bye421(s, R_TOOMANYERRS);
	}
}
