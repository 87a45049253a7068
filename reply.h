/*
 * Every reply smtpd can send: code, RFC 3463 enhanced code and text.
 * The text holds at most one "%s", filled in by reply() with a sanitised
 * argument; table texts never reach printf.  Tests check codes, so a change
 * of wording touches this file only.
 */
#ifndef REPLY_H
#define REPLY_H

enum reply {
	R_GREETING,	/* 220, no enhanced code (RFC 2034) */
	R_HELO,		/* 250, no enhanced code */
	R_EHLO,		/* first EHLO line, no enhanced code */
	R_BYE,
	R_SENDER_OK,
	R_RCPT_OK,
	R_RESET,
	R_NOOP,
	R_DATA,
	R_ACCEPTED,
	R_HELP,
	R_HELP_END,
	R_VRFY_CANNOT,
	R_VRFY_OK,
	R_VRFY_AMBIG,
	R_EXPN_DISABLED,
	R_EXPN_ITEM,
	R_TURN,
	R_FORWARD,
	R_NOTLOCAL,
	R_UNKNOWN,
	R_TOOLONG,
	R_BADSEQ,
	R_SYNTAX,
	R_NOARGS,
	R_BADSENDER,
	R_BADRCPT,
	R_BADPARAM,
	R_BADBODY,
	R_SIZE_FIELD,
	R_SIZE_EXCEEDED,
	R_NORELAY,
	R_NOUSER,
	R_TOOMANYRCPT,
	R_NOTACTIVE,
	R_MSG_TOOBIG,
	R_MSG_LONGLINE,
	R_MSG_BARELF,
	R_LOOP,
	R_NOVALIDRCPT,
	R_TEMPFAIL,
	R_PERMFAIL,
	R_PARTIAL,
	R_QUEUED,
	R_NOSPACE,
	R_LOCALERR,
	R_TIMEOUT,
	R_TOOMANYERRS,
	R_SHUTDOWN,
	R_NOPRIV,
	R_COUNT
};

static const struct reply_text {
	short		 code;	/* SMTP reply code */
	const char	*esc;	/* RFC 3463 enhanced code, "" if none */
	const char	*text;	/* at most one "%s", filled in by reply() */
} replies[R_COUNT] = {
	[R_GREETING]	  = { 220, "",      "%s ESMTP smtpd ready" },
	[R_HELO]	  = { 250, "",      "%s" },
	[R_EHLO]	  = { 250, "",      "%s" },
	[R_BYE]		  = { 221, "2.0.0", "%s closing connection" },
	[R_SENDER_OK]	  = { 250, "2.1.0", "Sender OK" },
	[R_RCPT_OK]	  = { 250, "2.1.5", "Recipient OK" },
	[R_RESET]	  = { 250, "2.0.0", "Reset" },
	[R_NOOP]	  = { 250, "2.0.0", "OK" },
	[R_DATA]	  = { 354, "",      "End data with <CR><LF>.<CR><LF>" },
	[R_ACCEPTED]	  = { 250, "2.0.0", "Message accepted as %s" },
	[R_HELP]	  = { 214, "2.0.0", "%s" },
	[R_HELP_END]	  = { 214, "2.0.0", "End of HELP" },
	[R_VRFY_CANNOT]	  = { 252, "2.5.0", "Cannot VRFY user, but will accept message" },
	[R_VRFY_OK]	  = { 250, "2.1.5", "%s" },
	[R_VRFY_AMBIG]	  = { 553, "5.1.4", "User ambiguous: %s" },
	[R_EXPN_DISABLED] = { 502, "5.5.1", "EXPN not available" },
	[R_EXPN_ITEM]	  = { 250, "2.1.5", "%s" },
	[R_TURN]	  = { 502, "5.5.1", "TURN not implemented" },
	[R_FORWARD]	  = { 251, "2.1.5", "User not local; will forward to %s" },
	[R_NOTLOCAL]	  = { 551, "5.1.6", "User not local; please try %s" },
	[R_UNKNOWN]	  = { 500, "5.5.2", "Command unrecognized" },
	[R_TOOLONG]	  = { 500, "5.5.2", "Line too long" },
	[R_BADSEQ]	  = { 503, "5.5.1", "Bad sequence of commands" },
	[R_SYNTAX]	  = { 501, "5.5.4", "Syntax error in parameters or arguments" },
	[R_NOARGS]	  = { 501, "5.5.4", "No arguments allowed" },
	[R_BADSENDER]	  = { 501, "5.1.7", "Bad sender address syntax" },
	[R_BADRCPT]	  = { 501, "5.1.3", "Bad recipient address syntax" },
	[R_BADPARAM]	  = { 555, "5.5.4", "Unsupported parameter %s" },
	[R_BADBODY]	  = { 501, "5.5.4", "BODY must be 7BIT or 8BITMIME" },
	[R_SIZE_FIELD]	  = { 501, "5.5.4", "Bad SIZE value" },
	[R_SIZE_EXCEEDED] = { 552, "5.3.4", "Message size exceeds fixed limit" },
	[R_NORELAY]	  = { 550, "5.7.1", "Relaying denied" },
	[R_NOUSER]	  = { 550, "5.1.1", "No such user here" },
	[R_TOOMANYRCPT]	  = { 452, "4.5.3", "Too many recipients" },
	[R_NOTACTIVE]	  = { 450, "4.2.1", "User not active or not accepting messages" },
	[R_MSG_TOOBIG]	  = { 552, "5.3.4", "Message size exceeds fixed limit" },
	[R_MSG_LONGLINE]  = { 500, "5.5.2", "Message has a line over 1000 octets" },
	[R_MSG_BARELF]	  = { 550, "5.6.0", "Message contains bare <LF>; lines must end in <CR><LF>" },
	[R_LOOP]	  = { 554, "5.4.6", "Mail loop detected" },
	[R_NOVALIDRCPT]	  = { 554, "5.5.1", "No valid recipients" },
	[R_TEMPFAIL]	  = { 451, "4.3.0", "Delivery failed temporarily; try again later" },
	[R_PERMFAIL]	  = { 554, "5.3.0", "Delivery failed permanently" },
	[R_PARTIAL]	  = { 451, "4.3.0", "Some copies failed; try again later" },
	[R_QUEUED]	  = { 250, "2.0.0", "Message accepted as %s, some copies queued" },
	[R_NOSPACE]	  = { 452, "4.3.1", "Insufficient system storage" },
	[R_LOCALERR]	  = { 451, "4.3.0", "Local error in processing" },
	[R_TIMEOUT]	  = { 421, "4.4.2", "%s timeout; closing connection" },
	[R_TOOMANYERRS]	  = { 421, "4.7.0", "%s too many errors; closing connection" },
	[R_SHUTDOWN]	  = { 421, "4.3.0", "%s service not available" },
	[R_NOPRIV]	  = { 421, "4.3.0", "%s refusing to run as root without -u" },
};

#endif
