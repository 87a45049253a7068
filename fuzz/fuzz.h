/*
 * Shared parts of the fuzz targets.  They link everything but smtpd.c
 * (main), built with -Dexit=fuzz_exit (see the Makefile): the session's
 * exit() and die() jump back into the target.  Log lines are formatted
 * but not sent: nothing here calls log_open(), so log.c has no socket.
 * Mail goes to a fresh temporary directory with an mbox user alice and a
 * Maildir user bob.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static jmp_buf	fuzz_jmp;
static int	fuzz_in_session;
static char	fuzz_dir[4096];

void
fuzz_exit(int code)
{
	(void)code;
	if (!fuzz_in_session)
		abort();	/* exit() outside a session */
	fuzz_in_session = 0;
	longjmp(fuzz_jmp, 1);
}

static void
fuzz_path(char *buf, size_t sz, const char *name)
{
	snprintf(buf, sz, "%s/%s", fuzz_dir, name);
}

/* Remove the files in DIR/name, which must exist. */
static void
fuzz_empty_dir(const char *name)
{
	char path[4200], f[4500];
	struct dirent *de;
	DIR *d;

	fuzz_path(path, sizeof(path), name);
	if ((d = opendir(path)) == NULL)
		abort();
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
			unlink(f);
		}
	closedir(d);
}

/* Empty the mailboxes after a run, so the directory stays small. */
static void
fuzz_reset_mail(void)
{
	char path[4200];
	int fd;

	fuzz_path(path, sizeof(path), "alice");
	if ((fd = open(path, O_WRONLY | O_TRUNC)) < 0)
		abort();
	close(fd);
	fuzz_path(path, sizeof(path), "postmaster");
	unlink(path);
	fuzz_empty_dir("bob/new");
	fuzz_empty_dir("bob/tmp");
}

/* Make the mail directory and point the configuration at it. */
static void
fuzz_setup_mail(void)
{
	static const char *dirs[] = { "bob", "bob/new", "bob/cur", "bob/tmp" };
	char path[4200];
	size_t i;
	int fd;

	const char *tmp = getenv("TMPDIR");

	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/fuzzmail.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		fuzz_path(path, sizeof(path), dirs[i]);
		if (mkdir(path, 0700) != 0)
			abort();
	}
	fuzz_path(path, sizeof(path), "alice");
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		abort();
	close(fd);
	conf.maildir = fuzz_dir;
	snprintf(conf.hostname, sizeof(conf.hostname), "mx.test.example");
	conf.timeout = 5;
	conf.datatime = 5;
	conf.lockwait = 1;
	conf.maxsize = 65536;
	conf.maxrcpt = 10;
	/* Subaddresses and our own address literal are in play. */
	conf.delim = "+-";
	snprintf(conf.local, sizeof(conf.local), "127.0.0.1");
}

/* An unlinked temporary file in the fuzz directory, open for reading and writing. */
static int
fuzz_tmpfile(void)
{
	char path[4200];
	int fd;

	fuzz_path(path, sizeof(path), ".io.XXXXXX");
	if ((fd = mkstemp(path)) < 0 || unlink(path) != 0)
		abort();
	return fd;
}
