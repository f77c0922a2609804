
/*
 * Copyright (C) tokenroute authors
 *
 * "tokenroute usage": the options handed to the usage report
 * (src/tokenroute_report.h, which the admin API shares), its commands
 * pipelined on the CLI's blocking connection, round by round, and the
 * report printed.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include <tokenroute_report.h>

#include "tr_cli.h"
#include "tr_cli_redis.h"
#include "tr_cli_util.h"


static int tr_cli_usage_run(tr_cli_opts_t *opts, tokenroute_report_t *rp);
static int tr_cli_usage_round(tr_cli_redis_t *r, tokenroute_report_t *rp);
static int tr_cli_usage_failed(tokenroute_report_t *rp);


static const char  tr_cli_usage_usage[] =
    "usage: tokenroute usage [--account ACCOUNT [--tenant TENANT]]\n"
    "           [--key ID] [--since WHEN] [--until WHEN] [--month YYYY-MM]\n"
    "           [--by model|key|account|tenant|day|hour]\n"
    "           [--format table|json|csv] [--json]\n"
    "\n"
    "Report what the gateway served: requests, tokens and cost, grouped\n"
    "by model, key, account, tenant, UTC day or UTC hour, sorted by cost\n"
    "(highest first) then name, with a TOTAL row.  Columns:\n"
    "  REQUESTS    requests charged\n"
    "  FAILED      requests on which every attempt failed (charged\n"
    "              nothing), under the model the client asked for\n"
    "  INPUT       all input tokens, cache reads included\n"
    "  OUTPUT      output tokens\n"
    "  CACHED      input tokens read from the provider's cache\n"
    "  COST        USD, exact to the nano-dollar (9 decimals)\n"
    "  ESTIMATED   requests whose usage was estimated (the client left\n"
    "              before the provider reported it)\n"
    "  UNBILLED    USD the provider probably billed for answers the client\n"
    "              never got whole and was not charged for\n"
    "  CLAMPED     requests whose usage was more than the request allowed\n"
    "              (its max_tokens, its body's size), charged at that bound\n"
    "With --by key a NAME column shows the key's name ('-' if the key is\n"
    "gone); --by tenant groups by ACCOUNT/TENANT ('-': keys without one).\n"
    "\n"
    "The window is made of whole UTC days, or of whole UTC hours when it\n"
    "spans less than 48h (and lies in the last 8 days) or with --by hour.\n"
    "A duration covers the current day or hour and those before it, as\n"
    "many as it spans (7d: today and the 6 days before; 24h: this hour and\n"
    "the 23 before).  A date or time --since starts with the day or hour\n"
    "that holds it; --until is the end, not included: a date's whole day\n"
    "is in, a time inside an hour (or a day) takes in that whole hour (or\n"
    "day).  Days are kept 400 days, hours 8 days.\n"
    "\n"
    "Options:\n"
    "  --account ACCOUNT    only the usage of this account\n"
    "  --tenant TENANT      only the usage of this tenant of --account\n"
    "  --key ID             only the usage of this key (key_...)\n"
    "  --since WHEN         the start: a duration back from now (a positive\n"
    "                       number followed by s, m, h, d or w), a date\n"
    "                       2026-11-03 or a UTC time 2026-11-03T10:00Z or\n"
    "                       2026-11-03T10:00:00Z (default 7d; at most 400d,\n"
    "                       or 8d with --by hour)\n"
    "  --until WHEN         the end, as --since (default: now)\n"
    "  --month YYYY-MM      the days of one UTC month (not with --since or\n"
    "                       --until)\n"
    "  --by WHAT            group by model (the default), key, account,\n"
    "                       tenant, day (2026-11-27) or hour (2026-11-27T13)\n"
    "  --format FORMAT      table (the default), json or csv (a header\n"
    "                       line, plain numbers, no TOTAL)\n"
    "  --json               the same as --format json: one object with since\n"
    "                       and until (unix seconds), by, bucket (day or\n"
    "                       hour), rows (objects with group, name with --by\n"
    "                       key, account and tenant with --by tenant,\n"
    "                       requests, failed, input_tokens, output_tokens,\n"
    "                       cached_tokens, cost_usd as a string, cost_nusd\n"
    "                       in nano-USD, estimated, unbilled_usd,\n"
    "                       unbilled_nusd, clamped) and total (the same\n"
    "                       without group)\n"
    "  -h, --help           show this help and exit\n"
    "\n"
    "An --account, --tenant or --key that does not exist is an error (exit\n"
    "1), unless the window's usage mentions it (a deleted key keeps its\n"
    "usage).\n"
    "\n"
    "Global options and exit status: see 'tokenroute --help'.\n";


int
tr_cli_usage(tr_cli_opts_t *opts, int argc, char **argv)
{
    int                   rc, json;
    size_t                i;
    tokenroute_report_t  *rp;
    const char           *value[8];

    static const char  *names[] = {
        "account", "tenant", "key", "since", "until", "month", "by",
        "format"
    };

    tr_cli_opt_t  spec[] = {
        { "--account", &value[0], NULL },
        { "--tenant", &value[1], NULL },
        { "--key", &value[2], NULL },
        { "--since", &value[3], NULL },
        { "--until", &value[4], NULL },
        { "--month", &value[5], NULL },
        { "--by", &value[6], NULL },
        { "--format", &value[7], NULL },
        { "--json", NULL, &json },
        { NULL, NULL, NULL }
    };

    memset(value, 0, sizeof(value));
    json = 0;

    rc = tr_cli_args(opts, "usage", tr_cli_usage_usage, spec, argc, argv,
                     NULL, NULL);
    if (rc != TR_CLI_OK) {
        return (rc == TR_CLI_HELP) ? TR_CLI_OK : rc;
    }

    if (json) {
        if (value[7] != NULL && strcmp(value[7], "json") != 0) {
            return tr_cli_usage_error("usage", "--json and --format %s "
                                      "disagree", value[7]);
        }

        value[7] = "json";

    } else if (value[7] == NULL) {
        value[7] = "table";
    }

    rp = tokenroute_report_create();
    if (rp == NULL) {
        tr_cli_error("out of memory");
        return TR_CLI_FAILED;
    }

    rc = TR_CLI_OK;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (value[i] != NULL
            && tokenroute_report_param(rp, names[i], value[i]) != 0)
        {
            rc = tr_cli_usage_failed(rp);
            break;
        }
    }

    if (rc == TR_CLI_OK) {
        rc = (tokenroute_report_plan(rp, (int64_t) time(NULL)) == 0)
             ? tr_cli_usage_run(opts, rp) : tr_cli_usage_failed(rp);
    }

    tokenroute_report_destroy(rp);

    return rc;
}


static int
tr_cli_usage_run(tr_cli_opts_t *opts, tokenroute_report_t *rp)
{
    int              rc;
    char            *text;
    size_t           len, bad;
    tr_cli_redis_t  *r;

    rc = tr_cli_redis_connect(opts, "usage", &r);
    if (rc != TR_CLI_OK) {
        return rc;
    }

    while (tokenroute_report_ncmds(rp) != 0) {
        rc = tr_cli_usage_round(r, rp);
        if (rc != TR_CLI_OK) {
            break;
        }
    }

    tr_cli_redis_close(r);

    if (rc != TR_CLI_OK) {
        return rc;
    }

    if (tokenroute_report_render(rp, &text, &len) != 0) {
        return tr_cli_usage_failed(rp);
    }

    bad = tokenroute_report_malformed(rp);

    if (bad != 0) {
        fprintf(stderr, "tokenroute: warning: %zu malformed usage field%s "
                "skipped\n", bad, (bad == 1) ? "" : "s");
    }

    if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
        tr_cli_error("cannot write the report");
        rc = TR_CLI_FAILED;
    }

    free(text);

    return rc;
}


/* one round: every command pipelined, then every reply read */

static int
tr_cli_usage_round(tr_cli_redis_t *r, tokenroute_report_t *rp)
{
    int                             rc;
    size_t                          i, n;
    redisReply                     *reply;
    const tokenroute_report_cmd_t  *c;

    n = tokenroute_report_ncmds(rp);

    for (i = 0; i < n; i++) {
        c = tokenroute_report_cmd(rp, i);

        if (((c->argc == 2)
             ? tr_cli_redis_append(r, &rc, "%b %b",
                                   c->argv[0], c->argvlen[0],
                                   c->argv[1], c->argvlen[1])
             : tr_cli_redis_append(r, &rc, "%b %b %b",
                                   c->argv[0], c->argvlen[0],
                                   c->argv[1], c->argvlen[1],
                                   c->argv[2], c->argvlen[2]))
            != 0)
        {
            return rc;
        }
    }

    for (i = 0; i < n; i++) {
        /* an error reply (WRONGTYPE) is reported here, and is NULL */
        reply = tr_cli_redis_reply(r, &rc);
        if (reply == NULL) {
            return rc;
        }

        rc = tokenroute_report_reply(rp, i, reply);

        freeReplyObject(reply);

        if (rc != 0) {
            return tr_cli_usage_failed(rp);
        }
    }

    return (tokenroute_report_next(rp) == 0) ? TR_CLI_OK
                                             : tr_cli_usage_failed(rp);
}


/* a bad option is a usage error (2), anything else a failure (1) */

static int
tr_cli_usage_failed(tokenroute_report_t *rp)
{
    if (tokenroute_report_status(rp) == TOKENROUTE_REPORT_BAD) {
        return tr_cli_usage_error("usage", "%s", tokenroute_report_error(rp));
    }

    tr_cli_error("%s", tokenroute_report_error(rp));

    return TR_CLI_FAILED;
}
