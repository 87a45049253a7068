/*
 * The deferred queue: copies that failed temporarily wait here for the
 * next "smtpd -q", and copies that cannot be delivered become delivery
 * status notifications (RFC 3464).  The queue directory holds one file
 * per entry (entry.c writes and reads them).  A runner works on an entry
 * only while it holds an fcntl lock on it; the kernel drops the lock of a
 * killed runner, and the next run picks the entry up again; a stop signal
 * waits until the entry being run is settled.  smtpd -p lists the queue
 * through io.c's writer.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "smtpd.h"

#define Q_STALE_TMP	86400		/* a temp file this old was abandoned */

/* The queue directory: -Q, else DIR/.queue, a name no mailbox can have. */
static int
q_path(char *buf, size_t sz)
{
	int n;

	if (conf.queuedir != NULL)
		n = snprintf(buf, sz, "%s", conf.queuedir);
	else
		n = snprintf(buf, sz, "%s/.queue", conf.maildir);
	return n > 0 && (size_t)n < sz ? 0 : -1;
}

/* Close an fd that was only read or a directory; a failure is logged. */
static void
q_close(int fd)
{
	if (close(fd) != 0)
		log_warn("queue: close");
}

/*
 * Open the queue directory, creating it if create is set; -1 on error
 * (errno ENOENT if it does not exist).  Only a real directory, not a
 * symlink, owned by the user we run as and writable by nobody else is
 * the queue: anyone else could plant entries with forged envelopes.
 * With anyowner (root listing with -p) any owner will do.  *owner gets
 * the owner, whom every entry must belong to.
 */
static int
q_open(int create, int anyowner, uid_t *owner)
{
	char path[4096], esc[MAX_LOGVAL];
	struct stat st;
	int fd;

	if (q_path(path, sizeof(path)) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	log_esc(esc, sizeof(esc), path);
	if (create && mkdir(path, 0700) != 0 && errno != EEXIST) {
		log_warn("queue %s", esc);
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0) {
		if (create || errno != ENOENT)
			log_warn("queue %s", esc);
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		log_warn("queue %s", esc);
		q_close(fd);
		errno = EIO;
		return -1;
	}
	if ((!anyowner && st.st_uid != geteuid()) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		log_err("queue %s: owner uid %lu mode %03o, not uid %lu's "
		    "alone; refused", esc, (unsigned long)st.st_uid,
		    (unsigned int)(st.st_mode & 07777),
		    (unsigned long)geteuid());
		q_close(fd);
		errno = EPERM;
		return -1;
	}
	*owner = st.st_uid;
	return fd;
}

/*
 * Open the entry name with flags (O_RDONLY or O_RDWR) if it is a regular
 * file of owner that nobody else may write.  It is looked at before it is
 * opened, so nothing else (a FIFO, a device, a symlink) is ever opened.
 * st gets its status.  -1 if it is refused (logged) or gone (ENOENT).
 */
static int
entry_open(int dfd, const char *name, int flags, uid_t owner,
    struct stat *st)
{
	struct stat ls;
	char esc[MAX_LOGVAL];
	int fd;

	log_esc(esc, sizeof(esc), name);
	if (fstatat(dfd, name, &ls, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno != ENOENT)
			log_warn("queue %s", esc);
		return -1;
	}
	if (!S_ISREG(ls.st_mode) || ls.st_uid != owner ||
	    (ls.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		log_err("queue %s: not a file of uid %lu's alone; skipped",
		    esc, (unsigned long)owner);
		errno = EPERM;
		return -1;
	}
	if ((fd = openat(dfd, name, flags | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) < 0) {
		if (errno != ENOENT)
			log_warn("queue %s", esc);
		return -1;
	}
	if (fstat(fd, st) != 0 || st->st_dev != ls.st_dev ||
	    st->st_ino != ls.st_ino || !S_ISREG(st->st_mode)) {
		q_close(fd);
		errno = ENOENT;		/* replaced meanwhile */
		return -1;
	}
	return fd;
}

/*
 * Deliver the notification d about m to, or queue it if that fails
 * temporarily; one the sender cannot take goes to postmaster.  0, or -1
 * if it could be neither delivered nor queued.
 */
static int
send_dsn(int dfd, const struct message *m, const struct message *d,
    struct target *to, const char *id)
{
	struct entry e;
	char name[128], addr[MAX_LOGVAL];
	int rc = -1;

	to->status = dlv_deliver(d, to);
	if (to->status == DLV_PERM && strcmp(to->user, "postmaster") != 0) {
		dsn_target("", to);
		to->status = dlv_deliver(d, to);
	}
	if (to->status != DLV_TEMP)
		rc = 0;
	else {
		memset(&e, 0, sizeof(e));
		e.arrival = e.next = time(NULL);
		e.next += conf.retry;
		e.attempts = 1;
		e.has_from = d->has_from;
		dsn_diag(e.error, sizeof(e.error), to);
		if (dfd >= 0 && entry_write(dfd, &e, to, 1, d, NULL, name,
		    sizeof(name)) == 0) {
			log_info("msg=%s queued=%s rcpt=<%s>", id, name,
			    log_esc(addr, sizeof(addr), to->addr));
			rc = 0;
		}
	}
	if (to->status == DLV_PERM)
		log_err("msg=%s dsn=%s to=<%s> failed permanently; dropped",
		    m->id, id, log_esc(addr, sizeof(addr), to->addr));
	else
		log_info("msg=%s dsn=%s to=<%s> status=%s", m->id, id,
		    log_esc(addr, sizeof(addr), to->addr), rc != 0 ? "failed" :
		    to->status == DLV_OK ? "sent" : "queued");
	return rc;
}

/*
 * Notify the sender of m about the recipients of r[0..n) that a report
 * made when names (dsn_action(): failed, delayed, delivered, as their
 * NOTIFY asks).  The notification comes from <>, is delivered at once,
 * and is queued itself if that fails temporarily.  A message from <>
 * never causes one, and one that reports no failure goes only to a
 * local sender, never to postmaster.  Those reported delayed are marked
 * so.  Returns -1 when it could be neither delivered nor queued and may
 * be tried again; one that not even postmaster can take is logged and
 * counts as sent.
 */
static int
notify(int dfd, const struct message *m, long long arrival,
    struct target *r, size_t n, enum dsn_when when, const char *lasterr)
{
	struct message d;
	struct target to;
	char id[64], addr[MAX_LOGVAL];
	size_t i;
	int rc, failed = 0;

	for (i = 0; i < n; i++)
		if (dsn_action(&r[i], when) != A_NONE)
			break;
	if (i == n)
		return 0;
	for (i = 0; i < n; i++)
		failed |= dsn_action(&r[i], when) == A_FAILED;
	if (m->sender[0] == '\0') {
		log_info("msg=%s from=<> failed copies dropped, no notification",
		    m->id);
		return 0;
	}
	dsn_target(m->sender, &to);
	if (!failed && strcmp(to.addr, m->sender) != 0) {
		log_info("msg=%s from=<%s> not local: no success or delay "
		    "notification", m->id, log_esc(addr, sizeof(addr),
		    m->sender));
		return 0;
	}
	if (dsn_build(m, arrival, r, n, when, lasterr, &to, &d, id,
	    sizeof(id)) != 0)
		return -1;
	rc = send_dsn(dfd, m, &d, &to, id);
	if (close(d.fd) != 0)
		log_warn("msg=%s dsn spool close", m->id);
	for (i = 0; rc == 0 && i < n; i++)
		if (dsn_action(&r[i], when) == A_DELAYED)
			r[i].dsn.notify |= DSN_DELAYED;
	return rc;
}

/*
 * A notification could not be sent: keep the targets it was about in the
 * queue, so that a later run reports them.  A looped copy is never tried
 * again.  Returns how many more are pending.
 */
static size_t
keep_unreported(struct target *r, size_t n)
{
	size_t i, kept = 0;

	for (i = 0; i < n; i++)
		if (r[i].status == DLV_PERM && !r[i].looped &&
		    dsn_action(&r[i], DSN_AT_SESSION) == A_FAILED) {
			r[i].status = DLV_TEMP;
			kept++;
		}
	return kept;
}

/*
 * After a session delivered some copies of m: queue the targets that
 * failed temporarily and notify the sender about those that failed for
 * good.  Returns 1 if some were queued, 0 if none had to be, and -1 if
 * the queue entry could not be written, so that the client keeps the
 * responsibility for the message.
 */
int
q_settle(const struct message *m, struct target *r, size_t n)
{
	struct entry e;
	char name[128];
	size_t i, temp = 0;
	uid_t owner;
	int dfd;

	memset(&e, 0, sizeof(e));
	e.arrival = e.next = time(NULL);
	dfd = q_open(1, 0, &owner);
	if (notify(dfd, m, e.arrival, r, n, DSN_AT_SESSION, NULL) != 0) {
		log_err("msg=%s notification not sent; kept in the queue",
		    m->id);
		keep_unreported(r, n);
	}
	for (i = 0; i < n; i++)
		if (r[i].status == DLV_TEMP && r[i].dup == 0)
			temp++;
	if (temp == 0 || dfd < 0) {
		if (dfd >= 0)
			q_close(dfd);
		return temp == 0 ? 0 : -1;
	}
	snprintf(e.sender, sizeof(e.sender), "%s", m->sender);
	if (m->dsn != NULL)
		e.dsn = *m->dsn;
	e.next += conf.retry;
	e.attempts = 1;
	e.has_from = m->has_from;
	for (i = 0; r[i].status != DLV_TEMP || r[i].dup != 0; i++)
		continue;
	dsn_diag(e.error, sizeof(e.error), &r[i]);
	if (entry_write(dfd, &e, r, n, m, NULL, name, sizeof(name)) != 0) {
		q_close(dfd);
		return -1;
	}
	log_info("msg=%s queued=%s rcpts=%zu", m->id, name, temp);
	q_close(dfd);
	return 1;
}

/*
 * After a session delivered every copy of m that it reports on: tell the
 * sender about those whose NOTIFY has SUCCESS (RFC 3461 6.2).  A report
 * that cannot be sent now is queued; one that can be neither is logged.
 */
void
q_report(const struct message *m, struct target *r, size_t n)
{
	uid_t owner;
	size_t i;
	int dfd;

	for (i = 0; i < n; i++)
		if (dsn_action(&r[i], DSN_AT_DELIVERY) == A_DELIVERED)
			break;
	if (i == n)
		return;
	dfd = q_open(1, 0, &owner);
	if (notify(dfd, m, (long long)time(NULL), r, n, DSN_AT_DELIVERY,
	    NULL) != 0)
		log_err("msg=%s success notification not sent", m->id);
	if (dfd >= 0)
		q_close(dfd);
}

/* The delay before attempt number attempts + 1: doubling, capped. */
static long
backoff(unsigned int attempts)
{
	long d = conf.retry;
	unsigned int i;

	for (i = 1; i < attempts && d < conf.maxinterval; i++)
		d = d > 0 ? d * 2 : 1;
	return d < conf.maxinterval ? d : conf.maxinterval;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The names of the entries in the queue, sorted, in a NULL-terminated
 * array; *n gets their count.  Temp files abandoned long ago are removed
 * when clean is set.
 */
static char **
list_entries(int dfd, size_t *n, int clean)
{
	char **names = NULL, **nn;
	struct dirent *de;
	struct stat st;
	size_t cap = 0;
	DIR *d;
	int fd;

	*n = 0;
	if ((fd = dup(dfd)) < 0 || (d = fdopendir(fd)) == NULL) {
		log_warn("queue");
		if (fd >= 0)
			q_close(fd);
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (strncmp(de->d_name, Q_TMP, strlen(Q_TMP)) == 0) {
			if (clean && fstatat(dfd, de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
			    time(NULL) - st.st_mtime > Q_STALE_TMP &&
			    unlinkat(dfd, de->d_name, 0) == 0)
				log_info("queue: removed abandoned %s",
				    log_word(de->d_name));
			continue;
		}
		if (*n + 1 >= cap) {
			cap = cap ? cap * 2 : 32;
			if ((nn = realloc(names, cap * sizeof(*nn))) == NULL)
				break;
			names = nn;
		}
		if ((names[*n] = strdup(de->d_name)) == NULL)
			break;
		names[++*n] = NULL;
	}
	if (closedir(d) != 0)
		log_warn("queue: closedir");
	if (names != NULL)
		qsort(names, *n, sizeof(*names), cmp_names);
	return names;
}

static void
free_names(char **names)
{
	size_t i;

	for (i = 0; names != NULL && names[i] != NULL; i++)
		free(names[i]);
	free(names);
}

/*
 * Open the entry name for a run and lock it; -1 when it is gone, not
 * owner's, held by another runner, or was replaced or removed meanwhile.
 * *st gets its status under the lock.
 */
static int
lock_entry(int dfd, const char *name, uid_t owner, struct stat *st)
{
	struct flock fl;
	struct stat cur;
	int fd;

	if ((fd = entry_open(dfd, name, O_RDWR, owner, st)) < 0)
		return -1;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) != 0) {
		if (errno != EACCES && errno != EAGAIN)
			log_warn("queue %s: lock", log_word(name));
		q_close(fd);
		return -1;
	}
	/* Another runner may have replaced or removed it meanwhile. */
	if (fstat(fd, st) != 0 || fstatat(dfd, name, &cur,
	    AT_SYMLINK_NOFOLLOW) != 0 || st->st_dev != cur.st_dev ||
	    st->st_ino != cur.st_ino || !S_ISREG(st->st_mode)) {
		q_close(fd);
		return -1;
	}
	return fd;
}

/*
 * Deliver m to each recipient of e once, setting its status; returns how
 * many are still pending, and the count delivered in *ok.
 */
static size_t
try_rcpts(const struct message *m, struct entry *e, size_t *ok)
{
	char addr[MAX_LOGVAL];
	size_t i, temp = 0;

	*ok = 0;
	for (i = 0; i < e->nrcpt; i++) {
		if (e->rcpts[i].kind == T_REMOTE && conf.fwd.n == 0) {
			log_err("queue %s: <%s> needs the forwarder -f; kept",
			    m->id, log_esc(addr, sizeof(addr),
			    e->rcpts[i].addr));
			temp++;
			continue;
		}
		e->rcpts[i].status = dlv_deliver(m, &e->rcpts[i]);
		if (e->rcpts[i].status == DLV_TEMP)
			temp++;
		else if (e->rcpts[i].status == DLV_OK)
			(*ok)++;
	}
	return temp;
}

/*
 * After a run of the entry name: bounce what failed (all that is left
 * when it expired), then rewrite the entry with what is pending or
 * remove it.
 */
static void
settle_entry(int dfd, const char *name, struct entry *e,
    const struct message *m, size_t temp, size_t ok)
{
	char renamed[128];
	time_t now = time(NULL);
	size_t i;
	int expired;

	e->attempts++;
	expired = now - e->arrival >= conf.maxage;
	for (i = 0; i < e->nrcpt; i++)
		if (e->rcpts[i].status == DLV_TEMP)
			dsn_diag(e->error, sizeof(e->error), &e->rcpts[i]);
	if (notify(dfd, m, e->arrival, e->rcpts, e->nrcpt, expired ?
	    DSN_AT_EXPIRY : DSN_AT_RUN, e->error) != 0) {
		log_err("queue %s: notification not sent; kept",
		    log_word(name));
		temp += keep_unreported(e->rcpts, e->nrcpt);
		expired = 0;
	}
	if (temp > 0 && !expired) {
		e->next = (long long)now + backoff(e->attempts);
		if (entry_write(dfd, e, e->rcpts, e->nrcpt, m, name, renamed,
		    sizeof(renamed)) != 0)
			log_err("queue %s: not rewritten; delivered copies "
			    "will be tried again", log_word(name));
		else
			log_info("queue %s deferred attempts=%u delivered=%zu "
			    "pending=%zu", log_word(name), e->attempts, ok,
			    temp);
	} else {
		if (unlinkat(dfd, name, 0) != 0 || fsync(dfd) != 0)
			log_warn("queue %s: remove", log_word(name));
		else
			log_info("queue %s done attempts=%u%s", log_word(name),
			    e->attempts, expired && temp > 0 ? " expired" : "");
	}
}

/*
 * Try the entry name once, if it is due and no other runner holds it
 * and it belongs to owner.  Delivered recipients leave the entry; it is
 * rewritten with the rest or removed, and bounced when older than -A.
 */
static void
run_entry(int dfd, const char *name, uid_t owner)
{
	struct stat st;
	struct message m;
	struct entry e;
	size_t temp, ok;
	char id[MAX_LOGVAL];
	int fd;

	if ((fd = lock_entry(dfd, name, owner, &st)) < 0)
		return;
	if (entry_read(fd, &e) != 0) {
		log_err("queue %s: bad entry, left alone", log_word(name));
	} else if (conf.force || e.next <= (long long)time(NULL)) {
		memset(&m, 0, sizeof(m));
		m.fd = fd;
		m.offset = e.body;
		m.size = st.st_size - e.body;
		m.sender = e.sender;
		/* Escaped: the name goes into every log line of the copy. */
		m.id = log_esc(id, sizeof(id), name);
		m.has_from = e.has_from;
		m.dsn = &e.dsn;
		temp = try_rcpts(&m, &e, &ok);
		settle_entry(dfd, name, &e, &m, temp, ok);
	}
	free(e.rcpts);
	/* Closing drops the lock, after the entry was renamed or removed. */
	if (close(fd) != 0)
		log_warn("queue %s: close", log_word(name));
}

/* smtpd -q: run the queue once.  Exit status 0, or 1 if it cannot be read. */
int
q_run(void)
{
	char **names;
	size_t i, n;
	uid_t owner;
	int dfd;

	if ((dfd = q_open(0, 0, &owner)) < 0)
		return errno == ENOENT ? 0 : 1;
	if ((names = list_entries(dfd, &n, 1)) == NULL && n == 0) {
		q_close(dfd);
		return 0;
	}
	/* A stop waits until the entry being run is settled. */
	f_hold_stops(1);
	for (i = 0; i < n && !f_stopping(); i++)
		run_entry(dfd, names[i], owner);
	if (i < n)
		log_info("queue: stopping, %zu entries not run", n - i);
	free_names(names);
	q_close(dfd);
	f_hold_stops(0);
	return 0;
}

/* "3d4h", "12m", "40s": a short duration for -p. */
static void
duration(char *buf, size_t sz, long long s)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(buf, sz, "%lldd%lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, sz, "%lldh%lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, sz, "%lldm", s / 60);
	else
		snprintf(buf, sz, "%llds", s);
}

static void say(const char *, ...) PRINTFLIKE(1, 2);

/*
 * One line of the -p listing, through io.c's writer, which alone writes
 * to fd 1: a failed or stuck write is logged and ends smtpd with 1.
 */
static void
say(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		io_put(line, (size_t)n < sizeof(line) ? (size_t)n :
		    sizeof(line) - 1);
}

/* Print one entry of the -p listing: envelope line, recipients, error. */
static void
print_entry(int fd, const char *id, const struct stat *st, time_t now)
{
	char age[32], next[32], clean[MAX_PATH_LEN + 1];
	struct flock fl;
	struct entry e;
	size_t j;
	int held, due;

	if (entry_read(fd, &e) != 0) {
		say("%s  (unreadable entry)\n", id);
		return;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	held = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
	due = e.next <= (long long)now;
	duration(age, sizeof(age), (long long)now - e.arrival);
	duration(next, sizeof(next), e.next - (long long)now);
	sanitize(clean, sizeof(clean), e.sender, strlen(e.sender));
	say("%s  %lld bytes  age %s  attempts %u  %s%s  <%s>\n", id,
	    (long long)(st->st_size - e.body), age, e.attempts,
	    held ? "being tried" : due ? "due" : "next in ",
	    held || due ? "" : next, clean);
	for (j = 0; j < e.nrcpt; j++) {
		sanitize(clean, sizeof(clean), e.rcpts[j].addr,
		    strlen(e.rcpts[j].addr));
		say("\t<%s>\n", clean);
	}
	say("\t(%s)\n", e.error);
	free(e.rcpts);
}

/* smtpd -p: print the queue like mailq.  Exit status 0, or 1. */
int
q_print(void)
{
	char **names, id[128];
	struct stat st;
	size_t i, n = 0;
	time_t now = time(NULL);
	uid_t owner;
	int dfd, fd;

	/* Root may list any user's queue; it still opens only plain files. */
	if ((dfd = q_open(0, geteuid() == 0, &owner)) < 0) {
		if (errno != ENOENT)
			return 1;
	} else {
		names = list_entries(dfd, &n, 0);
		for (i = 0; i < n; i++) {
			sanitize(id, sizeof(id), names[i], strlen(names[i]));
			if ((fd = entry_open(dfd, names[i], O_RDONLY, owner,
			    &st)) >= 0) {
				print_entry(fd, id, &st, now);
				q_close(fd);
			} else if (errno != ENOENT)
				say("%s  (unreadable entry)\n", id);
		}
		free_names(names);
		q_close(dfd);
	}
	if (n == 0)
		say("Queue is empty\n");
	io_flush();
	return 0;
}
