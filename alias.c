/*
 * The aliases file (-a), read once at start-up, and the recursive
 * expansion of a local name into delivery targets.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "smtpd.h"

#define MAX_ALIASFILE	(4 * 1024 * 1024)

/*
 * One alias: its name and its targets, each a NUL-terminated string
 * starting with 'L' (a local name, lower case) or 'R' (a remote address).
 */
struct alias {
	char		*name;
	char		*targets;
	size_t		 ntargets;
};

static struct alias	*aliases;
static size_t		 naliases;
/*
 * The file's text, which the aliases point into.  Kept, volatile so that
 * the store stays, for leak checkers to see its start and not only
 * pointers into it.
 */
static char *volatile	 aliasfile;

static const struct alias *
find(const char *name)
{
	size_t i;

	for (i = 0; i < naliases; i++)
		if (strcasecmp(aliases[i].name, name) == 0)
			return &aliases[i];
	return NULL;
}

static char *
trim(char *p)
{
	char *e;

	while (*p == ' ' || *p == '\t')
		p++;
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return p;
}

/*
 * Classify one target of line lineno in place: "user", "user@local.dom"
 * (both local), or "user@remote.dom", with or without angle brackets.
 * The result is written to out as 'L' or 'R' and the name.
 */
static size_t
parse_target(const char *file, int lineno, char *t, char *out)
{
	char buf[MAX_PATH_LEN + 3], esc[MAX_LOGVAL];
	struct path pa;
	const char *end;

	if (*t == '|' || *t == '/' || strncasecmp(t, ":include:", 9) == 0)
		die("%s:%d: program, file and include targets are not "
		    "supported; use -m", log_word(file), lineno);
	if (*t == '<' && t[strlen(t) - 1] == '>') {
		t[strlen(t) - 1] = '\0';
		t++;
	}
	if (strchr(t, '@') == NULL) {
		addr_lower(t);
		if (!addr_valid_user(t) || strlen(t) > MAX_LOCAL)
			die("%s:%d: bad local name %s", log_word(file), lineno,
			    log_esc(esc, sizeof(esc), t));
		return (size_t)sprintf(out, "L%s", t) + 1;
	}
	if (snprintf(buf, sizeof(buf), "<%s>", t) >= (int)sizeof(buf) ||
	    (end = addr_path(buf, &pa, 1)) == NULL || *end != '\0')
		die("%s:%d: bad address %s", log_word(file), lineno,
		    log_esc(esc, sizeof(esc), t));
	if (!addr_is_local(pa.domain))
		return (size_t)sprintf(out, "R%s", pa.addr) + 1;
	addr_lower(pa.local);
	if (!addr_valid_user(pa.local))
		die("%s:%d: bad local name %s", log_word(file), lineno,
		    log_esc(esc, sizeof(esc), pa.local));
	return (size_t)sprintf(out, "L%s", pa.local) + 1;
}

/* Parse one logical line (continuations joined) into an alias. */
static void
parse_line(const char *file, int lineno, char *line)
{
	struct alias *a;
	char *colon, *t, *out, esc[MAX_LOGVAL];

	line = trim(line);
	if (*line == '\0' || *line == '#')
		return;
	if ((colon = strchr(line, ':')) == NULL)
		die("%s:%d: missing ':'", log_word(file), lineno);
	*colon = '\0';
	line = trim(line);
	addr_lower(line);
	if (!addr_valid_user(line) || strlen(line) > MAX_LOCAL)
		die("%s:%d: bad alias name %s", log_word(file), lineno,
		    log_esc(esc, sizeof(esc), line));
	if (find(line) != NULL) {
		log_err("%s:%d: alias %s repeated; the first one counts",
		    log_word(file), lineno, log_esc(esc, sizeof(esc), line));
		return;
	}
	if ((a = realloc(aliases, (naliases + 1) * sizeof(*a))) == NULL)
		die("aliases: out of memory");
	aliases = a;
	a = &aliases[naliases];
	/* Each target grows by at most two bytes: its tag and its NUL. */
	if ((a->targets = malloc(strlen(colon + 1) * 2 + 2)) == NULL)
		die("aliases: out of memory");
	a->name = line;
	a->ntargets = 0;
	out = a->targets;
	for (t = strtok(colon + 1, ","); t != NULL; t = strtok(NULL, ",")) {
		t = trim(t);
		if (*t == '\0')
			continue;
		out += parse_target(file, lineno, t, out);
		a->ntargets++;
	}
	if (a->ntargets == 0)
		die("%s:%d: alias %s has no targets", log_word(file), lineno,
		    log_esc(esc, sizeof(esc), line));
	naliases++;
}

/* Read the aliases file; any error ends start-up. */
void
alias_load(const char *file)
{
	char *buf, *p, *line;
	ssize_t n;
	size_t len = 0;
	int fd, lineno = 0, start = 1;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		die_errno("%s", log_word(file));
	if ((buf = aliasfile = malloc(MAX_ALIASFILE + 1)) == NULL)
		die("aliases: out of memory");
	while ((n = read(fd, buf + len, MAX_ALIASFILE - len)) > 0)
		len += (size_t)n;
	if (n < 0)
		die_errno("%s", log_word(file));
	if (len == MAX_ALIASFILE)
		die("%s: larger than %d bytes", log_word(file), MAX_ALIASFILE);
	close(fd);
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL)
		die("%s: holds a NUL byte", log_word(file));

	/*
	 * Join continuation lines (leading blank) to the line before.  The
	 * CR of a CR LF line end becomes a blank, so that files written on
	 * other systems read the same.
	 */
	line = buf;
	for (p = buf; *p != '\0'; p++) {
		if (*p != '\n')
			continue;
		lineno++;
		if (p > buf && p[-1] == '\r')
			p[-1] = ' ';
		if (p[1] == ' ' || p[1] == '\t') {
			*p = ' ';
			continue;
		}
		*p = '\0';
		parse_line(file, start, line);
		line = p + 1;
		start = lineno + 1;
	}
	parse_line(file, start, line);
}

struct expansion {
	alias_add_fn	*add;
	void		*ctx;
	const char	*top;		/* the name being expanded */
	size_t		 nodes;		/* names looked up so far */
	const char	*chain[MAX_ALIAS_DEPTH + 1];
};

/* Count one more name or address met; is the expansion now too big? */
static int
too_big(struct expansion *x)
{
	char esc[MAX_LOGVAL];

	if (++x->nodes <= MAX_ALIAS_NODES)
		return 0;
	log_err("alias %s: expansion meets more than %d names and "
	    "addresses; refused", log_esc(esc, sizeof(esc), x->top),
	    MAX_ALIAS_NODES);
	return 1;
}

/*
 * Expand name at depth, adding to *n for each target added.  A name met
 * again inside its own expansion means its mailbox, as in sendmail.  An
 * expansion that meets more than MAX_ALIAS_NODES names and addresses is
 * refused: lists that name the same list many times grow exponentially
 * with depth.
 */
static enum alias_result
expand(struct expansion *x, const char *name, int depth, size_t *n)
{
	const struct alias *a;
	const char *t;
	char addr[MAX_PATH_LEN + 1];
	size_t i;
	enum alias_result r;

	if (too_big(x))
		return AL_TOOBIG;
	a = find(name);
	for (i = 0; a != NULL && i < (size_t)depth; i++)
		if (strcmp(x->chain[i], a->name) == 0)
			a = NULL;
	if (a == NULL) {
		if (depth == 0)
			return AL_NONE;
		if (conf.mda.n == 0 && strcmp(name, "postmaster") != 0 &&
		    !f_has_mailbox(name)) {
			log_info("alias member %s has no mailbox; skipped",
			    log_word(name));
			return AL_EXPANDED;
		}
		snprintf(addr, sizeof(addr), "%s@%s", name, conf.hostname);
		x->add(x->ctx, T_LOCAL, name, addr);
		(*n)++;
		return AL_EXPANDED;
	}
	if (depth == MAX_ALIAS_DEPTH) {
		log_err("alias %s: nested deeper than %d", log_word(name),
		    MAX_ALIAS_DEPTH);
		return AL_TOODEEP;
	}
	x->chain[depth] = a->name;
	for (t = a->targets, i = 0; i < a->ntargets; i++, t += strlen(t) + 1) {
		if (*t == 'R') {
			if (too_big(x))
				return AL_TOOBIG;
			x->add(x->ctx, T_REMOTE, "", t + 1);
			(*n)++;
			continue;
		}
		if ((r = expand(x, t + 1, depth + 1, n)) != AL_EXPANDED)
			return r;
	}
	return AL_EXPANDED;
}

/*
 * Expand a local name by the aliases, calling add for each target and
 * counting them in *count.  AL_NONE: not an alias; AL_TOODEEP, AL_TOOBIG:
 * refused, with targets possibly added already.
 */
enum alias_result
alias_expand(const char *name, alias_add_fn *add, void *ctx, size_t *count)
{
	struct expansion x;

	x.add = add;
	x.ctx = ctx;
	x.top = name;
	x.nodes = 0;
	*count = 0;
	return expand(&x, name, 0, count);
}

/* Count alias names starting with prefix (up to 2); the first goes to buf. */
size_t
alias_match(const char *prefix, char *buf, size_t sz)
{
	size_t i, n = 0, len = strlen(prefix);

	for (i = 0; i < naliases && n < 2; i++)
		if (strncasecmp(aliases[i].name, prefix, len) == 0 &&
		    n++ == 0)
			snprintf(buf, sz, "%s", aliases[i].name);
	return n;
}
