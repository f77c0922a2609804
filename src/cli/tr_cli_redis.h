
/*
 * Copyright (C) tokenroute authors
 *
 * The CLI's blocking Redis connection (tr_cli_redis.c): the address and
 * timeouts, commands and pipelines, failures turned into exit statuses.
 */


#ifndef _TR_CLI_REDIS_H_INCLUDED_
#define _TR_CLI_REDIS_H_INCLUDED_


#include <hiredis/hiredis.h>

#include "tr_cli.h"


#define TR_CLI_REDIS_DEFAULT       "127.0.0.1:6379"
#define TR_CLI_REDIS_PORT          6379

/* seconds */
#define TR_CLI_REDIS_CONNECT_TIMEOUT  2
#define TR_CLI_REDIS_COMMAND_TIMEOUT  5


typedef struct tr_cli_redis_s  tr_cli_redis_t;


int tr_cli_redis_connect(tr_cli_opts_t *opts, const char *cmd,
    tr_cli_redis_t **rp);
void tr_cli_redis_close(tr_cli_redis_t *r);
redisReply *tr_cli_redis_command(tr_cli_redis_t *r, int *rc,
    const char *fmt, ...);
redisReply *tr_cli_redis_argv(tr_cli_redis_t *r, int *rc, int argc,
    const char **argv);
redisReply *tr_cli_redis_call(tr_cli_redis_t *r, int *rc, int argc,
    const char **argv, const size_t *argvlen);
int tr_cli_redis_append(tr_cli_redis_t *r, int *rc, const char *fmt, ...);
redisReply *tr_cli_redis_reply(tr_cli_redis_t *r, int *rc);
int tr_cli_redis_usable(tr_cli_redis_t *r);
int tr_cli_redis_unexpected(tr_cli_redis_t *r, redisReply *reply,
    const char *what);


#endif /* _TR_CLI_REDIS_H_INCLUDED_ */
