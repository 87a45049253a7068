/*
 * The configuration: the one global, with its defaults.  main() in smtpd.c
 * writes it during start-up; everything else only reads it.
 */
#include "smtpd.h"

struct config conf = {
	.maildir = "/var/mail",
	.maxsize = 10240000,
	.maxrcpt = 100,
	.timeout = 300,
	.datatime = 1800,
	.lockwait = 30,
	.agenttime = 300,
	.retry = 1800,
	.maxinterval = 14400,
	.maxage = 5 * 86400,
	.tlsfd = { -1, -1, -1 },
};
