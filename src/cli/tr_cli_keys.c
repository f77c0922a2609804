
/*
 * Copyright (C) tokenroute authors
 *
 * "tokenroute keys create", "keys list", "keys show" and "keys revoke":
 * their options and output; the records are tr_cli_key.c's.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <openssl/crypto.h>

#include <tokenroute_money.h>
#include <tokenroute_schema.h>

#include "tr_cli.h"
#include "tr_cli_account.h"
#include "tr_cli_key.h"
#include "tr_cli_redis.h"
#include "tr_cli_util.h"


#define TR_CLI_NAME_MAX          128

/* the columns of "keys list" */
#define TR_CLI_KEYS_COLS         10

/* a fresh random id or hash colliding is astronomically unlikely */
#define TR_CLI_CREATE_TRIES      3


static int tr_cli_keys_create(tr_cli_opts_t *opts, int argc, char **argv);
static int tr_cli_keys_list(tr_cli_opts_t *opts, int argc, char **argv);
static int tr_cli_keys_show(tr_cli_opts_t *opts, int argc, char **argv);
static int tr_cli_keys_revoke(tr_cli_opts_t *opts, int argc, char **argv);
static int tr_cli_keys_check_name(const char *name);
static int tr_cli_keys_check_models(const char *models);


static const char  tr_cli_keys_usage[] =
    "usage: tokenroute [GLOBAL OPTIONS] keys <command> [ARGS]\n"
    "\n"
    "Commands:\n"
    "  create   create an API key; the raw key is shown only once\n"
    "  list     list API keys with their spend, oldest first\n"
    "  show     show one API key\n"
    "  revoke   revoke an API key\n"
    "\n"
    "Run 'tokenroute keys <command> --help' for the options of a command\n"
    "and 'tokenroute --help' for the global options and the exit status.\n";


static const char  tr_cli_keys_create_usage[] =
    "usage: tokenroute keys create --name NAME [--account ACCOUNT]\n"
    "           [--limit USD] [--models MODEL,...] [--expires DURATION]\n"
    "           [--json]\n"
    "\n"
    "Create an API key and print it.  Only a SHA-256 hash of the key is\n"
    "stored, so the raw key is shown this once and cannot be recovered.\n"
    "\n"
    "Options:\n"
    "  --name NAME          a label for the key (required; 1-128 bytes of\n"
    "                       UTF-8 without control characters)\n"
    "  --account ACCOUNT    the account the key belongs to and spends the\n"
    "                       credit of (default \"default\"; 1-128 letters,\n"
    "                       digits, . _ : @ -); it is listed by 'credit\n"
    "                       show' from now on\n"
    "  --limit USD          spend ceiling of the key in USD: 5, 0.25 or\n"
    "                       $12.50, at most 9 decimals (default: none)\n"
    "  --models MODEL,...   comma-separated model ids the key may use, no\n"
    "                       spaces (default: all models)\n"
    "  --expires DURATION   lifetime: a positive number followed by s, m,\n"
    "                       h, d or w (90m, 12h, 30d, 2w; at most 100\n"
    "                       years), or 0 or never (the default)\n"
    "  --json               print one JSON object on one line:\n"
    "                       raw, id, name, account, prefix, models,\n"
    "                       limit_usd, expires_at, created_at\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_keys_list_usage[] =
    "usage: tokenroute keys list [--account ACCOUNT] [--json]\n"
    "\n"
    "List API keys, oldest first.  Raw keys are never shown; PREFIX is the\n"
    "first 12 characters of a key.  MODELS '*' means all models, LIMIT '-'\n"
    "means no limit, SPENT is the cost charged to the key so far, REMAINING\n"
    "is LIMIT - SPENT - what requests in flight have reserved ('-' without\n"
    "a limit), EXPIRES is in UTC and STATUS is active, revoked or expired.\n"
    "\n"
    "Options:\n"
    "  --account ACCOUNT    only the keys of this account\n"
    "  --json               print a JSON array of objects with id, name,\n"
    "                       account, prefix, models, limit_usd, expires_at,\n"
    "                       created_at, spent_usd, reserved_usd,\n"
    "                       remaining_usd (null without a limit),\n"
    "                       spent_nusd, reserved_nusd, remaining_nusd\n"
    "                       (nano-USD integers), revoked and status\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_keys_show_usage[] =
    "usage: tokenroute keys show ID [--json]\n"
    "\n"
    "Show the API key with this id (key_...), with what it has spent,\n"
    "what requests in flight have reserved and what remains of its limit.\n"
    "Exits with 1 if there is none.\n"
    "\n"
    "Options:\n"
    "  --json               print one JSON object, as 'keys list --json'\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


static const char  tr_cli_keys_revoke_usage[] =
    "usage: tokenroute keys revoke ID\n"
    "\n"
    "Revoke the API key with this id (key_...): the gateway rejects it from\n"
    "now on.  Revoking a revoked key changes nothing and succeeds.  Exits\n"
    "with 1 if there is no such key.\n"
    "\n"
    "Options:\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


int
tr_cli_keys(tr_cli_opts_t *opts, int argc, char **argv)
{
    int          rc;
    const char  *cmd;

    rc = tr_cli_subcommand(opts, "keys", tr_cli_keys_usage, &argc, &argv,
                           &cmd);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    if (strcmp(cmd, "create") == 0) {
        return tr_cli_keys_create(opts, argc, argv);
    }

    if (strcmp(cmd, "list") == 0) {
        return tr_cli_keys_list(opts, argc, argv);
    }

    if (strcmp(cmd, "show") == 0) {
        return tr_cli_keys_show(opts, argc, argv);
    }

    if (strcmp(cmd, "revoke") == 0) {
        return tr_cli_keys_revoke(opts, argc, argv);
    }

    return tr_cli_usage_error("keys", "unknown keys command '%s'", cmd);
}


static int
tr_cli_keys_create(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                rc, json, try;
    int64_t            now, expires;
    const char        *name, *account, *limit, *models, *ttl;
    tr_cli_key_t       key;
    tr_cli_json_t     *j;
    tr_cli_redis_t    *r;
    tr_cli_new_key_t   nk;

    tr_cli_opt_t  spec[] = {
        { "--name", &name, NULL },
        { "--account", &account, NULL },
        { "--limit", &limit, NULL },
        { "--models", &models, NULL },
        { "--expires", &ttl, NULL },
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    name = NULL;
    account = TR_CLI_ACCOUNT_DEFAULT;
    limit = NULL;
    models = NULL;
    ttl = NULL;
    json = 0;

    rc = tr_cli_args(opts, "keys create", tr_cli_keys_create_usage, spec,
                     argc, argv, NULL, NULL);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    if (name == NULL) {
        return tr_cli_usage_error("keys create", "--name is required");
    }

    if (tr_cli_keys_check_name(name) != 0
        || tr_cli_account_check("keys create", account) != 0
        || (models != NULL && tr_cli_keys_check_models(models) != 0))
    {
        return TR_CLI_USAGE;
    }

    memset(&key, 0, sizeof(tr_cli_key_t));

    key.name = name;
    key.account = account;
    key.models = (models != NULL) ? models : "";
    key.limit = -1;

    if (limit != NULL
        && tokenroute_money_parse_usd(limit, strlen(limit), &key.limit) != 0)
    {
        return tr_cli_usage_error("keys create", "bad --limit '%s': expected "
                                  "a USD amount like 5, 0.25 or $12.50 with "
                                  "at most 9 decimals", limit);
    }

    expires = 0;

    if (ttl != NULL && tr_cli_parse_duration(ttl, &expires) != 0) {
        return tr_cli_usage_error("keys create", "bad --expires '%s': "
                                  "expected a number followed by s, m, h, d "
                                  "or w (e.g. 30d), or 0 or never", ttl);
    }

    rc = tr_cli_redis_connect(opts, "keys create", &r);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    now = (int64_t) time(NULL);

    key.created_at = now;
    key.expires_at = (expires != 0) ? now + expires : 0;

    for (try = 0; try < TR_CLI_CREATE_TRIES; try++) {
        rc = tr_cli_key_generate(&nk);
        if (rc != TR_CLI_OK) {
            break;
        }

        key.id = nk.id;
        key.prefix = nk.prefix;

        rc = tr_cli_key_store(r, &nk, &key);
        if (rc != TR_CLI_RETRY) {
            break;
        }
    }

    tr_cli_redis_close(r);

    if (rc == TR_CLI_RETRY) {
        tr_cli_error("cannot create a key: the generated ids were all taken");
        rc = TR_CLI_FAILED;
    }

    if (rc != TR_CLI_OK) {
        OPENSSL_cleanse(&nk, sizeof(tr_cli_new_key_t));
        return rc;
    }

    if (json) {
        j = tr_cli_json_create();
        if (j == NULL) {
            OPENSSL_cleanse(&nk, sizeof(tr_cli_new_key_t));
            return TR_CLI_FAILED;
        }

        tr_cli_json_map_open(j);
        tr_cli_json_str(j, "raw");
        tr_cli_json_str(j, nk.raw);
        tr_cli_key_json_fields(j, &key);
        tr_cli_json_map_close(j);

        if (tr_cli_json_print(j, stdout) != 0) {
            rc = TR_CLI_FAILED;
        }

        tr_cli_json_destroy(j);

    } else {
        printf("%s\n", nk.raw);
        printf("This key is shown only once: store it now, it cannot be "
               "recovered.\n\n");
        tr_cli_key_print(&key, now, 1);
    }

    OPENSSL_cleanse(&nk, sizeof(tr_cli_new_key_t));

    return rc;
}


static int
tr_cli_keys_list(tr_cli_opts_t *opts, int argc, char **argv)
{
    int               rc, json;
    char              limit[TOKENROUTE_MONEY_BUF_LEN + 1];
    char              spent[TOKENROUTE_MONEY_BUF_LEN + 1];
    char              remaining[TOKENROUTE_MONEY_BUF_LEN + 1];
    char              expires[TR_CLI_TIME_LEN];
    char              why[128];
    size_t            i, n, nkeys;
    int64_t           now;
    const char       *account, *row[TR_CLI_KEYS_COLS];
    redisReply       *ids, *reply, **hashes, **records;
    tr_cli_key_t     *keys, *key;
    tr_cli_json_t    *j;
    tr_cli_redis_t   *r;
    tr_cli_table_t   *t;

    static const char  *header[] = {
        "ID", "NAME", "ACCOUNT", "PREFIX", "MODELS", "LIMIT", "SPENT",
        "REMAINING", "EXPIRES", "STATUS"
    };

    tr_cli_opt_t  spec[] = {
        { "--account", &account, NULL },
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    account = NULL;
    json = 0;

    rc = tr_cli_args(opts, "keys list", tr_cli_keys_list_usage, spec, argc,
                     argv, NULL, NULL);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    rc = tr_cli_redis_connect(opts, "keys list", &r);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    n = 0;
    hashes = NULL;
    records = NULL;
    keys = NULL;
    j = NULL;
    t = NULL;

    ids = tr_cli_redis_command(r, &rc, "ZRANGE " TOKENROUTE_REDIS_KEYS " 0 -1");
    if (ids == NULL) {
        goto done;
    }

    if (ids->type != REDIS_REPLY_ARRAY) {
        rc = tr_cli_redis_unexpected(r, ids, "ZRANGE " TOKENROUTE_REDIS_KEYS);
        ids = NULL;
        goto done;
    }

    n = ids->elements;

    hashes = calloc(n + 1, sizeof(redisReply *));
    records = calloc(n + 1, sizeof(redisReply *));
    keys = calloc(n + 1, sizeof(tr_cli_key_t));

    if (hashes == NULL || records == NULL || keys == NULL) {
        tr_cli_error("out of memory");
        rc = TR_CLI_FAILED;
        goto done;
    }

    /* two pipelined rounds: every id to its hash, every hash to its record */

    for (i = 0; i < n; i++) {
        if (ids->element[i]->type != REDIS_REPLY_STRING) {
            tr_cli_error("unexpected reply type %d in ZRANGE "
                         TOKENROUTE_REDIS_KEYS,
                         ids->element[i]->type);
            rc = TR_CLI_FAILED;
            goto done;
        }

        if (tr_cli_redis_append(r, &rc, "GET " TOKENROUTE_REDIS_KEYID "%b",
                                ids->element[i]->str,
                                ids->element[i]->len)
            != 0)
        {
            goto done;
        }
    }

    /*
     * A damaged entry (a wrong type, say) costs its key a warning, not the
     * whole list; an I/O error ends it.
     */

    for (i = 0; i < n; i++) {
        reply = tr_cli_redis_reply(r, &rc);
        if (reply == NULL) {
            if (!tr_cli_redis_usable(r)) {
                goto done;
            }

            fprintf(stderr, "tokenroute: warning: key %s skipped\n",
                    ids->element[i]->str);
            rc = TR_CLI_OK;
            continue;
        }

        if (reply->type == REDIS_REPLY_NIL) {
            fprintf(stderr, "tokenroute: warning: key %s is listed in "
                    TOKENROUTE_REDIS_KEYS " but has no " TOKENROUTE_REDIS_KEYID
                    " entry, skipped\n",
                    ids->element[i]->str);
            freeReplyObject(reply);
            continue;
        }

        if (reply->type != REDIS_REPLY_STRING) {
            rc = tr_cli_redis_unexpected(r, reply,
                                         "GET " TOKENROUTE_REDIS_KEYID);
            goto done;
        }

        if (!tr_cli_key_is_hash(reply->str, reply->len)) {
            fprintf(stderr, "tokenroute: warning: key %s has a malformed "
                    TOKENROUTE_REDIS_KEYID " entry, skipped\n",
                    ids->element[i]->str);
            freeReplyObject(reply);
            continue;
        }

        hashes[i] = reply;

        if (tr_cli_redis_append(r, &rc, "HGETALL " TOKENROUTE_REDIS_KEY "%s",
                                reply->str)
            != 0)
        {
            goto done;
        }
    }

    for (i = 0; i < n; i++) {
        if (hashes[i] == NULL) {
            continue;
        }

        records[i] = tr_cli_redis_reply(r, &rc);
        if (records[i] == NULL) {
            if (!tr_cli_redis_usable(r)) {
                goto done;
            }

            fprintf(stderr, "tokenroute: warning: key %s skipped\n",
                    ids->element[i]->str);
            rc = TR_CLI_OK;
            continue;
        }

        if (records[i]->type != REDIS_REPLY_ARRAY) {
            rc = tr_cli_redis_unexpected(r, records[i],
                                         "HGETALL " TOKENROUTE_REDIS_KEY);
            records[i] = NULL;
            goto done;
        }
    }

    nkeys = 0;
    now = (int64_t) time(NULL);

    for (i = 0; i < n; i++) {
        if (records[i] == NULL) {
            continue;
        }

        key = &keys[nkeys];

        if (records[i]->elements == 0) {
            snprintf(why, sizeof(why), "no " TOKENROUTE_REDIS_KEY " record");

        } else if (tr_cli_key_parse(records[i], key, why, sizeof(why)) == 0) {
            if (strcmp(key->id, ids->element[i]->str) == 0) {
                if (account == NULL || strcmp(key->account, account) == 0) {
                    nkeys++;
                }

                continue;
            }

            snprintf(why, sizeof(why), "its record has another id");
        }

        fprintf(stderr, "tokenroute: warning: key %s: %s, skipped\n",
                ids->element[i]->str, why);
    }

    if (json) {
        j = tr_cli_json_create();
        if (j == NULL) {
            rc = TR_CLI_FAILED;
            goto done;
        }

        tr_cli_json_array_open(j);

        for (i = 0; i < nkeys; i++) {
            tr_cli_json_map_open(j);
            tr_cli_key_json_fields(j, &keys[i]);
            tr_cli_key_json_spend(j, &keys[i]);
            tr_cli_key_json_state(j, &keys[i], now);
            tr_cli_json_map_close(j);
        }

        tr_cli_json_array_close(j);

        if (tr_cli_json_print(j, stdout) != 0) {
            rc = TR_CLI_FAILED;
        }

        goto done;
    }

    t = tr_cli_table_create(TR_CLI_KEYS_COLS, header);
    if (t == NULL) {
        rc = TR_CLI_FAILED;
        goto done;
    }

    for (i = 0; i < nkeys; i++) {
        key = &keys[i];

        row[0] = key->id;
        row[1] = key->name;
        row[2] = key->account;
        row[3] = key->prefix;
        row[4] = (key->models[0] != '\0') ? key->models : "*";
        row[5] = tr_cli_key_limit(key, limit, sizeof(limit), "-");
        row[6] = tr_cli_key_usd(key->spent, spent, sizeof(spent));
        row[7] = (key->limit >= 0)
                 ? tr_cli_key_usd(tr_cli_key_remaining(key), remaining,
                                  sizeof(remaining))
                 : "-";
        row[8] = tr_cli_key_time(key->expires_at, expires, sizeof(expires),
                                 "never");
        row[9] = tr_cli_key_status(key, now);

        if (tr_cli_table_add(t, row) != 0) {
            rc = TR_CLI_FAILED;
            goto done;
        }
    }

    if (tr_cli_table_print(t, stdout) != 0) {
        rc = TR_CLI_FAILED;
    }

done:

    for (i = 0; i < n; i++) {
        if (hashes != NULL && hashes[i] != NULL) {
            freeReplyObject(hashes[i]);
        }

        if (records != NULL && records[i] != NULL) {
            freeReplyObject(records[i]);
        }
    }

    if (ids != NULL) {
        freeReplyObject(ids);
    }

    free(hashes);
    free(records);
    free(keys);
    tr_cli_json_destroy(j);
    tr_cli_table_destroy(t);
    tr_cli_redis_close(r);

    return rc;
}


static int
tr_cli_keys_show(tr_cli_opts_t *opts, int argc, char **argv)
{
    int              rc, json;
    char             hash[TR_CLI_SHA256_HEX_LEN + 1], why[128];
    int64_t          now;
    const char      *id;
    redisReply      *reply;
    tr_cli_key_t     key;
    tr_cli_json_t   *j;
    tr_cli_redis_t  *r;

    tr_cli_opt_t  spec[] = {
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    id = NULL;
    json = 0;

    rc = tr_cli_args(opts, "keys show", tr_cli_keys_show_usage, spec, argc,
                     argv, &id, "key ID");
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    rc = tr_cli_redis_connect(opts, "keys show", &r);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    rc = tr_cli_key_lookup(r, id, hash);
    if (rc != TR_CLI_OK) {
        tr_cli_redis_close(r);
        return rc;
    }

    reply = tr_cli_redis_command(r, &rc, "HGETALL " TOKENROUTE_REDIS_KEY "%s",
                                 hash);
    if (reply == NULL) {
        tr_cli_redis_close(r);
        return rc;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        rc = tr_cli_redis_unexpected(r, reply, "HGETALL " TOKENROUTE_REDIS_KEY);
        tr_cli_redis_close(r);
        return rc;
    }

    tr_cli_redis_close(r);

    if (reply->elements == 0) {
        tr_cli_error("no key with id %s", id);
        freeReplyObject(reply);
        return TR_CLI_FAILED;
    }

    if (tr_cli_key_parse(reply, &key, why, sizeof(why)) != 0
        || strcmp(key.id, id) != 0)
    {
        tr_cli_error("key %s has a malformed record: %s", id,
                     (why[0] != '\0') ? why : "it has another id");
        freeReplyObject(reply);
        return TR_CLI_FAILED;
    }

    now = (int64_t) time(NULL);

    if (json) {
        j = tr_cli_json_create();
        if (j == NULL) {
            freeReplyObject(reply);
            return TR_CLI_FAILED;
        }

        tr_cli_json_map_open(j);
        tr_cli_key_json_fields(j, &key);
        tr_cli_key_json_spend(j, &key);
        tr_cli_key_json_state(j, &key, now);
        tr_cli_json_map_close(j);

        if (tr_cli_json_print(j, stdout) != 0) {
            rc = TR_CLI_FAILED;
        }

        tr_cli_json_destroy(j);

    } else {
        tr_cli_key_print(&key, now, 0);
    }

    freeReplyObject(reply);

    return rc;
}


static int
tr_cli_keys_revoke(tr_cli_opts_t *opts, int argc, char **argv)
{
    int              rc, result;
    char             hash[TR_CLI_SHA256_HEX_LEN + 1];
    const char      *id;
    tr_cli_redis_t  *r;

    tr_cli_opt_t  spec[] = {
        { NULL, NULL, NULL }
    };

    id = NULL;

    rc = tr_cli_args(opts, "keys revoke", tr_cli_keys_revoke_usage, spec,
                     argc, argv, &id, "key ID");
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    rc = tr_cli_redis_connect(opts, "keys revoke", &r);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    rc = tr_cli_key_lookup(r, id, hash);

    if (rc == TR_CLI_OK) {
        rc = tr_cli_key_revoke(r, hash, (int64_t) time(NULL), &result);
    }

    tr_cli_redis_close(r);

    if (rc != TR_CLI_OK) {
        return rc;
    }

    switch (result) {

    case 1:
        printf("revoked %s\n", id);
        return TR_CLI_OK;

    case 0:
        printf("%s was already revoked\n", id);
        return TR_CLI_OK;

    default:
        tr_cli_error("no key with id %s", id);
        return TR_CLI_FAILED;
    }
}


static int
tr_cli_keys_check_name(const char *name)
{
    size_t  i, len;

    len = strlen(name);

    if (len == 0 || len > TR_CLI_NAME_MAX) {
        tr_cli_usage_error("keys create", "--name must be 1-%d bytes long",
                           TR_CLI_NAME_MAX);
        return -1;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) name[i] < 0x20 || name[i] == 0x7f) {
            tr_cli_usage_error("keys create",
                               "--name must not contain control characters");
            return -1;
        }
    }

    if (!tr_cli_utf8_valid(name, len)) {
        tr_cli_usage_error("keys create", "--name is not valid UTF-8");
        return -1;
    }

    return 0;
}


static int
tr_cli_keys_check_models(const char *models)
{
    const char  *p, *start;

    start = models;

    for (p = models; /* void */ ; p++) {
        if (*p != ',' && *p != '\0') {
            if (*p <= 0x20 || *p >= 0x7f) {
                tr_cli_usage_error("keys create", "bad --models '%s': model "
                                   "ids must not contain spaces or control "
                                   "characters", models);
                return -1;
            }

            continue;
        }

        if (p == start) {
            tr_cli_usage_error("keys create", "bad --models '%s': empty "
                               "model id", models);
            return -1;
        }

        /* "*" would read as "all models" in 'keys list' */
        if (p - start == 1 && *start == '*') {
            tr_cli_usage_error("keys create", "bad --models: '*' is not a "
                               "model id; leave out --models to allow all "
                               "models");
            return -1;
        }

        if (*p == '\0') {
            break;
        }

        start = p + 1;
    }

    return 0;
}
