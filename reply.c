/*
 * Replies and the session's log lines: reply() writes a row of reply.h,
 * its argument sanitised, through io.c; a 4xx or 5xx reply logs the
 * refused command; reply_bye421() ends the session.  Syntax and sequence
 * errors in a row are counted here.  Calls io.c and log.c.
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

const char *
reply_state_name(enum state st)
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
void
reply_log_end(struct session *s, const char *how)
{
	if (s->tls.proto[0] != '\0')	/* RFC 3207, 8314 */
		log_info("session=%s end=%s state=%s messages=%u refused=%u "
		    "tls=%s cipher=%s", s->sessid, how,
		    reply_state_name(s->state), s->nmsg, s->nrefused,
		    s->tls.proto, s->tls.cipher[0] != '\0' ? s->tls.cipher :
		    "-");
	else
		log_info("session=%s end=%s state=%s messages=%u refused=%u",
		    s->sessid, how, reply_state_name(s->state), s->nmsg,
		    s->nrefused);
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

void
reply(struct session *s, enum reply r, const char *arg)
{
	reply_line(s, r, arg, 0);
}

void
reply_more(struct session *s, enum reply r, const char *arg)
{
	reply_line(s, r, arg, 1);
}

/* Send a 421 and end the session. */
void
reply_bye421(struct session *s, enum reply r)
{
	s->cmdline = NULL;
	reply(s, r, conf.hostname);
	io_flush();
	reply_log_end(s, r == R_TIMEOUT ? "timeout" : r == R_NOPRIV ? "refused" :
	    "errors");
	exit(0);
}
