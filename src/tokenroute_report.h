
/*
 * Copyright (C) tokenroute authors
 *
 * The usage report, shared by "tokenroute usage" and the admin API's
 * GET .../usage: the query (named string parameters), the Redis commands
 * that read it, the aggregation of their replies and the rendering as
 * JSON, a text table or CSV.  Plain C: no nginx dependency and no Redis
 * connection (only hiredis's redisReply type); the caller sends the
 * commands, blocking or not, and hands back the replies.
 *
 * The commands come in rounds (1 to 3): the usage buckets and the
 * existence checks of --account/--key/--tenant, then, with by=key, each
 * key's record (tr:keyid:<id>) and its name.  A round's replies may be
 * given in any order, each by the index of its command; the next round
 * starts once every reply of the current one was given.
 *
 *     rp = tokenroute_report_create();
 *     if (rp == NULL) { out of memory }
 *     if (tokenroute_report_param(rp, "since", "7d") != 0
 *         || tokenroute_report_param(rp, "by", "tenant") != 0
 *         || tokenroute_report_plan(rp, time(NULL)) != 0)
 *     {
 *         goto fail;                    (HTTP status/exit: see below)
 *     }
 *
 *     while ((n = tokenroute_report_ncmds(rp)) != 0) {
 *         for (i = 0; i < n; i++) {
 *             c = tokenroute_report_cmd(rp, i);
 *             send c->argc, c->argv, c->argvlen (redisAsyncCommandArgv,
 *             redisAppendCommandArgv), remembering i
 *         }
 *         for each reply, in any order:
 *             tokenroute_report_reply(rp, i, reply);   (reply may be freed
 *                                                        right after)
 *         if (tokenroute_report_next(rp) != 0) {
 *             goto fail;                (e.g. 404 no such account)
 *         }
 *     }
 *
 *     if (tokenroute_report_render(rp, &text, &len) != 0) { goto fail; }
 *     send or print text (len bytes, malloc()ed: free() it)
 *     tokenroute_report_destroy(rp);
 *
 * fail:
 *     status = tokenroute_report_status(rp);   400, 404 or 500
 *     message = tokenroute_report_error(rp);
 *     tokenroute_report_destroy(rp);
 *
 * A report allocates with malloc(): destroy it on every path (an nginx
 * caller from a pool cleanup handler).
 */


#ifndef _TOKENROUTE_REPORT_H_INCLUDED_
#define _TOKENROUTE_REPORT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>


/* tokenroute_report_status(): HTTP statuses; the CLI exits 2, 1, 1 */
#define TOKENROUTE_REPORT_BAD        400   /* a bad parameter */
#define TOKENROUTE_REPORT_NOT_FOUND  404   /* --account/--key/--tenant */
#define TOKENROUTE_REPORT_FAILED     500   /* Redis error, out of memory */

/* the most arguments of a command (HGET tr:key:<hash> name) */
#define TOKENROUTE_REPORT_ARGS       3

/* tokenroute_report_format() */
#define TOKENROUTE_REPORT_JSON       0
#define TOKENROUTE_REPORT_TABLE      1
#define TOKENROUTE_REPORT_CSV        2


typedef struct tokenroute_report_s  tokenroute_report_t;

typedef struct {
    int                      argc;
    const char              *argv[TOKENROUTE_REPORT_ARGS];
    size_t                   argvlen[TOKENROUTE_REPORT_ARGS];
} tokenroute_report_cmd_t;


/* NULL when out of memory */
tokenroute_report_t *tokenroute_report_create(void);
void tokenroute_report_destroy(tokenroute_report_t *rp);

/*
 * Sets a parameter of the query, by name: "since", "until" (a duration
 * back from now such as 7d, a date 2026-11-03 or a UTC time
 * 2026-11-03T10:00Z / 2026-11-03T10:00:00Z), "month" (2026-11), "by"
 * (model, key, account, tenant, day, hour), "account", "key", "tenant"
 * and "format" (json, the default, table, csv).  The value is copied.
 * Returns 0, or -1 (status 400) for an unknown name; values are checked
 * by tokenroute_report_plan().
 */
int tokenroute_report_param(tokenroute_report_t *rp, const char *name,
    const char *value);

/*
 * Checks the query against now (unix seconds), fixes the window and
 * makes the first round of commands.  0, or -1 (status 400 or 500).
 */
int tokenroute_report_plan(tokenroute_report_t *rp, int64_t now);

/* the commands of the current round: 0 when the report is complete */
size_t tokenroute_report_ncmds(tokenroute_report_t *rp);
const tokenroute_report_cmd_t *tokenroute_report_cmd(tokenroute_report_t *rp,
    size_t i);

/*
 * The reply of command i of the current round.  The report keeps nothing
 * of it: the caller frees it.  An error reply (WRONGTYPE...), a reply of
 * an unexpected type or a NULL reply (the connection failed) fails the
 * report (status 500); later calls are then ignored and
 * tokenroute_report_next() returns -1.  Returns 0 or -1.
 */
int tokenroute_report_reply(tokenroute_report_t *rp, size_t i,
    const redisReply *reply);

/*
 * Ends the current round once each of its replies was given: checks that
 * --account/--key/--tenant exist (status 404) and makes the next round's
 * commands, if any.  0, or -1.
 */
int tokenroute_report_next(tokenroute_report_t *rp);

/*
 * The report in its format, in a malloc()ed buffer, NUL terminated (not
 * counted in *len).  The table ends with a TOTAL row, JSON has "total",
 * CSV has a header line and no total.  0, or -1 (out of memory).
 */
int tokenroute_report_render(tokenroute_report_t *rp, char **text,
    size_t *len);

/* the format chosen, TOKENROUTE_REPORT_JSON... (valid after plan) */
int tokenroute_report_format(tokenroute_report_t *rp);

/* usage fields skipped as malformed (for a warning) */
size_t tokenroute_report_malformed(tokenroute_report_t *rp);

/* after a -1: TOKENROUTE_REPORT_BAD... and a one-line message */
int tokenroute_report_status(tokenroute_report_t *rp);
const char *tokenroute_report_error(tokenroute_report_t *rp);


#endif /* _TOKENROUTE_REPORT_H_INCLUDED_ */
