/*
 * Logging: formatted lines to syslog (LOG_MAIL, opened by main), die(),
 * and the two escapers every peer string passes before it reaches a
 * reply, a log line or a header.  Calls nothing of ours.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "smtpd.h"

static void vlog(int, const char *, va_list) PRINTFLIKE(2, 0);

static void
vlog(int prio, const char *fmt, va_list ap)
{
	char msg[1024];
	int saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	syslog(prio, "%s", msg);
	/* Callers read errno after logging it; musl's syslog() changes it. */
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
}

/* Log at LOG_ERR with ": " and strerror(errno) appended. */
void
log_warn(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("%s: %s", msg, strerror(saved));
}

void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}

/*
 * Copy at most n bytes of src into dst (of size dstsz, always terminated),
 * replacing anything outside printable ASCII with '?'.  Every peer string
 * passes here before it reaches a reply, a log line or a header.
 */
size_t
sanitize(char *dst, size_t dstsz, const char *src, size_t n)
{
	size_t i;

	if (dstsz == 0)
		return 0;
	for (i = 0; i < n && i + 1 < dstsz && src[i] != '\0'; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[i] = '\0';
	return i;
}

/*
 * Copy s into dst (of size dstsz, always terminated) as one word of a
 * key=value log line: bytes outside printable ASCII, and the blank, '"'
 * and '\\' become \\xHH, so a client can neither end a field nor forge
 * one.  A value that does not fit is cut at a whole byte.  Returns dst.
 */
const char *
log_esc(char *dst, size_t dstsz, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c > 0x20 && c < 0x7f && c != '"' && c != '\\') {
			if (n + 1 >= dstsz)
				break;
			dst[n++] = (char)c;
		} else {
			if (n + 4 >= dstsz)
				break;
			dst[n++] = '\\';
			dst[n++] = 'x';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 0xf];
		}
	}
	if (dstsz > 0)
		dst[n] = '\0';
	return dst;
}
