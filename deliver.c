/*
 * Delivery of one copy, each by a forked child.  dlv_deliver() routes it
 * by verb (RFC 821: MAIL to the mailbox, SEND to the user's terminal,
 * SOML to the terminal or else the mailbox, SAML to both) and by target:
 * the mailbox, which is an mbox (mbox.c) or a Maildir (written here), or
 * the -m agent or -f forwarder, run with execve from its template (split
 * into words at start-up by dlv_template(); %s %r %u %% replaced inside
 * each word) under the -k time limit.  Once a stop signal waits (callers
 * hold them while copies are written), no further copy is begun.
 * Nothing here talks to the client; results go back as enum dlv_status.
 */
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smtpd.h"

static struct f_out	out;

/* Split an -m or -f command into words on blanks, once, at start-up. */
void
dlv_template(struct template *t, const char *cmd, int opt)
{
	char *copy, *w;

	if ((copy = strdup(cmd)) == NULL)
		die("out of memory");
	t->n = 0;
	for (w = strtok(copy, " \t"); w != NULL; w = strtok(NULL, " \t")) {
		if (t->n == MAX_WORDS)
			die("-%c: more than %d words", opt, MAX_WORDS);
		t->words[t->n++] = w;
	}
	t->words[t->n] = NULL;
	if (t->n == 0 || t->words[0][0] != '/')
		die("-%c: the program must be an absolute path", opt);
	if (access(t->words[0], X_OK) != 0)
		die_errno("-%c: %s", opt, log_word(t->words[0]));
}

/* Open the Maildir path's tmp/ and new/; 0, or -1 logged. */
static int
maildir_dirs(const char *path, int *td, int *nd)
{
	int md;

	if ((md = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0) {
		log_warn("maildir %s", log_word(path));
		return -1;
	}
	/* tmp/ and new/ may not be symlinks either: no writing through them. */
	*td = openat(md, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	*nd = openat(md, "new", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(md);
	if (*td >= 0 && *nd >= 0)
		return 0;
	log_err("maildir %s: tmp/ or new/ is not a directory",
	    log_word(path));
	if (*td >= 0)
		close(*td);
	if (*nd >= 0)
		close(*nd);
	return -1;
}

/* A name no other delivery has: time, pid, counter, host (tmp/ form). */
static void
maildir_name(char *tmp, size_t sz)
{
	static unsigned int counter;
	char host[MAX_HOSTNAME + 1];
	struct timeval tv;
	size_t i;

	memcpy(host, conf.hostname, sizeof(host));
	for (i = 0; host[i] != '\0'; i++)
		if (host[i] == '/' || host[i] == ':')
			host[i] = '_';
	gettimeofday(&tv, NULL);
	log_fmt(tmp, sz, "tmp/%lld.M%06ldP%ldQ%u.%s",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
	    ++counter, host);
}

/*
 * Write one copy into the Maildir DIR/user, named name in Delivered-To:
 * tmp/, fsync, link into new/.
 */
static int
deliver_maildir(const struct message *m, const char *user, const char *name,
    mode_t mode)
{
	char path[4096], tmp[512], new[512];
	int td, nd, rc = EX_TEMPFAIL;

	if (f_mailbox(path, sizeof(path), user, "") != 0 ||
	    maildir_dirs(path, &td, &nd) != 0)
		return EX_TEMPFAIL;
	maildir_name(tmp, sizeof(tmp));
	log_fmt(new, sizeof(new), "new/%s", tmp + 4);
	if ((out.fd = openat(td, tmp + 4, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, mode)) < 0) {
		log_warn("maildir %s/%s", log_word(path), log_word(tmp));
		close(td);
		close(nd);
		return EX_TEMPFAIL;
	}
	f_envelope(&out, m, name);
	if (f_copy(m, &out, 0) != 0)
		out.err = errno ? errno : EIO;
	f_flush(&out);
	if (out.err == 0 && fsync(out.fd) != 0)
		out.err = errno;
	if (close(out.fd) != 0 && out.err == 0)
		out.err = errno;
	if (out.err == 0 && linkat(td, tmp + 4, nd, new + 4, 0) != 0 &&
	    (errno == EEXIST || renameat(td, tmp + 4, nd, new + 4) != 0))
		out.err = errno;
	if (out.err == 0 && fsync(nd) != 0)
		out.err = errno;
	close(nd);
	if (out.err != 0) {
		errno = out.err;
		log_warn("maildir %s/%s", log_word(path), log_word(tmp));
	} else
		rc = 0;
	if (unlinkat(td, tmp + 4, 0) != 0 && errno != ENOENT) {
		log_warn("maildir %s/%s: unlink", log_word(path),
		    log_word(tmp));
		rc = EX_TEMPFAIL;
	}
	close(td);
	return rc;
}

/* The delivery child: choose the writer by what DIR/user is. */
static int
deliver_local(const struct message *m, const struct target *tg)
{
	char path[4096], name[2 * MAX_LOCAL + 2];
	const char *user = tg->user;
	struct stat st;
	struct trust t;

	addr_rcpt_name(name, sizeof(name), user, tg->addr);
	if (f_mailbox(path, sizeof(path), user, "") != 0)
		return EX_NOUSER;
	if (f_trust_init(&t, user) != 0)
		return EX_TEMPFAIL;
	if (lstat(path, &st) != 0)
		return strcmp(user, "postmaster") == 0 ?
		    mbox_deliver(m, user, name, &t) : f_exit_code(errno);
	if (!S_ISDIR(st.st_mode))
		return mbox_deliver(m, user, name, &t);
	if (!f_trusted(path, &st, &t))
		return EX_TEMPFAIL;
	return deliver_maildir(m, user, name, st.st_mode & 0660);
}

/*
 * Expand the template's words for one copy: %s sender, %r recipient,
 * %u user, %e the detail of a subaddress (-e), %% a percent sign, each
 * inside its word, so that a value never adds or splits a word.  Returns
 * 0, or -1 when the words do not fit.
 */
static int
expand_words(const struct template *t, const struct message *m,
    const struct target *tg, char *buf, size_t sz, char **argv)
{
	char detail[MAX_LOCAL + 1];
	size_t i, n = 0;

	if (tg->kind != T_LOCAL || addr_detail(tg->user, tg->addr, detail) == 0)
		detail[0] = '\0';

	for (i = 0; i < t->n; i++) {
		const char *p;

		argv[i] = buf + n;
		for (p = t->words[i]; *p != '\0'; p++) {
			const char *v = NULL;
			char c[2] = { *p, '\0' };
			size_t vl;

			if (*p == '%' && p[1] != '\0') {
				switch (p[1]) {
				case 's':	v = m->sender;	break;
				case 'r':	v = tg->addr;	break;
				case 'u':	v = tg->user;	break;
				case 'e':	v = detail;	break;
				case '%':	v = "%";	break;
				}
			}
			if (v != NULL)
				p++;
			else
				v = c;
			if ((vl = strlen(v)) + n + 1 >= sz)
				return -1;
			memcpy(buf + n, v, vl);
			n += vl;
		}
		buf[n++] = '\0';
	}
	argv[i] = NULL;
	return 0;
}

/*
 * Close every descriptor above 2, whatever the launcher left open: the
 * highest one is read from /dev/fd where the system has it, else every
 * number up to the limit (capped) is tried.
 */
static void
close_above_stderr(void)
{
	struct dirent *de;
	DIR *d;
	long max = -1;
	int fd;

	if ((d = opendir("/dev/fd")) != NULL) {
		while ((de = readdir(d)) != NULL) {
			long n = strtol(de->d_name, NULL, 10);

			if (n > max)
				max = n;
		}
		closedir(d);
	} else if ((max = sysconf(_SC_OPEN_MAX)) < 0 || max > 65536)
		max = 65536;
	for (fd = 3; fd <= max; fd++)
		(void)close(fd);	/* EBADF for most: nothing to undo */
}

/* The agent child: message on 0, the log pipe on 1 and 2, clean env. */
static void NORETURN
agent_child(const struct message *m, const struct target *tg, char **argv,
    int logfd)
{
	static char env_s[MAX_PATH_LEN + 8], env_r[MAX_PATH_LEN + 12],
	    env_u[MAX_LOCAL + 8], env_h[4096 + 8], env_e[MAX_LOCAL + 12];
	char *envp[7], detail[MAX_LOCAL + 1];
	struct passwd *pw;
	sigset_t none;
	size_t ne = 0;
	char msg[256];
	int n;

	envp[ne++] = "PATH=/usr/local/bin:/usr/bin:/bin";
	log_fmt(env_s, sizeof(env_s), "SENDER=%s", m->sender);
	envp[ne++] = env_s;
	log_fmt(env_r, sizeof(env_r), "RECIPIENT=%s", tg->addr);
	envp[ne++] = env_r;
	if (tg->kind == T_LOCAL) {
		log_fmt(env_u, sizeof(env_u), "USER=%s", tg->user);
		envp[ne++] = env_u;
		if ((pw = getpwnam(tg->user)) != NULL &&
		    strlen(pw->pw_dir) < 4096) {
			log_fmt(env_h, sizeof(env_h), "HOME=%s", pw->pw_dir);
			envp[ne++] = env_h;
		}
		if (addr_detail(tg->user, tg->addr, detail) != 0) {
			log_fmt(env_e, sizeof(env_e), "EXTENSION=%s", detail);
			envp[ne++] = env_e;
		}
	}
	envp[ne] = NULL;
	setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGXFSZ, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(m->fd, 0) < 0 || lseek(0, m->offset, SEEK_SET) != m->offset ||
	    dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
		_exit(EX_TEMPFAIL);
	close_above_stderr();
	execve(argv[0], argv, envp);
	n = log_fmt(msg, sizeof(msg), "cannot run %s: %s\n", argv[0],
	    strerror(errno));
	if (n > 0 && write(2, msg, (size_t)n) < 0)
		_exit(EX_TEMPFAIL);	/* nothing more to tell */
	_exit(EX_TEMPFAIL);
}

/*
 * Wait for a child, killing its process group after secs seconds (never,
 * if secs < 0); the first bytes it writes to the log pipe go to said.
 * Returns the wait status, or -1 when it had to be killed.
 */
static int
wait_child(pid_t pid, int logfd, int secs, char *said, size_t saidsz)
{
	struct timespec until, now;
	size_t have = 0;
	int status, open_ = logfd >= 0, killed = 0;
	pid_t w;

	said[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += secs;
	for (;;) {
		long ms;

		w = waitpid(pid, &status, secs < 0 || killed ? 0 : WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			log_warn("waitpid");
			return -1;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (long)(until.tv_sec - now.tv_sec) * 1000 +
		    (until.tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0 && !killed && secs >= 0) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			killed = 1;
			open_ = 0;
			continue;
		}
		if (open_) {
			struct pollfd pfd = { logfd, POLLIN, 0 };
			char buf[512];
			ssize_t n;

			/* Wake up at least every 50 ms to reap the child. */
			if (poll(&pfd, 1, ms < 50 ? (int)ms : 50) > 0) {
				if ((n = read(logfd, buf, sizeof(buf))) <= 0)
					open_ = n < 0 && errno == EINTR;
				else if (have + 1 < saidsz) {
					size_t k = (size_t)n;

					if (k > saidsz - 1 - have)
						k = saidsz - 1 - have;
					have += sanitize(said + have,
					    saidsz - have, buf, k);
				}
			}
		} else if (!killed)
			f_pause();
	}
	if (logfd >= 0)
		close(logfd);
	return killed ? -1 : status;
}

/*
 * Fork the child that writes one copy: the mailbox writer, or with t the
 * agent run with argv.  Returns its wait status, -1 after a time-out or
 * -2 when it could not be started; what an agent said goes to said.
 */
static int
run_child(const struct message *m, const struct target *tg,
    const struct template *t, char **argv, char *said, size_t saidsz)
{
	int pfd[2] = { -1, -1 };
	pid_t pid;

	if (t != NULL && pipe(pfd) != 0) {
		log_warn("pipe");
		return -2;
	}
	if ((pid = fork()) < 0) {
		log_warn("fork");
		if (pfd[0] >= 0) {
			close(pfd[0]);
			close(pfd[1]);
		}
		return -2;
	}
	if (pid == 0) {
		if (t == NULL)
			_exit(deliver_local(m, tg));
		close(pfd[0]);
		agent_child(m, tg, argv, pfd[1]);
	}
	if (pfd[1] >= 0)
		close(pfd[1]);
	/* The built-in writer bounds its own waits; agents get -k. */
	return wait_child(pid, pfd[0], t != NULL ? conf.agenttime : -1, said,
	    saidsz);
}

/*
 * Fork one delivery child for the target and wait for it.  Exit 0 is
 * delivered, EX_TEMPFAIL, a signal or a time-out temporary, anything else
 * permanent.
 */
static int
deliver_copy(const struct message *m, const struct target *tg)
{
	const struct template *t = tg->kind == T_REMOTE ? &conf.fwd :
	    conf.mda.n > 0 ? &conf.mda : NULL;
	char *argv[MAX_WORDS + 1], words[4096], said[256] = "";
	struct timespec t0, t1;
	long long ms;
	char addr[MAX_LOGVAL], user[MAX_LOGVAL], esaid[MAX_LOGVAL];
	int status, st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (t != NULL && expand_words(t, m, tg, words, sizeof(words),
	    argv) != 0) {
		log_err("msg=%s rcpt=<%s>: agent arguments too long", m->id,
		    log_esc(addr, sizeof(addr), tg->addr));
		return DLV_PERM;
	}
	if ((status = run_child(m, tg, t, argv, said, sizeof(said))) == -2)
		return DLV_TEMP;
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		st = DLV_OK;
	else if (status == -1 || WIFSIGNALED(status) ||
	    (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL))
		st = DLV_TEMP;
	else
		st = DLV_PERM;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (long long)(t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	log_info("msg=%s rcpt=<%s> %s=%s status=%s exit=%d delay=%lld.%03lld"
	    "%s%s",
	    m->id, log_esc(addr, sizeof(addr), tg->addr), t == NULL ?
	    "mailbox" : tg->kind == T_REMOTE ? "forwarder" : "mda",
	    log_esc(user, sizeof(user), t == NULL ? tg->user : t->words[0]),
	    st == DLV_OK ? "sent" : st == DLV_TEMP ? "deferred" : "bounced",
	    status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + WTERMSIG(status), ms / 1000, ms % 1000,
	    said[0] != '\0' ? " said=" : "",
	    log_esc(esaid, sizeof(esaid), said));
	return st;
}

/*
 * Write the text tty_format() laid out to user's terminal from a child,
 * which tty_send() keeps from blocking.  Returns 0 when it was written.
 */
static int
deliver_tty(const struct message *m, const struct target *tg)
{
	char said[8], addr[MAX_LOGVAL], user[MAX_LOGVAL];
	pid_t pid;
	int fd, status;

	if ((pid = fork()) < 0) {
		log_warn("fork");
		return -1;
	}
	if (pid == 0) {
		if ((fd = tty_open(tg->user)) < 0)
			_exit(EX_TEMPFAIL);
		_exit(tty_send(fd, m) == 0 ? 0 : EX_TEMPFAIL);
	}
	status = wait_child(pid, -1, -1, said, sizeof(said));
	status = status != -1 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0 ? 0 : -1;
	log_info("msg=%s rcpt=<%s> terminal=%s status=%s", m->id,
	    log_esc(addr, sizeof(addr), tg->addr),
	    log_esc(user, sizeof(user), tg->user),
	    status == 0 ? "sent" : "failed");
	return status;
}

/*
 * RFC 821 3.4: MAIL goes to the mailbox, SEND to the terminal only, SOML
 * to the terminal or else the mailbox, SAML to both; "mailbox" is the -m
 * agent if there is one.  A text cut at the terminal's limits is stored
 * whole as well.  Whatever is stored is stored first, so a retry after a
 * failed store shows nothing twice on the terminal.
 */
int
dlv_deliver(const struct message *m, const struct target *tg)
{
	char addr[MAX_LOGVAL];
	int cut, st;

	if (f_stopping()) {	/* asked to stop: start no other copy */
		log_info("msg=%s rcpt=<%s> status=deferred stopping", m->id,
		    log_esc(addr, sizeof(addr), tg->addr));
		return DLV_TEMP;
	}

	if (m->kind == TX_MAIL || tg->kind != T_LOCAL)
		return deliver_copy(m, tg);
	if ((cut = tty_format(m, m->kind != TX_SEND)) < 0)
		return m->kind == TX_SEND ? DLV_TEMP : deliver_copy(m, tg);
	if (m->kind == TX_SEND)		/* after 250 to RCPT: try again */
		return deliver_tty(m, tg) == 0 ? DLV_OK : DLV_TEMP;
	if (m->kind == TX_SOML && !cut)
		return deliver_tty(m, tg) == 0 ? DLV_OK : deliver_copy(m, tg);
	/* SAML, or SOML cut short: stored first, the terminal is extra. */
	if ((st = deliver_copy(m, tg)) == DLV_OK)
		(void)deliver_tty(m, tg);	/* it logs; the copy stands */
	return st;
}
