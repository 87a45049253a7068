/*
 * One entry of the deferred queue, as a file: a small text envelope
 * (sender, arrival, attempts, next try, the last error, RET and ENVID,
 * one line per pending recipient with its NOTIFY and ORCPT), a blank
 * line, then the spool exactly as the session received it.  Version 2
 * added the DSN parameters; a version 1 entry still reads, without them.  entry_write() writes a temp name, fsyncs it and renames
 * or links it into place, so a crash leaves the old entry or the new one;
 * entry_read() parses an envelope through pread, leaving the fd's lock and
 * offset alone.  Calls file.c and log.c.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpd.h"

#define Q_MAGIC		"smtpd-queue 2"
#define Q_MAGIC_V1	"smtpd-queue 1"	/* no RET, ENVID, NOTIFY, ORCPT */
#define Q_MAXLINE	1024		/* envelope line, LF included */

/* Line reader over pread, which leaves the fd's lock and offset alone. */
struct lr {
	int	 fd;
	off_t	 off;		/* file offset of buf[0] */
	size_t	 pos, len;
	char	 buf[8192];
};

/* Copy size bytes of fd from offset off to f; 0, or -1 with errno. */
static int
copy_out(FILE *f, int fd, off_t off, off_t size)
{
	char buf[65536];
	ssize_t n;

	while (size > 0) {
		size_t want = (size_t)size < sizeof(buf) ? (size_t)size :
		    sizeof(buf);

		if ((n = f_pread(fd, buf, want, off)) <= 0) {
			if (n == 0)
				errno = EIO;	/* the file shrank */
			return -1;
		}
		if (fwrite(buf, 1, (size_t)n, f) != (size_t)n)
			return -1;
		off += n;
		size -= n;
	}
	return 0;
}

/*
 * Read one line without its LF into line (size sz).  Returns 1, 0 at the
 * end of the file, -1 for an error or an overlong line.
 */
static int
lr_line(struct lr *r, char *line, size_t sz)
{
	size_t n = 0;
	ssize_t got;

	for (;;) {
		if (r->pos == r->len) {
			r->off += (off_t)r->len;
			r->pos = r->len = 0;
			got = f_pread(r->fd, r->buf, sizeof(r->buf), r->off);
			if (got < 0)
				return -1;
			if (got == 0)
				return n > 0 ? -1 : 0;
			r->len = (size_t)got;
		}
		if (r->buf[r->pos] == '\n') {
			r->pos++;
			line[n] = '\0';
			return 1;
		}
		if (n + 1 == sz)
			return -1;
		line[n++] = r->buf[r->pos++];
	}
}

/* Write the envelope of e and the pending recipients in r[0..n). */
static void
write_envelope(FILE *f, const struct entry *e, const struct target *r,
    size_t n)
{
	size_t i;

	fprintf(f, "%s\nsender %s\narrival %lld\nattempts %u\nnext %lld\n"
	    "has-from %d\nerror %s\n", Q_MAGIC, e->sender, e->arrival,
	    e->attempts, e->next, e->has_from, e->error);
	if (e->dsn.ret != RET_NONE)
		fprintf(f, "ret %s\n", e->dsn.ret == RET_FULL ? "full" : "hdrs");
	if (e->dsn.envid[0] != '\0')
		fprintf(f, "envid %s\n", e->dsn.envid);
	/*
	 * A tab can be in none: see addr_valid_user(), addr_path(), and
	 * dsn_rcpt_param() for ORCPT.
	 */
	for (i = 0; i < n; i++) {
		if (r[i].status != DLV_TEMP || r[i].dup != 0)
			continue;
		if (r[i].kind == T_REMOTE)
			fprintf(f, "remote %s", r[i].addr);
		else
			fprintf(f, "local %s\t%s", r[i].user, r[i].addr);
		if (r[i].dsn.notify != 0 || r[i].dsn.orcpt[0] != '\0')
			fprintf(f, "\t%u\t%s", r[i].dsn.notify,
			    r[i].dsn.orcpt);
		putc('\n', f);
	}
	putc('\n', f);
}

/*
 * Write the envelope of e, the recipients of r[0..n) whose status is
 * DLV_TEMP, and the spool of m to fd, the temp file tmp, and close it.
 * Returns 0, or -1 logged.
 */
static int
write_tmp(int fd, const char *tmp, const struct entry *e,
    const struct target *r, size_t n, const struct message *m)
{
	FILE *f;
	int err = 0;

	if ((f = fdopen(fd, "w")) == NULL) {
		err = errno;
		(void)close(fd);	/* empty; unlinked by the caller */
	} else {
		errno = 0;
		write_envelope(f, e, r, n);
		if (copy_out(f, m->fd, m->offset, m->size) != 0 ||
		    fflush(f) != 0 || ferror(f) || fsync(fd) != 0)
			err = errno ? errno : EIO;
		if (fclose(f) != 0 && err == 0)
			err = errno;
	}
	if (err != 0) {
		errno = err;
		log_warn("queue %s: write", log_word(tmp));
		return -1;
	}
	return 0;
}

/*
 * Give the temp file tmp its name: replace, or else a new name from id
 * (which goes to name).  Returns 0, or -1 logged.
 */
static int
name_entry(int dfd, const char *tmp, const char *id, const char *replace,
    char *name, size_t namesz)
{
	int i;

	if (replace != NULL) {
		if (renameat(dfd, tmp, dfd, replace) != 0) {
			log_warn("queue %s: rename", log_word(replace));
			return -1;
		}
		snprintf(name, namesz, "%s", replace);
		return 0;
	}
	/* link() never replaces an entry of the same name. */
	for (i = 0; i < 100; i++) {
		if (i == 0)
			snprintf(name, namesz, "%s", id);
		else
			snprintf(name, namesz, "%s-%d", id, i);
		if (linkat(dfd, tmp, dfd, name, 0) == 0)
			return 0;
		if (errno == EEXIST)
			continue;
		if (renameat(dfd, tmp, dfd, name) == 0)
			return 0;
		log_warn("queue %s: link", log_word(name));
		return -1;
	}
	log_err("queue %s: no free name", log_word(id));
	return -1;
}

/*
 * Store an entry: the envelope of e, the recipients of r[0..n) whose
 * status is DLV_TEMP, and the spool of m.  With replace the file takes
 * the place of that name; else it gets a new name from m->id (which goes
 * to name).  The directory is fsync'd before this returns 0.
 */
int
entry_write(int dfd, const struct entry *e, const struct target *r, size_t n,
    const struct message *m, const char *replace, char *name, size_t namesz)
{
	static unsigned int counter;
	char tmp[64];
	int fd, rc = -1;

	snprintf(tmp, sizeof(tmp), "%s%ld.%u", Q_TMP, (long)getpid(),
	    ++counter);
	if ((fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		log_warn("queue %s", log_word(tmp));
		return -1;
	}
	if (write_tmp(fd, tmp, e, r, n, m) == 0 &&
	    name_entry(dfd, tmp, m->id, replace, name, namesz) == 0) {
		if (fsync(dfd) != 0)
			log_warn("queue: fsync");
		else
			rc = 0;
	}
	if (unlinkat(dfd, tmp, 0) != 0 && errno != ENOENT) {
		log_warn("queue %s: unlink", log_word(tmp));
		rc = -1;
	}
	return rc;
}

static int
parse_num(const char *s, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' || *v < 0 ? -1 : 0;
}

/*
 * The DSN fields after a recipient's address, "NOTIFY<TAB>ORCPT", into r,
 * if there are any (tab); only a version 2 entry (v2) may have them.  0,
 * or -1 if they are bad.
 */
static int
rcpt_dsn(struct target *r, char *tab, int v2)
{
	char *orcpt;
	long long v;

	if (tab == NULL)
		return 0;
	*tab = '\0';
	if (!v2 || (orcpt = strchr(tab + 1, '\t')) == NULL)
		return -1;
	*orcpt++ = '\0';
	if (parse_num(tab + 1, &v) != 0 || v >= 32 || strlen(orcpt) > MAX_ORCPT ||
	    (*orcpt != '\0' && strchr(orcpt, ';') == NULL))
		return -1;
	r->dsn.notify = (unsigned int)v;
	memcpy(r->dsn.orcpt, orcpt, strlen(orcpt) + 1);
	return 0;
}

/*
 * Add a target to e: "user<TAB>addr" if local, else "addr", and in a
 * version 2 entry "<TAB>notify<TAB>orcpt" where it has either.
 */
static int
add_rcpt(struct entry *e, enum target_kind kind, char *v, int v2)
{
	char *tab = strchr(v, '\t'), *addr = v;
	struct target *r, t;
	size_t ul = 0;

	memset(&t, 0, sizeof(t));
	if (kind == T_LOCAL) {
		if (tab == NULL || (ul = (size_t)(tab - v)) > MAX_LOCAL)
			return -1;
		addr = tab + 1;
	}
	if (rcpt_dsn(&t, strchr(addr, '\t'), v2) != 0 || *addr == '\0' ||
	    strlen(addr) > MAX_PATH_LEN)
		return -1;
	if ((r = realloc(e->rcpts, (e->nrcpt + 1) * sizeof(*r))) == NULL)
		return -1;
	e->rcpts = r;
	r = &e->rcpts[e->nrcpt];
	*r = t;
	r->kind = kind;
	memcpy(r->user, v, ul);
	r->user[ul] = '\0';
	memcpy(r->addr, addr, strlen(addr) + 1);
	r->status = DLV_TEMP;
	if (kind == T_LOCAL && !addr_valid_user(r->user))
		return -1;
	e->nrcpt++;
	return 0;
}

/*
 * A version 2 envelope line of the message's DSN parameters into e: 1 if
 * taken, 0 if key is not one, -1 if the value is bad.
 */
static int
envelope_dsn(struct entry *e, const char *key, const char *val)
{
	const char *p;

	if (strcmp(key, "ret") == 0) {
		e->dsn.ret = strcmp(val, "full") == 0 ? RET_FULL :
		    strcmp(val, "hdrs") == 0 ? RET_HDRS : RET_NONE;
		return e->dsn.ret != RET_NONE ? 1 : -1;
	}
	if (strcmp(key, "envid") != 0)
		return 0;
	for (p = val; *p >= ' ' && *p <= '~'; p++)
		continue;
	if (*p != '\0' || p == val || strlen(val) > MAX_ENVID)
		return -1;
	memcpy(e->dsn.envid, val, strlen(val) + 1);
	return 1;
}

/* Read the envelope of the entry open on fd into e; -1 if it is bad. */
int
entry_read(int fd, struct entry *e)
{
	static struct lr r;
	char line[Q_MAXLINE];
	long long v;
	int got, seen = 0, v2;

	memset(e, 0, sizeof(*e));
	memset(&r, 0, offsetof(struct lr, buf));
	r.fd = fd;
	if (lr_line(&r, line, sizeof(line)) != 1 || ((v2 = strcmp(line,
	    Q_MAGIC) == 0) == 0 && strcmp(line, Q_MAGIC_V1) != 0))
		goto bad;
	while ((got = lr_line(&r, line, sizeof(line))) == 1 &&
	    line[0] != '\0') {
		char *val = strchr(line, ' ');

		if (val == NULL)
			goto bad;
		*val++ = '\0';
		if (strcmp(line, "sender") == 0 && strlen(val) <= MAX_PATH_LEN) {
			memcpy(e->sender, val, strlen(val) + 1);
			seen |= 1;
		} else if (strcmp(line, "arrival") == 0 && parse_num(val, &v) == 0) {
			e->arrival = v;
			seen |= 2;
		} else if (strcmp(line, "attempts") == 0 &&
		    parse_num(val, &v) == 0 && v < 1000000) {
			e->attempts = (unsigned int)v;
			seen |= 4;
		} else if (strcmp(line, "next") == 0 && parse_num(val, &v) == 0) {
			e->next = v;
			seen |= 8;
		} else if (strcmp(line, "has-from") == 0)
			e->has_from = strcmp(val, "0") != 0;
		else if (strcmp(line, "error") == 0)
			sanitize(e->error, sizeof(e->error), val, strlen(val));
		else if (strcmp(line, "local") == 0 ||
		    strcmp(line, "remote") == 0) {
			if (add_rcpt(e, line[0] == 'l' ? T_LOCAL : T_REMOTE,
			    val, v2) != 0)
				goto bad;
		} else if (!v2 || envelope_dsn(e, line, val) <= 0)
			goto bad;
	}
	if (got != 1 || seen != 15 || e->nrcpt == 0)
		goto bad;
	e->body = r.off + (off_t)r.pos;
	return 0;
bad:
	free(e->rcpts);
	e->rcpts = NULL;
	e->nrcpt = 0;
	return -1;
}
