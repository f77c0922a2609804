
/*
 * Copyright (C) tokenroute authors
 *
 * API keys for the keys commands: a raw key generated (OpenSSL's CSPRNG)
 * with its hash, id and prefix, a raw key given on the command line
 * turned into its hash, and a key as src/lua/ctl_keys.lua describes it
 * (JSON) printed for humans.  The records and their rules are the
 * script's.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <hiredis/hiredis.h>
#include <yajl/yajl_tree.h>

#include <tokenroute_lua.h>
#include <tokenroute_secret.h>

#include "tr_cli.h"
#include "tr_cli_ctl.h"
#include "tr_cli_key.h"
#include "tr_cli_redis.h"
#include "tr_cli_util.h"


static void tr_cli_key_field(const char *label, const char *value);


/* a new raw key, its hash, id and prefix, made as the admin API makes them */

int
tr_cli_key_generate(tokenroute_secret_t *nk)
{
    if (tokenroute_secret_make(nk, TOKENROUTE_SECRET_KEY) != 0) {
        tr_cli_error("cannot generate a random key: %s",
                     ERR_error_string(ERR_get_error(), NULL));
        return TR_CLI_FAILED;
    }

    return TR_CLI_OK;
}


/* the settings given, as the parameters of ctl_keys.lua's create and update */

void
tr_cli_key_settings_params(tr_cli_key_settings_t *s, tr_cli_ctl_params_t *p)
{
    tr_cli_ctl_param(p, "name", s->name);
    tr_cli_ctl_param(p, "tenant", s->tenant);
    tr_cli_ctl_param(p, "limit", s->limit);
    tr_cli_ctl_param(p, "period", s->period);
    tr_cli_ctl_param(p, "models", s->models);
    tr_cli_ctl_param(p, "expires", s->expires);
    tr_cli_ctl_param(p, "rpm", s->rpm);
    tr_cli_ctl_param(p, "tpm", s->tpm);
    tr_cli_ctl_param(p, "max_concurrent", s->max_concurrent);
}


/*
 * The parameter naming a key: "key" for an id or a prefix, "key_hash"
 * for a raw key, which is hashed here and never sent.
 */

int
tr_cli_key_ref(tr_cli_ctl_params_t *p, const char *arg, char *hash)
{
    size_t  len;

    len = sizeof(TOKENROUTE_KEY_PREFIX) - 1;

    if (strlen(arg) > TR_CLI_KEY_SHOWN_LEN
        && strncmp(arg, TOKENROUTE_KEY_PREFIX, len) == 0)
    {
        if (tokenroute_sha256_hex(arg, strlen(arg), hash) != 0) {
            return TR_CLI_FAILED;
        }

        tr_cli_ctl_param(p, "key_hash", hash);
        return TR_CLI_OK;
    }

    tr_cli_ctl_param(p, "key", arg);

    return TR_CLI_OK;
}


/* a member of a key object as text: "" when null or absent */

const char *
tr_cli_key_text(yajl_val key, const char *name, char *buf, size_t size)
{
    yajl_val     v;
    const char  *path[2];

    path[0] = name;
    path[1] = NULL;

    v = yajl_tree_get(key, path, yajl_t_any);

    if (v == NULL || YAJL_IS_NULL(v)) {
        return "";
    }

    if (YAJL_IS_STRING(v)) {
        return YAJL_GET_STRING(v);
    }

    if (YAJL_IS_INTEGER(v)) {
        snprintf(buf, size, "%lld", (long long) YAJL_GET_INTEGER(v));
        return buf;
    }

    if (YAJL_IS_TRUE(v)) {
        return "true";
    }

    if (YAJL_IS_FALSE(v)) {
        return "false";
    }

    return "";
}


/* "$12.50", "-$0.25" from the script's "12.50", "-0.25"; dash for null */

const char *
tr_cli_key_usd(yajl_val key, const char *name, char *buf, size_t size,
    const char *none)
{
    const char  *v;

    v = tr_cli_key_text(key, name, buf, size);

    if (v[0] == '\0') {
        return none;
    }

    if (v[0] == '-') {
        snprintf(buf, size, "-$%s", v + 1);

    } else {
        snprintf(buf, size, "$%s", v);
    }

    return buf;
}


/* a time member in UTC, or zero when null */

const char *
tr_cli_key_time(yajl_val key, const char *name, char *buf, size_t size,
    const char *zero)
{
    int64_t      t;
    const char  *v;

    v = tr_cli_key_text(key, name, buf, size);

    if (v[0] == '\0' || tr_cli_parse_int64(v, strlen(v), &t) != 0
        || t == 0)
    {
        return zero;
    }

    if (tr_cli_format_time(t, buf, size) == 0) {
        snprintf(buf, size, "%lld", (long long) t);
    }

    return buf;
}


/* the models as a comma list, or all when the list is empty */

const char *
tr_cli_key_models(yajl_val key, char *buf, size_t size, const char *all)
{
    size_t       i, n, len;
    yajl_val     v;
    const char  *path[2], *m;

    path[0] = "models";
    path[1] = NULL;

    v = yajl_tree_get(key, path, yajl_t_array);

    if (v == NULL || YAJL_GET_ARRAY(v)->len == 0) {
        return all;
    }

    n = 0;
    buf[0] = '\0';

    for (i = 0; i < YAJL_GET_ARRAY(v)->len; i++) {
        m = YAJL_GET_STRING(YAJL_GET_ARRAY(v)->values[i]);
        if (m == NULL) {
            continue;
        }

        len = strlen(m);

        if (n + len + 2 > size) {
            break;
        }

        if (n > 0) {
            buf[n++] = ',';
        }

        memcpy(buf + n, m, len + 1);
        n += len;
    }

    return buf;
}


void
tr_cli_key_print(yajl_val key, int created)
{
    char         buf[TR_CLI_KEY_TEXT_LEN];
    const char  *v;

    tr_cli_key_field("id:", tr_cli_key_text(key, "id", buf, sizeof(buf)));
    tr_cli_key_field("name:",
                     tr_cli_key_text(key, "name", buf, sizeof(buf)));
    tr_cli_key_field("account:",
                     tr_cli_key_text(key, "account", buf, sizeof(buf)));

    v = tr_cli_key_text(key, "tenant", buf, sizeof(buf));
    if (v[0] != '\0') {
        tr_cli_key_field("tenant:", v);
    }

    if (!created) {
        tr_cli_key_field("prefix:",
                         tr_cli_key_text(key, "prefix", buf, sizeof(buf)));
    }

    tr_cli_key_field("limit:",
                     tr_cli_key_usd(key, "limit_usd", buf, sizeof(buf),
                                    "none"));

    v = tr_cli_key_text(key, "period", buf, sizeof(buf));
    if (v[0] != '\0') {
        tr_cli_key_field("period:", v);
    }

    if (!created) {
        tr_cli_key_field("spent:",
                         tr_cli_key_usd(key, "spent_usd", buf, sizeof(buf),
                                        "-"));

        if (tr_cli_key_text(key, "period", buf, sizeof(buf))[0] != '\0') {
            tr_cli_key_field("in period:",
                             tr_cli_key_usd(key, "period_spent_usd", buf,
                                            sizeof(buf), "-"));
        }

        tr_cli_key_field("reserved:",
                         tr_cli_key_usd(key, "reserved_usd", buf,
                                        sizeof(buf), "-"));
        tr_cli_key_field("remaining:",
                         tr_cli_key_usd(key, "remaining_usd", buf,
                                        sizeof(buf), "-"));
    }

    tr_cli_key_field("models:", tr_cli_key_models(key, buf, sizeof(buf),
                                                  "all"));

    v = tr_cli_key_text(key, "rpm", buf, sizeof(buf));
    if (v[0] != '\0') {
        tr_cli_key_field("rpm:", v);
    }

    v = tr_cli_key_text(key, "tpm", buf, sizeof(buf));
    if (v[0] != '\0') {
        tr_cli_key_field("tpm:", v);
    }

    v = tr_cli_key_text(key, "max_concurrent", buf, sizeof(buf));
    if (v[0] != '\0') {
        tr_cli_key_field("concurrent:", v);
    }

    tr_cli_key_field("expires:", tr_cli_key_time(key, "expires_at", buf,
                                                 sizeof(buf), "never"));

    if (created) {
        return;
    }

    tr_cli_key_field("created:", tr_cli_key_time(key, "created_at", buf,
                                                 sizeof(buf), "?"));

    if (strcmp(tr_cli_key_text(key, "revoked", buf, sizeof(buf)), "true")
        == 0)
    {
        tr_cli_key_field("revoked:", tr_cli_key_time(key, "revoked_at", buf,
                                                     sizeof(buf), "yes"));
    }

    tr_cli_key_field("status:",
                     tr_cli_key_text(key, "status", buf, sizeof(buf)));
}


static void
tr_cli_key_field(const char *label, const char *value)
{
    printf("%-10s %s\n", label, value);
}


/* the script's warnings, on stderr */

void
tr_cli_key_warnings(yajl_val doc)
{
    size_t       i;
    yajl_val     v;
    const char  *path[2], *w;

    path[0] = "warnings";
    path[1] = NULL;

    v = yajl_tree_get(doc, path, yajl_t_array);
    if (v == NULL) {
        return;
    }

    for (i = 0; i < YAJL_GET_ARRAY(v)->len; i++) {
        w = YAJL_GET_STRING(YAJL_GET_ARRAY(v)->values[i]);

        if (w != NULL) {
            fprintf(stderr, "tokenroute: warning: %s\n", w);
        }
    }
}


/* connects, runs an operation of src/lua/ctl_keys.lua, disconnects */

int
tr_cli_key_run(tr_cli_opts_t *opts, const char *cmd, const char *op,
    tr_cli_ctl_params_t *p, redisReply **doc)
{
    return tr_cli_ctl_once(opts, cmd, tokenroute_lua_ctl_keys,
                           tokenroute_lua_ctl_keys_len, op, p, doc);
}


/* a JSON tree written again, in its order (keys list joins its pages) */

void
tr_cli_key_json_tree(tr_cli_json_t *j, yajl_val v)
{
    size_t  i;

    if (YAJL_IS_OBJECT(v)) {
        tr_cli_json_map_open(j);

        for (i = 0; i < YAJL_GET_OBJECT(v)->len; i++) {
            tr_cli_json_str(j, YAJL_GET_OBJECT(v)->keys[i]);
            tr_cli_key_json_tree(j, YAJL_GET_OBJECT(v)->values[i]);
        }

        tr_cli_json_map_close(j);

    } else if (YAJL_IS_ARRAY(v)) {
        tr_cli_json_array_open(j);

        for (i = 0; i < YAJL_GET_ARRAY(v)->len; i++) {
            tr_cli_key_json_tree(j, YAJL_GET_ARRAY(v)->values[i]);
        }

        tr_cli_json_array_close(j);

    } else if (YAJL_IS_STRING(v)) {
        tr_cli_json_str(j, YAJL_GET_STRING(v));

    } else if (YAJL_IS_INTEGER(v)) {
        tr_cli_json_int(j, YAJL_GET_INTEGER(v));

    } else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        tr_cli_json_bool(j, YAJL_IS_TRUE(v));

    } else {
        tr_cli_json_null(j);
    }
}
