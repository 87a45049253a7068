/*
 * The session's own parts, shared by session.c (the command table and the
 * verbs of the session itself), rcpt.c (RCPT, VRFY, EXPN), message.c
 * (DATA, BDAT and the hand-over to delivery) and reply.c (replies and the
 * session's log lines), which the others call.  Not for other files.
 */
#ifndef SESSION_H
#define SESSION_H

#include "reply.h"

/*
 * INIT: greeting sent; IDLE: after HELO/EHLO; MAIL: reverse-path set;
 * RCPT: >= 1 rcpt; BDAT: a chunk taken, the message goes on in BDAT only.
 */
enum state { ST_INIT = 1 << 0, ST_IDLE = 1 << 1, ST_MAIL = 1 << 2,
	ST_RCPT = 1 << 3, ST_BDAT = 1 << 4 };
#define ST_ANY	(ST_INIT | ST_IDLE | ST_MAIL | ST_RCPT | ST_BDAT)

enum mode { M_SMTP = 1 << 0, M_LMTP = 1 << 1 };

struct session {
	enum state	 state;
	int		 esmtp;			/* EHLO was used */
	unsigned int	 errors;		/* bad commands in a row */
	char		 helo[MAX_HOSTNAME + 1];	/* sanitised */
	char		 sender[MAX_PATH_LEN + 1];
	enum tx_kind	 kind;			/* MAIL, SEND, SOML or SAML */
	struct rcpt	*rcpts;
	size_t		 nrcpt, rcptcap;
	struct target	*targets;		/* of all rcpts, in order */
	size_t		 ntarget, targetcap;
	size_t		 dropped;		/* targets of this RCPT that did not fit */
	int		 nomem;			/* a target found no memory */
	char		 sessid[24];
	char		 msgid[32];
	unsigned int	 nmsg;
	unsigned int	 nrefused;		/* 4xx and 5xx replies */
	const char	*cmdline;		/* the command being answered */
	int		 spool;			/* -1 until the first DATA */
	int		 utf8;			/* RFC 6531: MAIL had SMTPUTF8 */
	struct dsn_mail	 dsn;			/* RFC 3461: MAIL's RET, ENVID */
	unsigned long long bdat_size;		/* octets of the chunks so far */
	struct tls_info	 tls;			/* proto "" while in clear */
};

/* reply.c */
const char	*reply_state_name(enum state);
void		 reply_log_end(struct session *, const char *);
void		 reply(struct session *, enum reply, const char *);
void		 reply_more(struct session *, enum reply, const char *);
void		 reply_bye421(struct session *, enum reply) NORETURN;

/* rcpt.c: handlers */
void		 cmd_rcpt(struct session *, char *);
void		 cmd_vrfy(struct session *, char *);
void		 cmd_expn(struct session *, char *);

/* message.c */
void		 msg_reset(struct session *);
void		 cmd_data(struct session *, char *);
void		 cmd_bdat(struct session *, char *);
void		 msg_bdat_skip(struct session *, char *);

#endif
