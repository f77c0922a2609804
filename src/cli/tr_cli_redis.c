
/*
 * Copyright (C) tokenroute authors
 *
 * The CLI's Redis connection: the address from options, environment or
 * a redis:// or redis-sentinel:// URL (read by tokenroute_redis_url.c, as
 * the module reads tokenroute_redis), the master asked of the sentinels,
 * connect, AUTH and SELECT, and commands whose failures become a message
 * and an exit status.
 */


#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "tr_cli.h"
#include "tr_cli_redis.h"
#include "tr_cli_util.h"
#include "tokenroute_redis_url.h"


struct tr_cli_redis_s {
    redisContext              *ctx;
    char                      *host;
    char                      *path;      /* unix socket, host is NULL */
    char                      *user;
    char                      *password;
    char                      *addr;      /* for messages, no password */
    int                        port;
    int64_t                    db;        /* -1: no SELECT */
    const char                *masters;   /* CIDR,...: where a master
                                             may be; NULL: anywhere */
    tokenroute_redis_url_t     url;       /* sentinels: url.master set */
};


static int tr_cli_redis_configure(tr_cli_redis_t *r, tr_cli_opts_t *opts,
    const char *cmd);
static int tr_cli_redis_parse_addr(tr_cli_redis_t *r, const char *cmd,
    const char *addr);
static int tr_cli_redis_parse_url(tr_cli_redis_t *r, const char *cmd,
    const char *url);
static int tr_cli_redis_parse_hostport(tr_cli_redis_t *r, const char *cmd,
    const char *s, size_t len);
static int tr_cli_redis_set_addr(tr_cli_redis_t *r, const char *host,
    int port);
static int tr_cli_redis_sentinels(tr_cli_redis_t *r);
static int tr_cli_redis_ask(tr_cli_redis_t *r, tokenroute_redis_host_t *s,
    const char *password);
static int tr_cli_redis_open(tr_cli_redis_t *r);
static int tr_cli_redis_setup(tr_cli_redis_t *r);
static int tr_cli_redis_role(tr_cli_redis_t *r);
static redisReply *tr_cli_redis_check(tr_cli_redis_t *r, int *rc,
    redisReply *reply);
static const char *tr_cli_getenv(const char *name);


int
tr_cli_redis_connect(tr_cli_opts_t *opts, const char *cmd,
    tr_cli_redis_t **rp)
{
    int              rc;
    tr_cli_redis_t  *r;

    *rp = NULL;

    r = calloc(1, sizeof(tr_cli_redis_t));
    if (r == NULL) {
        tr_cli_error("out of memory");
        return TR_CLI_FAILED;
    }

    r->db = -1;
    r->url.db = -1;

    rc = tr_cli_redis_configure(r, opts, cmd);
    if (rc != TR_CLI_OK) {
        tr_cli_redis_close(r);
        return rc;
    }

    /* with sentinels: each one's master in turn, until one is a master */

    rc = (r->url.master != NULL) ? tr_cli_redis_sentinels(r)
                                 : tr_cli_redis_open(r);

    if (rc != TR_CLI_OK) {
        tr_cli_redis_close(r);
        return rc;
    }

    *rp = r;

    return TR_CLI_OK;
}


/* connect, AUTH and SELECT: to r->path, or to r->host and r->port */

static int
tr_cli_redis_open(tr_cli_redis_t *r)
{
    struct timeval  tv;

    tv.tv_sec = TR_CLI_REDIS_CONNECT_TIMEOUT;
    tv.tv_usec = 0;

    if (r->path != NULL) {
        r->ctx = redisConnectUnixWithTimeout(r->path, tv);

    } else {
        r->ctx = redisConnectWithTimeout(r->host, r->port, tv);
    }

    if (r->ctx == NULL) {
        tr_cli_error("cannot connect to Redis at %s: out of memory", r->addr);
        return TR_CLI_FAILED;
    }

    /* a silent server must not hang the command forever either */
    tv.tv_sec = TR_CLI_REDIS_COMMAND_TIMEOUT;

    if (r->ctx->err != 0 || redisSetTimeout(r->ctx, tv) != REDIS_OK) {
        tr_cli_error("cannot connect to Redis at %s: %s", r->addr,
                     r->ctx->errstr[0] ? r->ctx->errstr : "unknown error");
        return TR_CLI_UNREACHABLE;
    }

    return tr_cli_redis_setup(r);
}


void
tr_cli_redis_close(tr_cli_redis_t *r)
{
    if (r == NULL) {
        return;
    }

    if (r->ctx != NULL) {
        redisFree(r->ctx);
    }

    free(r->host);
    free(r->path);
    free(r->user);
    free(r->password);
    free(r->addr);
    tokenroute_redis_url_free(&r->url);
    free(r);
}


/*
 * Explicit options win over the environment, and an explicit password or
 * database wins over the one in a redis:// URL.
 */

static int
tr_cli_redis_configure(tr_cli_redis_t *r, tr_cli_opts_t *opts,
    const char *cmd)
{
    const char  *addr, *password, *db;

    addr = opts->redis;

    if (addr == NULL) {
        addr = tr_cli_getenv("TOKENROUTE_REDIS");
    }

    if (addr == NULL) {
        addr = TR_CLI_REDIS_DEFAULT;
    }

    if (tr_cli_redis_parse_addr(r, cmd, addr) != 0) {
        return TR_CLI_USAGE;
    }

    password = opts->password;

    if (password == NULL) {
        password = tr_cli_getenv("TOKENROUTE_REDIS_PASSWORD");
    }

    if (password != NULL) {
        free(r->password);

        r->password = strdup(password);
        if (r->password == NULL) {
            tr_cli_error("out of memory");
            return TR_CLI_FAILED;
        }
    }

    r->masters = tr_cli_getenv("TOKENROUTE_REDIS_MASTERS");

    if (r->masters != NULL
        && tokenroute_redis_masters_valid(r->masters, strlen(r->masters))
           != 0)
    {
        return tr_cli_usage_error(cmd, "bad TOKENROUTE_REDIS_MASTERS '%s': "
                                  "expected CIDR[,CIDR...]", r->masters);
    }

    db = opts->db;

    if (db == NULL) {
        db = tr_cli_getenv("TOKENROUTE_REDIS_DB");
    }

    if (db != NULL) {
        if (tr_cli_parse_int64(db, strlen(db), &r->db) != 0
            || r->db > INT_MAX)
        {
            return tr_cli_usage_error(cmd, "bad Redis database number '%s'",
                                      db);
        }
    }

    return TR_CLI_OK;
}


static int
tr_cli_redis_parse_addr(tr_cli_redis_t *r, const char *cmd,
    const char *addr)
{
    size_t  len;

    if (strncmp(addr, "unix:", 5) == 0) {
        if (addr[5] == '\0') {
            tr_cli_usage_error(cmd, "bad Redis address '%s': no socket path",
                               addr);
            return -1;
        }

        r->path = strdup(addr + 5);
        r->addr = strdup(addr);

        if (r->path == NULL || r->addr == NULL) {
            tr_cli_error("out of memory");
            return -1;
        }

        return 0;
    }

    /* the address may carry a password: do not echo it */

    if (tokenroute_redis_is_url(addr, strlen(addr))
        || strstr(addr, "://") != NULL)
    {
        return tr_cli_redis_parse_url(r, cmd, addr);
    }

    len = strlen(addr);

    return tr_cli_redis_parse_hostport(r, cmd, addr, len);
}


/*
 * redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] and
 * redis-sentinel://[[USER]:PASSWORD@]HOST[:PORT],.../MASTER[/DB]: what
 * tokenroute_redis reads them as (tokenroute_redis_url.c).
 */

static int
tr_cli_redis_parse_url(tr_cli_redis_t *r, const char *cmd, const char *url)
{
    const char  *err;

    if (tokenroute_redis_url_parse(url, strlen(url), &r->url, &err) != 0) {
        tr_cli_usage_error(cmd, "bad Redis URL: %s", err);
        return -1;
    }

    if (r->url.user != NULL) {
        r->user = strdup(r->url.user);
    }

    if (r->url.password != NULL) {
        r->password = strdup(r->url.password);
    }

    if ((r->url.user != NULL && r->user == NULL)
        || (r->url.password != NULL && r->password == NULL))
    {
        tr_cli_error("out of memory");
        return -1;
    }

    r->db = r->url.db;

    if (r->url.master != NULL) {
        /* the master's address is asked of the sentinels at connect */
        return 0;
    }

    return tr_cli_redis_set_addr(r, r->url.hosts[0].host,
                                 r->url.hosts[0].port);
}


static int
tr_cli_redis_set_addr(tr_cli_redis_t *r, const char *host, int port)
{
    size_t  n;

    free(r->host);
    free(r->addr);

    r->port = port;
    r->host = strdup(host);

    n = strlen(host) + sizeof("[]:65535");
    r->addr = malloc(n);

    if (r->host == NULL || r->addr == NULL) {
        tr_cli_error("out of memory");
        return -1;
    }

    if (strchr(host, ':') != NULL) {
        snprintf(r->addr, n, "[%s]:%d", host, port);

    } else {
        snprintf(r->addr, n, "%s:%d", host, port);
    }

    return 0;
}


/*
 * Each sentinel is asked in turn for the master's address; the master is
 * then checked with ROLE (tr_cli_redis_role()) once connected, and when
 * it is no master, or cannot be reached, the next sentinel is asked.
 */

static int
tr_cli_redis_sentinels(tr_cli_redis_t *r)
{
    int          rc;
    size_t       i;
    const char  *password;

    password = tr_cli_getenv("TOKENROUTE_SENTINEL_PASSWORD");

    for (i = 0; i < r->url.nhosts; i++) {
        rc = tr_cli_redis_ask(r, &r->url.hosts[i], password);

        if (rc == TR_CLI_OK) {
            rc = tr_cli_redis_open(r);

            if (rc == TR_CLI_OK) {
                rc = tr_cli_redis_role(r);
            }

            if (rc == TR_CLI_OK) {
                return rc;
            }

            /* demoted, or gone: the next sentinel may know better */

            if (r->ctx != NULL) {
                redisFree(r->ctx);
                r->ctx = NULL;
            }
        }

        if (rc != TR_CLI_UNREACHABLE) {
            return rc;
        }
    }

    tr_cli_error("no sentinel named the Redis master '%s'", r->url.master);

    return TR_CLI_UNREACHABLE;
}


/* TR_CLI_OK with the master's address, or TR_CLI_UNREACHABLE */

static int
tr_cli_redis_ask(tr_cli_redis_t *r, tokenroute_redis_host_t *s,
    const char *password)
{
    int              rc, check, port;
    redisReply      *reply, *h, *p;
    const char      *err;
    redisContext    *ctx;
    struct timeval   tv;

    tv.tv_sec = TR_CLI_REDIS_CONNECT_TIMEOUT;
    tv.tv_usec = 0;

    ctx = redisConnectWithTimeout(s->host, s->port, tv);

    if (ctx == NULL || ctx->err != 0 || redisSetTimeout(ctx, tv) != REDIS_OK)
    {
        tr_cli_error("sentinel %s:%d: %s", s->host, s->port,
                     ctx && ctx->errstr[0] ? ctx->errstr : "cannot connect");
        if (ctx != NULL) {
            redisFree(ctx);
        }

        return TR_CLI_UNREACHABLE;
    }

    if (password != NULL) {
        reply = redisCommand(ctx, "AUTH %s", password);

        if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
            tr_cli_error("sentinel %s:%d refused AUTH: %s", s->host, s->port,
                         reply ? reply->str : ctx->errstr);
        }

        if (reply != NULL) {
            freeReplyObject(reply);
        }
    }

    reply = redisCommand(ctx, "SENTINEL get-master-addr-by-name %s",
                         r->url.master);

    rc = TR_CLI_UNREACHABLE;

    if (reply == NULL) {
        tr_cli_error("sentinel %s:%d: %s", s->host, s->port, ctx->errstr);

    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
               && reply->element[0]->type == REDIS_REPLY_STRING
               && reply->element[1]->type == REDIS_REPLY_STRING)
    {
        h = reply->element[0];
        p = reply->element[1];

        /* refused before anything connects to it, or is sent AUTH */

        check = tokenroute_redis_master_check(h->str, h->len, p->str, p->len,
                                              r->masters,
                                              r->masters ? strlen(r->masters)
                                                         : 0,
                                              &port, &err);
        if (check != 0) {
            tr_cli_error("sentinel %s:%d named '%.*s' port '%.*s' as master "
                         "'%s': %s, refused", s->host, s->port,
                         (int) (h->len < 64 ? h->len : 64), h->str,
                         (int) (p->len < 8 ? p->len : 8), p->str,
                         r->url.master,
                         check == -2 ? "outside TOKENROUTE_REDIS_MASTERS"
                                     : err);

        } else {
            rc = tr_cli_redis_set_addr(r, h->str, port) == 0
                 ? TR_CLI_OK : TR_CLI_FAILED;
        }

    } else {
        tr_cli_error("sentinel %s:%d does not know the master '%s'%s%s",
                     s->host, s->port, r->url.master,
                     reply->type == REDIS_REPLY_ERROR ? ": " : "",
                     reply->type == REDIS_REPLY_ERROR ? reply->str : "");
    }

    if (reply != NULL) {
        freeReplyObject(reply);
    }

    redisFree(ctx);

    return rc;
}


static int
tr_cli_redis_parse_hostport(tr_cli_redis_t *r, const char *cmd,
    const char *s, size_t len)
{
    int                      rc;
    size_t                   shown;
    tokenroute_redis_host_t  h;

    /* the rules of tokenroute_redis's HOST:PORT, read by the same code */

    if (tokenroute_redis_hostport(s, len, TR_CLI_REDIS_PORT, &h) != 0) {
        if (h.port == -1) {
            tr_cli_error("out of memory");

        } else {
            /* what precedes an '@' may be a password: not echoed */
            shown = tokenroute_redis_shown(s, len);

            tr_cli_usage_error(cmd, "bad Redis address '%s%.*s': expected "
                               "HOST:PORT, unix:PATH or a redis:// URL",
                               shown ? "***@" : "", (int) (len - shown),
                               s + shown);
        }

        return -1;
    }

    rc = tr_cli_redis_set_addr(r, h.host, h.port);

    free(h.host);

    return rc;
}


static int
tr_cli_redis_setup(tr_cli_redis_t *r)
{
    int          rc;
    redisReply  *reply;

    if (r->password != NULL && r->password[0] != '\0') {
        if (r->user != NULL) {
            reply = tr_cli_redis_command(r, &rc, "AUTH %s %s", r->user,
                                         r->password);

        } else {
            reply = tr_cli_redis_command(r, &rc, "AUTH %s", r->password);
        }

        if (reply == NULL) {
            return rc;
        }

        if (reply->type != REDIS_REPLY_STATUS) {
            return tr_cli_redis_unexpected(r, reply, "AUTH");
        }

        freeReplyObject(reply);
    }

    if (r->db >= 0) {
        reply = tr_cli_redis_command(r, &rc, "SELECT %lld",
                                     (long long) r->db);
        if (reply == NULL) {
            return rc;
        }

        if (reply->type != REDIS_REPLY_STATUS) {
            return tr_cli_redis_unexpected(r, reply, "SELECT");
        }

        freeReplyObject(reply);
    }

    return TR_CLI_OK;
}


/* what the sentinels named may have been demoted since */

static int
tr_cli_redis_role(tr_cli_redis_t *r)
{
    int          rc;
    redisReply  *reply;

    reply = tr_cli_redis_command(r, &rc, "ROLE");
    if (reply == NULL) {
        return rc;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING
        || strcmp(reply->element[0]->str, "master") != 0)
    {
        tr_cli_error("Redis at %s, named master '%s' by the sentinels, is "
                     "not a master", r->addr, r->url.master);
        freeReplyObject(reply);
        return TR_CLI_UNREACHABLE;
    }

    freeReplyObject(reply);

    return TR_CLI_OK;
}


redisReply *
tr_cli_redis_command(tr_cli_redis_t *r, int *rc, const char *fmt, ...)
{
    va_list      args;
    redisReply  *reply;

    va_start(args, fmt);
    reply = redisvCommand(r->ctx, fmt, args);
    va_end(args);

    return tr_cli_redis_check(r, rc, reply);
}


redisReply *
tr_cli_redis_argv(tr_cli_redis_t *r, int *rc, int argc, const char **argv)
{
    redisReply  *reply;

    reply = redisCommandArgv(r->ctx, argc, argv, NULL);

    return tr_cli_redis_check(r, rc, reply);
}


/* as tr_cli_redis_argv(), but an error reply is the caller's to read */

redisReply *
tr_cli_redis_call(tr_cli_redis_t *r, int *rc, int argc, const char **argv,
    const size_t *argvlen)
{
    redisReply  *reply;

    reply = redisCommandArgv(r->ctx, argc, argv, argvlen);

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        *rc = TR_CLI_OK;
        return reply;
    }

    return tr_cli_redis_check(r, rc, reply);
}


int
tr_cli_redis_append(tr_cli_redis_t *r, int *rc, const char *fmt, ...)
{
    int      n;
    va_list  args;

    va_start(args, fmt);
    n = redisvAppendCommand(r->ctx, fmt, args);
    va_end(args);

    if (n != REDIS_OK) {
        tr_cli_error("out of memory");
        *rc = TR_CLI_FAILED;
        return -1;
    }

    return 0;
}


redisReply *
tr_cli_redis_reply(tr_cli_redis_t *r, int *rc)
{
    void  *reply;

    if (redisGetReply(r->ctx, &reply) != REDIS_OK) {
        reply = NULL;
    }

    return tr_cli_redis_check(r, rc, reply);
}


/* an error reply leaves the connection usable, an I/O error does not */

int
tr_cli_redis_usable(tr_cli_redis_t *r)
{
    return r->ctx->err == 0;
}


/*
 * Turns a failed call or an error reply into a message and an exit status:
 * an I/O failure means Redis went away, anything else is a failed operation.
 */

static redisReply *
tr_cli_redis_check(tr_cli_redis_t *r, int *rc, redisReply *reply)
{
    if (reply == NULL) {
        /* hiredis reports a read timeout as the EAGAIN of the socket */
        if (r->ctx->err == REDIS_ERR_IO
            && strcmp(r->ctx->errstr, strerror(EAGAIN)) == 0)
        {
            tr_cli_error("lost connection to Redis at %s: no reply within "
                         "%d seconds", r->addr, TR_CLI_REDIS_COMMAND_TIMEOUT);
            *rc = TR_CLI_UNREACHABLE;

        } else if (r->ctx->err == REDIS_ERR_IO
                   || r->ctx->err == REDIS_ERR_EOF)
        {
            tr_cli_error("lost connection to Redis at %s: %s", r->addr,
                         r->ctx->errstr);
            *rc = TR_CLI_UNREACHABLE;

        } else {
            tr_cli_error("Redis at %s: %s", r->addr,
                         r->ctx->errstr[0] ? r->ctx->errstr : "out of memory");
            *rc = TR_CLI_FAILED;
        }

        return NULL;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        tr_cli_error("Redis error: %.*s", (int) reply->len, reply->str);
        freeReplyObject(reply);
        *rc = TR_CLI_FAILED;
        return NULL;
    }

    *rc = TR_CLI_OK;

    return reply;
}


/* frees the reply */

int
tr_cli_redis_unexpected(tr_cli_redis_t *r, redisReply *reply,
    const char *what)
{
    tr_cli_error("unexpected reply type %d to %s from Redis at %s",
                 reply->type, what, r->addr);
    freeReplyObject(reply);

    return TR_CLI_FAILED;
}


static const char *
tr_cli_getenv(const char *name)
{
    const char  *value;

    value = getenv(name);

    if (value == NULL || value[0] == '\0') {
        return NULL;
    }

    return value;
}
