
/*
 * Copyright (C) tokenroute authors
 */


#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "tr_cli.h"
#include "tr_cli_util.h"


static void tr_cli_usage(FILE *out);
static int tr_cli_finish(int rc);


static const char  tr_cli_usage_text[] =
    "usage: tokenroute [GLOBAL OPTIONS] <command> [ARGS]\n"
    "\n"
    "Manage the API keys of the tokenroute LLM gateway, stored in Redis.\n"
    "\n"
    "Commands:\n"
    "  keys create   create an API key (the raw key is shown only once)\n"
    "  keys list     list API keys\n"
    "  keys show     show one API key\n"
    "  keys revoke   revoke an API key\n"
    "\n"
    "Global options (also accepted after the command):\n"
    "  --redis ADDR            Redis server: HOST[:PORT], unix:PATH or\n"
    "                          redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]\n"
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
    "Exit status:\n"
    "  0  success\n"
    "  1  operation failed (no such key, Redis replied with an error)\n"
    "  2  usage error (unknown command or option, missing or bad argument)\n"
    "  3  Redis unreachable (connection refused, timed out or lost)\n"
    "\n"
    "Run 'tokenroute keys <command> --help' for the options of a command.\n";


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
            tr_cli_usage(stdout);
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


static void
tr_cli_usage(FILE *out)
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
