/*
 * Naming recipients: RCPT, with the local part resolved through the
 * aliases to delivery targets (duplicates marked, lists bounded, SEND's
 * terminal checked), and VRFY and EXPN, which answer from the same
 * aliases and mailboxes.
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
 * Do two local targets name the same copy: one mailbox, and with -e the
 * same detail, so that each detail gets a copy an agent can file?
 */
static int
same_name(const struct target *a, const struct target *b)
{
	char na[2 * MAX_LOCAL + 2], nb[2 * MAX_LOCAL + 2];

	if (strcmp(a->user, b->user) != 0)
		return 0;
	if (conf.delim == NULL)
		return 1;
	addr_rcpt_name(na, sizeof(na), a->user, a->addr);
	addr_rcpt_name(nb, sizeof(nb), b->user, b->addr);
	return strcmp(na, nb) == 0;
}

/*
 * One copy per mailbox (and detail) and per remote address: mark each
 * target from first on that repeats an earlier one.  Run once the targets
 * of an RCPT have their final places, so that each dup names the right
 * index.
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
			    (t->kind == T_LOCAL ? same_name(&s->targets[i], t) :
			    strcasecmp(s->targets[i].addr, t->addr) == 0)) {
				t->dup = i + 1;
				break;
			}
	}
}

/* The reply for an expansion that alias_expand() refused. */
static enum reply
alias_error(enum alias_result r)
{
	return r == AL_TOOBIG ? R_ALIASBIG : R_ALIASLOOP;
}

/*
 * The targets of a local name: its alias, or its mailbox (addr names the
 * copy); else with -e the same for the user before the delimiter (RFC 5233
 * subaddresses).  AL_NONE when it names none of these.
 */
static enum alias_result
lookup(struct session *s, const char *local, const char *addr, size_t *n)
{
	char user[MAX_LOCAL + 1];
	const char *cut;
	enum alias_result r;

	if ((r = alias_expand(local, add_target, s, n)) != AL_NONE)
		return r;
	if (strcmp(local, "postmaster") == 0 || f_has_mailbox(local)) {
		add_target(s, T_LOCAL, local, addr);
		return AL_EXPANDED;
	}
	if ((cut = addr_split(local)) == NULL)
		return AL_NONE;
	memcpy(user, local, (size_t)(cut - local));
	user[cut - local] = '\0';
	if ((r = alias_expand(user, add_target, s, n)) != AL_NONE)
		return r;
	if (strcmp(user, "postmaster") != 0 && !f_has_mailbox(user))
		return AL_NONE;
	add_target(s, T_LOCAL, user, addr);
	return AL_EXPANDED;
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
	enum alias_result r;

	s->dropped = 0;
	s->nomem = 0;
	if (!addr_valid_user(local))
		return R_NOUSER;
	r = lookup(s, local, addr, &n);
	if (r == AL_TOODEEP || r == AL_TOOBIG)
		return alias_error(r);
	if (r == AL_NONE)
		return R_NOUSER;
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

/* Room for one more RCPT in s->rcpts; 0, or -1 when memory is short. */
static int
rcpt_room(struct session *s)
{
	struct rcpt *r;
	size_t cap;

	if (s->nrcpt < s->rcptcap)
		return 0;
	cap = s->rcptcap ? s->rcptcap * 2 : 8;
	if (cap > conf.maxrcpt)
		cap = conf.maxrcpt;
	if ((r = realloc(s->rcpts, cap * sizeof(*r))) == NULL)
		return -1;
	s->rcpts = r;
	s->rcptcap = cap;
	return 0;
}

/*
 * The parameters of RCPT after EHLO or LHLO, RFC 3461 NOTIFY and ORCPT,
 * into d: R_RCPT_OK, or the reply that refuses them with the keyword in
 * *why.
 */
static enum reply
rcpt_params(struct session *s, char *p, struct dsn_rcpt *d, const char **why)
{
	char *key, *val;
	int rep;

	while ((key = strsep(&p, " ")) != NULL) {
		if (*key == '\0')
			continue;
		*why = key;
		if ((val = strchr(key, '=')) != NULL)
			*val++ = '\0';
		if (!s->esmtp)
			return R_BADPARAM;
		switch (dsn_rcpt_param(d, key, val, s->utf8, &rep)) {
		case 0:
			continue;
		case 1:
			return R_BADPARAM;
		default:
			return (enum reply)rep;
		}
	}
	return R_RCPT_OK;
}

/*
 * Parse RCPT's argument into pa and its DSN parameters into d, and check
 * that it may be taken: returns R_RCPT_OK, or the reply that refuses it
 * with its argument in *why.
 */
static enum reply
rcpt_path(struct session *s, char *arg, struct path *pa, struct dsn_rcpt *d,
    const char **why)
{
	const char *end;
	enum reply rep;

	*why = NULL;
	if (strncasecmp(arg, "TO:", 3) != 0)
		return R_SYNTAX;
	arg += 3;
	while (*arg == ' ')
		arg++;
	if ((end = addr_path(arg, pa, ADDR_RCPT | ADDR_UTF8 | ADDR_BARE)) == NULL ||
	    (*end != '\0' && *end != ' '))
		return R_BADRCPT;
	if (!s->utf8 && addr_8bit(pa->addr))
		return R_NONASCII;
	if ((rep = rcpt_params(s, arg + (end - arg), d, why)) != R_RCPT_OK)
		return rep;
	if (pa->domain[0] != '\0' && !addr_is_local(pa->domain))
		return R_NORELAY;
	if (s->nrcpt == conf.maxrcpt)
		return R_TOOMANYRCPT;
	return rcpt_room(s) == 0 ? R_RCPT_OK : R_LOCALERR;
}

void
cmd_rcpt(struct session *s, char *arg)
{
	char to[MAX_PATH_LEN + 3];
	struct dsn_rcpt d;
	struct path pa;
	const char *why;
	enum reply rep;
	struct rcpt *r;
	size_t i, first = s->ntarget;

	memset(&d, 0, sizeof(d));
	if ((rep = rcpt_path(s, arg, &pa, &d, &why)) != R_RCPT_OK) {
		reply(s, rep, why);
		return;
	}
	addr_lower(pa.local);
	rep = resolve(s, pa.local, pa.addr, first);
	if (s->kind == TX_SEND && (rep == R_RCPT_OK || rep == R_FORWARD))
		rep = send_check(s, rep, first);
	if (rep != R_RCPT_OK && rep != R_FORWARD) {
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
	for (i = first; i < s->ntarget; i++)
		s->targets[i].dsn = d;
	s->state = ST_RCPT;
	if (rep == R_FORWARD) {
		log_fmt(to, sizeof(to), "<%s>", s->targets[first].addr);
		reply(s, R_FORWARD, to);
	} else
		reply(s, R_RCPT_OK, NULL);
}

/*
 * The local name a VRFY or EXPN argument names: "<path>", "user@domain" or
 * "user".  Returns 1 with the name, lower-cased, in local; or 0 with the
 * reply to send in *why.
 */
static int
vrfy_name(char *arg, char *local, enum reply *why)
{
	char buf[MAX_CMDLINE + 2];
	struct path pa;
	const char *end;

	*why = R_NOUSER;
	if (*arg == '\0') {
		*why = R_SYNTAX;
		return 0;
	}
	if (strchr(arg, '@') == NULL && *arg != '<') {
		log_fmt(local, MAX_LOCAL + 1, "%s", arg);
		addr_lower(local);
		return strlen(arg) <= MAX_LOCAL && addr_valid_user(local);
	}
	log_fmt(buf, sizeof(buf), *arg == '<' ? "%s" : "<%s>", arg);
	if ((end = addr_path(buf, &pa, 1)) == NULL || *end != '\0') {
		*why = R_SYNTAX;
		return 0;
	}
	if (pa.domain[0] != '\0' && !addr_is_local(pa.domain))
		return 0;
	memcpy(local, pa.local, MAX_LOCAL + 1);
	addr_lower(local);
	return addr_valid_user(local);
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

/*
 * The name VRFY and EXPN look up for local, as RCPT does: local itself
 * when an alias or a mailbox has it, else with -e the user before the
 * delimiter.  Copied to name (MAX_LOCAL + 1 octets).
 */
static void
lookup_name(const char *local, char *name)
{
	struct first_target f = { 0, T_LOCAL, "" };
	const char *cut;
	size_t x;

	memcpy(name, local, strlen(local) + 1);
	if (alias_expand(local, vrfy_add, &f, &x) == AL_NONE &&
	    strcmp(local, "postmaster") != 0 && !f_has_mailbox(local) &&
	    (cut = addr_split(local)) != NULL)
		name[cut - local] = '\0';
}

void
cmd_vrfy(struct session *s, char *arg)
{
	struct first_target f = { 0, T_LOCAL, "" };
	char local[MAX_LOCAL + 1], out[MAX_LOCAL + MAX_HOSTNAME + 8], match[256];
	char name[MAX_LOCAL + 1];
	enum reply r;
	size_t x;
	int hit;

	if (*arg == '\0') {
		reply(s, R_SYNTAX, NULL);
		return;
	}
	if (!conf.vrfy) {		/* the same answer for everyone */
		reply(s, R_VRFY_CANNOT, NULL);
		return;
	}
	if (!vrfy_name(arg, local, &r)) {
		reply(s, r, NULL);
		return;
	}
	lookup_name(local, name);
	hit = alias_expand(name, vrfy_add, &f, &x) == AL_EXPANDED && x > 0;
	if (hit && f.n == 1 && f.kind == T_REMOTE) {
		log_fmt(out, sizeof(out), "<%s>", f.addr);
		reply(s, conf.fwd.n > 0 ? R_VRFY_FORWARD : R_NOTLOCAL, out);
		return;
	}
	if (hit || strcmp(name, "postmaster") == 0 || f_has_mailbox(name)) {
		log_fmt(out, sizeof(out), "<%s@%s>", local, conf.hostname);
		reply(s, R_VRFY_OK, out);
		return;
	}
	/* RFC 5321 3.5.3: a partial name may match one user or several. */
	switch (alias_match(local, match, sizeof(match)) +
	    f_match(local, match, sizeof(match))) {
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

void
cmd_expn(struct session *s, char *arg)
{
	struct first_target f = { 0, T_LOCAL, "" };
	struct expn_list l;
	char local[MAX_LOCAL + 1], name[MAX_LOCAL + 1];
	enum reply r;
	enum alias_result ar;
	size_t x;

	if (!conf.expn) {
		reply(s, R_EXPN_DISABLED, NULL);
		return;
	}
	if (!vrfy_name(arg, local, &r)) {
		reply(s, r, NULL);
		return;
	}
	/* Count first, so that an error never follows continuation lines. */
	lookup_name(local, name);
	if ((ar = alias_expand(name, vrfy_add, &f, &x)) == AL_TOODEEP ||
	    ar == AL_TOOBIG) {
		reply(s, alias_error(ar), NULL);
		return;
	}
	if (ar == AL_NONE || x == 0) {
		reply(s, R_NOUSER, NULL);
		return;
	}
	l.s = s;
	l.n = 0;
	ar = alias_expand(name, expn_add, &l, &x);	/* as counted */
	reply(s, R_EXPN_ITEM, l.last);
}
