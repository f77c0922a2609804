
/*
 * Copyright (C) tokenroute authors
 *
 * The tokenroute command's main(): the global options, the command
 * dispatched to its file, the argument parsing every command shares, and
 * the exit status (a result that could not be written is a failure).
 */


#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "tr_cli.h"
#include "tr_cli_util.h"


static void tr_cli_help(FILE *out);
static int tr_cli_finish(int rc);


static const char  tr_cli_usage_text[] =
    "usage: tokenroute [GLOBAL OPTIONS] <command> [ARGS]\n"
    "\n"
    "Manage the API keys, the prepaid credit and the usage reports of the\n"
    "tokenroute LLM gateway, stored in Redis.\n"
    "\n"
    "Commands:\n"
    "  keys create   create an API key (the raw key is shown only once)\n"
    "  keys list     list API keys with their spend\n"
    "  keys show     show one API key\n"
    "  keys update   change the settings of an API key\n"
    "  keys rotate   give an API key a new raw key\n"
    "  keys revoke   revoke an API key\n"
    "  keys delete   delete an API key\n"
    "  keys purge    delete keys revoked or expired long ago\n"
    "  accounts create  create an account (the bill keys spend from)\n"
    "  accounts show|list  show one or every account\n"
    "  admin-keys create|list|revoke  the keys of the admin API\n"
    "  credit add    add prepaid credit to an account\n"
    "  credit adjust correct an account's credit (refunds, corrections)\n"
    "  credit show   show the credit of one or all accounts\n"
    "  credit history  the ledger: every credit added and adjusted\n"
    "  tenants create|show|update|list|delete\n"
    "                groups of keys in an account, with their own limits\n"
    "  usage         report requests, tokens and cost by model, key,\n"
    "                account, tenant, day or hour (table, JSON, CSV)\n"
    "\n"
    "Global options (also accepted after the command):\n"
    "  --redis ADDR            Redis server: HOST[:PORT], unix:PATH,\n"
    "                          redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or\n"
    "                          redis-sentinel://[[USER]:PASSWORD@]HOST[:PORT]\n"
    "                          [,HOST[:PORT]...]/MASTER[/DB] (the sentinels\n"
    "                          asked for MASTER; env\n"
    "                          TOKENROUTE_SENTINEL_PASSWORD: theirs)\n"
    "                          (env TOKENROUTE_REDIS, default "
    "127.0.0.1:6379)\n"
    "  --redis-password PASS   password for AUTH; prefer the environment,\n"
    "                          the command line is visible to other users\n"
    "                          (env TOKENROUTE_REDIS_PASSWORD)\n"
    "  --redis-db N            database to SELECT (env TOKENROUTE_REDIS_DB)\n"
    "  -h, --help              show this help and exit\n"
    "  --version               print the version and exit\n"
    "\n"
    "Options win over the environment; --redis-password and --redis-db\n"
    "win over a password or database given in a redis:// URL.\n"
    "\n"
    "Amounts are USD, exact to the nano-dollar (9 decimals).\n"
    "\n"
    "Exit status:\n"
    "  0  success\n"
    "  1  operation failed (no such key or account, Redis replied with an\n"
    "     error)\n"
    "  2  usage error (unknown command or option, missing or bad argument)\n"
    "  3  Redis unreachable (connection refused, timed out or lost)\n"
    "\n"
    "Run 'tokenroute <command> --help' (e.g. 'tokenroute keys create\n"
    "--help', 'tokenroute usage --help') for the options of a command.\n";


int
main(int argc, char **argv)
{
    int            i, rc;
    tr_cli_opts_t  opts;

    /* a Redis that closes the connection must give an error, not SIGPIPE */
    signal(SIGPIPE, SIG_IGN);

    memset(&opts, 0, sizeof(tr_cli_opts_t));

    for (i = 1; i < argc; i++) {
        if (tr_cli_is_help(argv[i])) {
            tr_cli_help(stdout);
            return tr_cli_finish(TR_CLI_OK);
        }

        if (strcmp(argv[i], "--version") == 0) {
            printf("tokenroute " TR_CLI_VERSION "\n");
            return tr_cli_finish(TR_CLI_OK);
        }

        rc = tr_cli_global_option(&opts, NULL, argc, argv, &i);

        if (rc == -1) {
            return TR_CLI_USAGE;
        }

        if (rc == 1) {
            continue;
        }

        if (argv[i][0] == '-') {
            return tr_cli_usage_error(NULL, "unknown option '%s'", argv[i]);
        }

        break;
    }

    if (i == argc) {
        return tr_cli_usage_error(NULL, "no command given");
    }

    if (strcmp(argv[i], "keys") == 0) {
        rc = tr_cli_keys(&opts, argc - i - 1, argv + i + 1);
        return tr_cli_finish(rc);
    }

    if (strcmp(argv[i], "accounts") == 0) {
        rc = tr_cli_accounts(&opts, argc - i - 1, argv + i + 1);
        return tr_cli_finish(rc);
    }

    if (strcmp(argv[i], "admin-keys") == 0) {
        rc = tr_cli_admin_keys(&opts, argc - i - 1, argv + i + 1);
        return tr_cli_finish(rc);
    }

    if (strcmp(argv[i], "credit") == 0) {
        rc = tr_cli_credit(&opts, argc - i - 1, argv + i + 1);
        return tr_cli_finish(rc);
    }

    if (strcmp(argv[i], "tenants") == 0) {
        rc = tr_cli_tenants(&opts, argc - i - 1, argv + i + 1);
        return tr_cli_finish(rc);
    }

    if (strcmp(argv[i], "usage") == 0) {
        rc = tr_cli_usage(&opts, argc - i - 1, argv + i + 1);
        return tr_cli_finish(rc);
    }

    return tr_cli_usage_error(NULL, "unknown command '%s'", argv[i]);
}


/*
 * Returns 1 if argv[*i] was a global option and consumed it (and its value),
 * 0 if it is something else, -1 after printing a usage error.
 */

int
tr_cli_global_option(tr_cli_opts_t *opts, const char *cmd, int argc,
    char **argv, int *i)
{
    int          rc;
    const char  *value;

    rc = tr_cli_option("--redis", cmd, argc, argv, i, &value);
    if (rc != 0) {
        opts->redis = value;
        return rc;
    }

    rc = tr_cli_option("--redis-password", cmd, argc, argv, i, &value);
    if (rc != 0) {
        opts->password = value;
        return rc;
    }

    rc = tr_cli_option("--redis-db", cmd, argc, argv, i, &value);
    if (rc != 0) {
        opts->db = value;
        return rc;
    }

    return 0;
}


/*
 * Finds the subcommand of a command group ("keys", "credit") after the
 * global options.  Returns TR_CLI_OK with *sub set and argc and argv moved
 * to the subcommand's arguments, TR_CLI_HELP after printing the group's
 * usage, or TR_CLI_USAGE after a usage error.
 */

int
tr_cli_subcommand(tr_cli_opts_t *opts, const char *group, const char *usage,
    int *argc, char ***argv, const char **sub)
{
    int     i, rc, n;
    char  **v;

    n = *argc;
    v = *argv;

    for (i = 0; i < n; i++) {
        if (tr_cli_is_help(v[i])) {
            fputs(usage, stdout);
            return TR_CLI_HELP;
        }

        rc = tr_cli_global_option(opts, group, n, v, &i);

        if (rc == -1) {
            return TR_CLI_USAGE;
        }

        if (rc == 1) {
            continue;
        }

        if (v[i][0] == '-') {
            return tr_cli_usage_error(group, "unknown option '%s'", v[i]);
        }

        break;
    }

    if (i == n) {
        return tr_cli_usage_error(group, "no %s command given", group);
    }

    *sub = v[i];
    *argc = n - i - 1;
    *argv = v + i + 1;

    return TR_CLI_OK;
}


/*
 * Parses a command's arguments: its own options from spec, the global
 * options, -h/--help and, when arg is not NULL, exactly one positional
 * argument, described by what in messages.  Returns TR_CLI_OK,
 * TR_CLI_HELP after printing usage, or TR_CLI_USAGE.
 */

int
tr_cli_args(tr_cli_opts_t *opts, const char *cmd, const char *usage,
    tr_cli_opt_t *spec, int argc, char **argv, const char **arg,
    const char *what)
{
    int            i, rc, dashdash;
    const char    *a;
    tr_cli_opt_t  *o;

    dashdash = 0;

    for (i = 0; i < argc; i++) {
        a = argv[i];

        if (!dashdash && strcmp(a, "--") == 0) {
            dashdash = 1;
            continue;
        }

        if (!dashdash && a[0] == '-' && a[1] != '\0') {
            if (tr_cli_is_help(a)) {
                fputs(usage, stdout);
                return TR_CLI_HELP;
            }

            for (o = spec; o->name != NULL; o++) {
                if (o->flag != NULL) {
                    if (strcmp(a, o->name) == 0) {
                        *o->flag = 1;
                        break;
                    }

                    continue;
                }

                rc = tr_cli_option(o->name, cmd, argc, argv, &i, o->value);

                if (rc == -1) {
                    return TR_CLI_USAGE;
                }

                if (rc == 1) {
                    break;
                }
            }

            if (o->name != NULL) {
                continue;
            }

            rc = tr_cli_global_option(opts, cmd, argc, argv, &i);

            if (rc == -1) {
                return TR_CLI_USAGE;
            }

            if (rc == 1) {
                continue;
            }

            return tr_cli_usage_error(cmd, "unknown option '%s'", a);
        }

        if (arg == NULL || *arg != NULL) {
            return tr_cli_usage_error(cmd, "unexpected argument '%s'", a);
        }

        *arg = a;
    }

    if (arg != NULL && *arg == NULL) {
        return tr_cli_usage_error(cmd, "missing %s", what);
    }

    return TR_CLI_OK;
}


static void
tr_cli_help(FILE *out)
{
    fputs(tr_cli_usage_text, out);
}


/* a result that could not be written is a failure, e.g. on a full disk */

static int
tr_cli_finish(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        tr_cli_error("cannot write the output: %s", strerror(errno));

        if (rc == TR_CLI_OK) {
            rc = TR_CLI_FAILED;
        }
    }

    return rc;
}
