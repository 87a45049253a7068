/*
 * Shared structures, limits and prototypes of smtpd, grouped by file.
 *
 * Calls flow one way, down this picture: each file calls only those on
 * its right, which sit lower; nothing calls into smtpd.c, and log.c and
 * addr.c call nothing of ours.  conf.c holds conf, which main() writes at
 * start-up (through proxy.c for -P) and every file reads.
 * test/callgraph.sh checks this picture against the object files (nm -u
 * of each against nm --defined-only of the others) and that the graph has
 * no cycle.
 *
 *	smtpd.c		-> session proxy alias deliver queue addr log
 *	  session.c	-> rcpt message reply dsn addr io log
 *	    rcpt.c	-> reply alias dsn addr file tty log
 *	    message.c	-> reply data deliver queue file io log
 *	      reply.c	-> io log
 *	      data.c	-> addr file io log
 *	      alias.c	-> addr file log
 *	      queue.c	-> deliver dsn entry file io log
 *	        deliver.c	-> mbox tty file addr log
 *	        entry.c	-> addr file log
 *	        dsn.c	-> addr file log
 *	          mbox.c	-> file log
 *	          tty.c	-> file log
 *	            file.c	-> addr log
 *	            addr.c	-> -
 *	  proxy.c	-> io log
 *	io.c		-> log
 *	log.c		-> -
 *
 * session.h holds what session.c, rcpt.c, message.c and reply.c share.
 */
#ifndef SMTPD_H
#define SMTPD_H

#include <sys/types.h>
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define PRINTFLIKE(n, m)	__attribute__((format(printf, n, m)))
#define NORETURN		__attribute__((noreturn))
#else
#define PRINTFLIKE(n, m)
#define NORETURN
#endif

/* RFC 5321 4.5.3.1: limits, each counting the CRLF where there is one. */
#define MAX_CMDLINE	512
#define MAX_TEXTLINE	1000
#define MAX_LOCAL	64
#define MAX_DOMAIN	255
#define MAX_PATH_LEN	256
#define MAX_DOMAINS	32
#define MAX_BADCMDS	20	/* bad commands in a row before 421 */
#define MAX_RECEIVED	100	/* Received: headers before a loop is declared */
#define MAX_HOSTNAME	255
#define MAX_PEER	64
#define MAX_LOGVAL	1024	/* a log_esc() buffer: 4 bytes per escaped byte */
#define MAX_TARGETS	1000	/* delivery targets of one transaction, and -n */
#define MAX_ALIAS_DEPTH	10
#define MAX_ALIAS_NODES	10000	/* names and addresses one expansion meets */
#define MAX_WORDS	32	/* words of an -m or -f template */
#define MAX_FRONTS	32	/* -P addresses and prefixes */
#define MAX_PROXY_V1	107	/* a PROXY version 1 line with its CRLF */
#define MAX_PROXY_V2	4096	/* a PROXY version 2 header with its TLVs */
#define MAX_TLSINFO	128	/* "version cipher" of a TLS front */

/* A -P front: an address and how many leading bits of a peer must match. */
struct front {
	unsigned char	 addr[16];
	int		 v6;
	unsigned int	 bits;
};

/* RFC 3461 4: DSN parameters lengthen MAIL and RCPT lines. */
#define MAX_ENVID	100	/* ENVID's xtext */
#define MAX_ORCPT	500	/* ORCPT's addr-type ";" xtext */
#define MAX_MAILLINE	(MAX_CMDLINE + 128)
#define MAX_RCPTLINE	(MAX_CMDLINE + 544)

/* RFC 3461 4.1: NOTIFY, as bits; none given is 0, which means FAILURE. */
#define DSN_SUCCESS	1
#define DSN_FAILURE	2
#define DSN_DELAY	4
#define DSN_NEVER	8
#define DSN_DELAYED	16	/* not NOTIFY: the delay report was sent */

/* RFC 3461 4.3: RET; none given returns the headers. */
enum dsn_ret { RET_NONE, RET_HDRS, RET_FULL };

/* The DSN parameters of one MAIL and of one RCPT (RFC 3461 4). */
struct dsn_mail {
	enum dsn_ret	 ret;
	char		 envid[MAX_ENVID + 1];	/* decoded, "" if none */
};

struct dsn_rcpt {
	unsigned int	 notify;		/* DSN_* bits */
	char		 orcpt[MAX_ORCPT + 1];	/* "type;address", "" if none */
};

/* An -m or -f command, split into words once at start-up. */
struct template {
	char		*words[MAX_WORDS + 1];
	size_t		 n;		/* 0: not set */
};

/*
 * What a TLS front said of the connection (RFC 3848: ESMTPS), each word
 * cleaned by log_word(); proto is "" while the connection is in clear.
 */
#define MAX_TLSWORD	64
struct tls_info {
	char		 proto[MAX_TLSWORD];	/* SSL_PROTOCOL: TLSv1.3 */
	char		 cipher[MAX_TLSWORD];	/* SSL_CIPHER */
};

struct config {
	const char	*maildir;		/* -d */
	char		 hostname[MAX_HOSTNAME + 1];	/* -h */
	const char	*domains[MAX_DOMAINS];	/* -D */
	size_t		 ndomains;
	unsigned long	 maxsize;		/* -s */
	size_t		 maxrcpt;		/* -n */
	int		 timeout;		/* -t: idle limit of a read */
	int		 datatime;		/* -T: limit of one DATA phase */
	int		 lockwait;		/* -w: limit of a mailbox lock wait */
	int		 agenttime;		/* -k: limit of an MDA or forwarder */
	struct template	 mda;			/* -m */
	struct template	 fwd;			/* -f */
	int		 vrfy;			/* -V */
	int		 expn;			/* -E */
	int		 lmtp;			/* -L */
	const char	*utmp;			/* -U, NULL for the system's */
	char		 peer[MAX_PEER];	/* client address, "" if unknown */
	int		 peer6;			/* peer is an IPv6 address */
	char		 local[MAX_PEER];	/* address connected to, "" if unknown */
	int		 local6;		/* local is an IPv6 address */
	struct front	 fronts[MAX_FRONTS];	/* -P */
	size_t		 nfronts;
	char		 front[MAX_PEER];	/* -P: the balancer's address */
	char		 port[6];		/* -P: the client's port, "" if unknown */
	const char	*delim;			/* -e, NULL for none */
	const char	*queuedir;		/* -Q, NULL for DIR/.queue */
	long		 retry;			/* -R: first retry delay */
	long		 maxinterval;		/* -I: longest retry delay */
	long		 maxage;		/* -A: bounce after this age */
	int		 force;			/* -F: every entry is due now */
	int		 utf8tty;		/* -8: terminals show UTF-8 */
	int		 tlsneed;		/* -S: STARTTLS before MAIL */
	int		 tlsfd[3];		/* UCSPI-TLS control, read, write */
	struct tls_info	 tls;			/* implicit TLS: the front's */
};
extern struct config conf;		/* conf.c */

/* A parsed RFC 5321 path. */
struct path {
	char		 addr[MAX_PATH_LEN + 1];	/* mailbox, no route */
	char		 local[MAX_LOCAL + 1];		/* unquoted */
	char		 domain[MAX_DOMAIN + 1];	/* "" if none */
};

/*
 * Where one copy goes: a local mailbox (built-in writer or -m agent) or a
 * remote address handed to the -f forwarder.  One RCPT gives one target,
 * or several when an alias is a list.
 */
enum target_kind { T_LOCAL, T_REMOTE };

struct target {
	enum target_kind kind;
	char		 user[MAX_LOCAL + 1];	/* T_LOCAL: mailbox, lower case */
	char		 addr[MAX_PATH_LEN + 1];	/* %r: this copy's address */
	size_t		 dup;		/* 1 + index of the same earlier target */
	int		 looped;	/* a Delivered-To: header names it */
	int		 status;	/* enum dlv_status after delivery */
	struct dsn_rcpt	 dsn;		/* of the RCPT that named it */
};

/* One accepted RCPT and the targets it expanded to. */
struct rcpt {
	char		 addr[MAX_PATH_LEN + 1];	/* as given, no route */
	size_t		 first, count;
};

/* RFC 821 3.4: which verb began the transaction, so where text goes. */
enum tx_kind {
	TX_MAIL,	/* mailbox */
	TX_SEND,	/* terminal only */
	TX_SOML,	/* terminal, else mailbox */
	TX_SAML		/* mailbox, and terminal */
};

/* What delivery needs to know of one received message. */
struct message {
	int		 fd;		/* spool: Received: header + body, LF lines */
	off_t		 offset;	/* where the spool starts in fd */
	off_t		 size;		/* bytes in the spool from offset */
	const char	*sender;	/* "" for the null reverse-path */
	const char	*id;
	int		 has_from;	/* some line matches ^>*From  */
	enum tx_kind	 kind;
	const struct dsn_mail *dsn;	/* NULL: no RET or ENVID */
};

enum dlv_status { DLV_OK, DLV_TEMP, DLV_PERM };

/* Sticky DATA errors, in the order of precedence of their replies. */
enum data_error { E_NONE, E_LONGLINE, E_BARELF, E_TOOBIG, E_SPOOL };

/* What the DATA receiver found. */
struct data_result {
	enum data_error	 err;
	unsigned long	 size;		/* as -s counts it */
	off_t		 spooled;	/* bytes in the spool */
	unsigned int	 nreceived;	/* Received: header fields */
	int		 has_from;	/* some line matches ^>*From  */
};

enum io_result { IO_OK, IO_TOOLONG, IO_EOF, IO_TIMEOUT };

/* io.c */
void	 io_deadline(int);
enum io_result io_getline(char *, size_t, size_t *);
enum io_result io_peek(const unsigned char **, size_t *);
void	 io_consume(size_t);
void	 io_put(const char *, size_t);
void	 io_flush(void);
size_t	 io_discard(void);
enum io_result io_starttls(const int *, char *, size_t, size_t *);

/* log.c */
void	 log_info(const char *, ...) PRINTFLIKE(1, 2);
void	 log_err(const char *, ...) PRINTFLIKE(1, 2);
void	 log_warn(const char *, ...) PRINTFLIKE(1, 2);
void	 die(const char *, ...) PRINTFLIKE(1, 2) NORETURN;
void	 die_errno(const char *, ...) PRINTFLIKE(1, 2) NORETURN;
size_t	 sanitize(char *, size_t, const char *, size_t);
const char *log_esc(char *, size_t, const char *);
const char *log_word(const char *);
void	 log_token(char *, size_t, const char *, size_t);
void	 log_open(void);
int	 log_fmt(char *, size_t, const char *, ...) PRINTFLIKE(3, 4);
int	 log_vfmt(char *, size_t, const char *, va_list) PRINTFLIKE(3, 0);
struct tm;
const struct tm *log_tm(time_t);

/* proxy.c */
/* What a PROXY header says; with relayed 0, the connection's own addresses. */
struct proxy_hdr {
	size_t		 len;		/* bytes of the header, or needed */
	const char	*why;		/* PX_BAD: the reason */
	int		 relayed;	/* PROXY TCP4/TCP6: the fields are set */
	char		 src[MAX_PEER], dst[MAX_PEER];
	int		 src6, dst6;
	char		 sport[6], dport[6];
	char		 tls[MAX_TLSINFO];	/* "version cipher", "" if none */
};
enum proxy_result { PX_DONE, PX_MORE, PX_BAD };
enum proxy_result proxy_parse(const unsigned char *, size_t,
	    struct proxy_hdr *);
int	 proxy_fronts(const char *);
int	 proxy_trusted(const char *, int);
void	 proxy_start(void);

/* addr.c */
#define ADDR_RCPT	1	/* addr_path(): a forward-path */
#define ADDR_UTF8	2	/* addr_path(): RFC 6531 UTF-8 allowed */
#define ADDR_BARE	4	/* addr_path(): a mailbox without <> too */
int		 addr_8bit(const char *);
int		 addr_hex(int);
const char	*addr_domain(const char *);
char		*addr_path(char *, struct path *, int);
int		 addr_is_local(const char *);
void		 addr_lower(char *);
int		 addr_valid_user(const char *);
int		 addr_literal(const char *, unsigned char *);
const char	*addr_split(const char *);
int		 addr_detail(const char *, const char *, char *);
void		 addr_rcpt_name(char *, size_t, const char *, const char *);

/* session.c; the rest of the session is in session.h */
void	 sess_run(void) NORETURN;
void	 sess_refuse(void) NORETURN;

/* alias.c */
typedef void	 alias_add_fn(void *, enum target_kind, const char *,
		    const char *);
void	 alias_load(const char *);
enum alias_result {
	AL_EXPANDED,	/* an alias: its targets were added */
	AL_NONE,	/* no alias by that name */
	AL_TOODEEP,	/* nested deeper than MAX_ALIAS_DEPTH */
	AL_TOOBIG	/* meets more than MAX_ALIAS_NODES names */
};
enum alias_result alias_expand(const char *, alias_add_fn *, void *,
	    size_t *);
size_t	 alias_match(const char *, char *, size_t);

/* data.c */
int	 data_receive(int, const char *, const char *, struct target *,
	    size_t, struct data_result *);
void	 data_bdat_start(int, const char *, const char *, struct target *,
	    size_t);
int	 data_bdat_chunk(unsigned long long, int);
void	 data_bdat_end(struct data_result *);

/* deliver.c */
void	 dlv_template(struct template *, const char *, int);
int	 dlv_deliver(const struct message *, const struct target *);

/* entry.c */
#define Q_TMP		"tmp."		/* names being written */
/* One queue entry: the envelope of the file, and where the message starts. */
struct entry {
	char		 sender[MAX_PATH_LEN + 1];
	long long	 arrival;	/* first try, seconds since the epoch */
	long long	 next;		/* next try is due then */
	unsigned int	 attempts;
	int		 has_from;
	struct dsn_mail	 dsn;
	char		 error[256];	/* last temporary error */
	struct target	*rcpts;		/* status DLV_TEMP: still pending */
	size_t		 nrcpt;
	off_t		 body;		/* offset of the spooled message */
};
int	 entry_write(int, const struct entry *, const struct target *,
	    size_t, const struct message *, const char *, char *, size_t);
int	 entry_read(int, struct entry *);

/* queue.c */
int	 q_settle(const struct message *, struct target *, size_t);
void	 q_report(const struct message *, struct target *, size_t);
int	 q_run(void);
int	 q_print(void);

/* dsn.c */
/* When a report is made: what it may say of a pending copy. */
enum dsn_when {
	DSN_AT_DELIVERY,	/* all settled: only what was delivered */
	DSN_AT_SESSION,	/* first queued: nothing */
	DSN_AT_RUN,	/* failed again in a queue run: delayed */
	DSN_AT_EXPIRY	/* past -A: failed */
};
enum dsn_action { A_NONE, A_FAILED, A_DELAYED, A_DELIVERED };
void	 dsn_diag(char *, size_t, const struct target *);
void	 dsn_target(const char *, struct target *);
enum dsn_action dsn_action(const struct target *, enum dsn_when);
int	 dsn_mail_param(struct dsn_mail *, const char *, const char *, int *);
int	 dsn_rcpt_param(struct dsn_rcpt *, const char *, const char *, int,
	    int *);
int	 dsn_build(const struct message *, long long, const struct target *,
	    size_t, enum dsn_when, const char *, struct target *,
	    struct message *, char *, size_t);

/* sysexits codes of a delivery child */
#define EX_NOUSER	67
#define EX_CANTCREAT	73
#define EX_TEMPFAIL	75

/*
 * Buffered output to a mailbox file; err keeps the first errno.  With fd
 * -1 nothing is written and count adds up the bytes instead.
 */
struct f_out {
	int	 fd;
	int	 err;
	off_t	 count;
	size_t	 len;
	char	 buf[65536];
};

/* Who may own a mailbox or its lock: decided once per delivery. */
struct trust {
	int	 shared;	/* DIR is world-writable (and sticky) */
	uid_t	 rcpt;		/* the recipient's uid, or smtpd's */
};

/* file.c */
int	 f_mailbox(char *, size_t, const char *, const char *);
int	 f_has_mailbox(const char *);
size_t	 f_match(const char *, char *, size_t);
int	 f_spool(void);
ssize_t	 f_pread(int, void *, size_t, off_t);
int	 f_write(int, const void *, size_t);
void	 f_flush(struct f_out *);
void	 f_put(struct f_out *, const char *, size_t);
int	 f_copy(const struct message *, struct f_out *, int);
void	 f_envelope(struct f_out *, const struct message *, const char *);
int	 f_exit_code(int);
void	 f_pause(void);
int	 f_trusted_uid(const struct trust *, uid_t);
int	 f_trusted(const char *, const struct stat *, const struct trust *);
int	 f_trust_init(struct trust *, const char *);
void	 f_hold_stops(int);
int	 f_stopping(void);

/* mbox.c */
int	 mbox_deliver(const struct message *, const char *, const char *,
	    const struct trust *);

/* tty.c */
int	 tty_open(const char *);
int	 tty_active(const char *);
int	 tty_format(const struct message *, int);
int	 tty_send(int, const struct message *);

#endif
