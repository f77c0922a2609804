
/*
 * Copyright (C) tokenroute authors
 *
 * API keys (tr_cli_key.c): the raw key and id formats, a key generated,
 * a raw key hashed, a key of src/lua/ctl_keys.lua printed.
 */


#ifndef _TR_CLI_KEY_H_INCLUDED_
#define _TR_CLI_KEY_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include <yajl/yajl_tree.h>

#include <tokenroute_key.h>
#include <tokenroute_secret.h>

#include "tr_cli.h"
#include "tr_cli_ctl.h"
#include "tr_cli_util.h"


/* the part of a raw key kept in the record for humans */
#define TR_CLI_KEY_SHOWN_LEN      12

#define TR_CLI_SHA256_HEX_LEN     64

/* tr_cli_key_edit(): not a command of tr_cli_key_edit.c */
#define TR_CLI_KEY_NO_COMMAND     -3

/* room for one field of a key as text: a name, a time, a model list */
#define TR_CLI_KEY_TEXT_LEN       4608


/* the settings of a key that keys create and keys update take */
typedef struct {
    const char                *name;
    const char                *tenant;
    const char                *limit;
    const char                *period;
    const char                *models;
    const char                *expires;
    const char                *rpm;
    const char                *tpm;
    const char                *max_concurrent;
} tr_cli_key_settings_t;

/* their options, for a command's tr_cli_opt_t spec */
#define TR_CLI_KEY_SETTINGS_OPTIONS(s)                                       \
    { "--name", &(s).name, NULL },                                           \
    { "--tenant", &(s).tenant, NULL },                                       \
    { "--limit", &(s).limit, NULL },                                         \
    { "--period", &(s).period, NULL },                                       \
    { "--models", &(s).models, NULL },                                       \
    { "--expires", &(s).expires, NULL },                                     \
    { "--rpm", &(s).rpm, NULL },                                             \
    { "--tpm", &(s).tpm, NULL },                                             \
    { "--max-concurrent", &(s).max_concurrent, NULL }


int tr_cli_key_generate(tokenroute_secret_t *nk);
void tr_cli_key_settings_params(tr_cli_key_settings_t *s,
    tr_cli_ctl_params_t *p);
int tr_cli_key_ref(tr_cli_ctl_params_t *p, const char *arg, char *hash);
const char *tr_cli_key_text(yajl_val key, const char *name, char *buf,
    size_t size);
const char *tr_cli_key_usd(yajl_val key, const char *name, char *buf,
    size_t size, const char *none);
const char *tr_cli_key_time(yajl_val key, const char *name, char *buf,
    size_t size, const char *zero);
const char *tr_cli_key_models(yajl_val key, char *buf, size_t size,
    const char *all);
void tr_cli_key_print(yajl_val key, int created);
void tr_cli_key_warnings(yajl_val doc);
int tr_cli_key_run(tr_cli_opts_t *opts, const char *cmd, const char *op,
    tr_cli_ctl_params_t *p, redisReply **doc);
void tr_cli_key_json_tree(tr_cli_json_t *j, yajl_val v);
int tr_cli_key_edit(tr_cli_opts_t *opts, const char *cmd, int argc,
    char **argv);
int tr_cli_keys_reindex(tr_cli_opts_t *opts, int argc, char **argv);


#endif /* _TR_CLI_KEY_H_INCLUDED_ */
