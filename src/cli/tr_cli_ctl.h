
/*
 * Copyright (C) tokenroute authors
 *
 * The CLI's side of the control scripts (tr_cli_ctl.c): an operation run
 * in Redis with its parameters, its JSON document printed or parsed, its
 * error turned into a message and an exit status.  The rules and the
 * writes are in the scripts (src/lua/ctl_*.lua), which the admin API runs
 * too.
 */


#ifndef _TR_CLI_CTL_H_INCLUDED_
#define _TR_CLI_CTL_H_INCLUDED_


#include <stddef.h>

#include <hiredis/hiredis.h>
#include <yajl/yajl_tree.h>

#include "tr_cli_redis.h"


#define TR_CLI_CTL_MAX_PARAMS  32


/* a parameter of an operation: the option without "--", '-' as '_' */
typedef struct {
    const char                *name;
    const char                *value;
} tr_cli_ctl_param_t;


/* the parameters collected from the command line */
typedef struct {
    tr_cli_ctl_param_t         param[TR_CLI_CTL_MAX_PARAMS];
    size_t                     n;
} tr_cli_ctl_params_t;


void tr_cli_ctl_param(tr_cli_ctl_params_t *p, const char *name,
    const char *value);
int tr_cli_ctl_run(tr_cli_redis_t *r, const char *cmd, const char *script,
    size_t len, const char *op, tr_cli_ctl_params_t *p, redisReply **json);
int tr_cli_ctl_once(tr_cli_opts_t *opts, const char *cmd,
    const char *script, size_t len, const char *op, tr_cli_ctl_params_t *p,
    redisReply **json);
int tr_cli_ctl_print(redisReply *json);
int tr_cli_ctl_output(redisReply *json, int as_json, yajl_val *tree);
int tr_cli_ctl_print_raw(redisReply *json, const char *raw, size_t raw_len);
yajl_val tr_cli_ctl_tree(redisReply *json);
const char *tr_cli_ctl_string(yajl_val obj, const char *name);
int tr_cli_ctl_all(tr_cli_redis_t *r, const char *cmd, const char *script,
    size_t len, const char *op, tr_cli_ctl_params_t *p, const char *member,
    const char *by, char **out, size_t *out_len);


#endif /* _TR_CLI_CTL_H_INCLUDED_ */
