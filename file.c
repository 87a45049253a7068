/*
 * Files: the mail directory (a mailbox's path, whether one exists, the
 * unlinked spool) and the two loops every reader and writer of a file
 * uses, read at an offset and write all.  Calls addr.c and log.c only.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtpd.h"

/* DIR/user followed by suffix into buf (size sz); 0, or -1 if too long. */
int
f_mailbox(char *buf, size_t sz, const char *user, const char *suffix)
{
	int n = log_fmt(buf, sz, "%s/%s%s", conf.maildir, user, suffix);

	return n > 0 && (size_t)n < sz ? 0 : -1;
}

/*
 * Does user have a mailbox in -d?  Anything there counts, so that a
 * mailbox turned into a symlink, FIFO or device is refused at delivery
 * with a temporary error and a log line, not bounced as unknown.
 */
int
f_has_mailbox(const char *user)
{
	char path[4096];
	struct stat st;

	return addr_valid_user(user) &&
	    f_mailbox(path, sizeof(path), user, "") == 0 &&
	    lstat(path, &st) == 0;
}

/* Count mailboxes in -d starting with prefix (up to 2); the first to buf. */
size_t
f_match(const char *prefix, char *buf, size_t sz)
{
	struct dirent *de;
	DIR *d;
	size_t n = 0, len = strlen(prefix);

	if ((d = opendir(conf.maildir)) == NULL)
		return 0;
	while (n < 2 && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, len) != 0 ||
		    !f_has_mailbox(de->d_name))
			continue;
		if (n++ == 0)
			log_fmt(buf, sz, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

/* Open an unlinked spool file in the mail directory; -1 is logged. */
int
f_spool(void)
{
	char path[4096];
	int fd;

	if (f_mailbox(path, sizeof(path), ".smtpd-spool.", "XXXXXX") != 0)
		return -1;
	if ((fd = mkstemp(path)) < 0) {
		log_warn("spool %s", path);
		return -1;
	}
	if (unlink(path) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		log_warn("spool %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The one read-at-offset loop: up to n bytes of fd from off into buf,
 * across EINTR and short reads, leaving the fd's offset alone.  Returns
 * the bytes read, fewer than n only at the end of the file, or -1.
 */
ssize_t
f_pread(int fd, void *buf, size_t n, off_t off)
{
	char *p = buf;
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		if ((r = pread(fd, p + got, n - got, off + (off_t)got)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* The one write-all loop for files: all n bytes, across EINTR; 0 or -1. */
int
f_write(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}
