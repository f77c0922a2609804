
/*
 * Copyright (C) tokenroute authors
 *
 * What every command of the tokenroute CLI shares: the version, the exit
 * statuses, the global options and the argument parsing of tokenroute.c,
 * and each command's entry point.
 */


#ifndef _TR_CLI_H_INCLUDED_
#define _TR_CLI_H_INCLUDED_


#define TR_CLI_VERSION      "0.1.0"

/* exit status, documented in "tokenroute --help" */
#define TR_CLI_OK           0
#define TR_CLI_FAILED       1
#define TR_CLI_USAGE        2
#define TR_CLI_UNREACHABLE  3

/* tr_cli_args(), tr_cli_subcommand(): help was printed, stop with success */
#define TR_CLI_HELP         -1


/* the global options as given on the command line, NULL when absent */
typedef struct {
    const char  *redis;
    const char  *password;
    const char  *db;
} tr_cli_opts_t;


/* a command's own option, for tr_cli_args() */
typedef struct {
    const char                *name;
    const char               **value;     /* an option with a value */
    int                       *flag;      /* an option without one */
} tr_cli_opt_t;


int tr_cli_global_option(tr_cli_opts_t *opts, const char *cmd, int argc,
    char **argv, int *i);
int tr_cli_subcommand(tr_cli_opts_t *opts, const char *group,
    const char *usage, int *argc, char ***argv, const char **sub);
int tr_cli_args(tr_cli_opts_t *opts, const char *cmd, const char *usage,
    tr_cli_opt_t *spec, int argc, char **argv, const char **arg,
    const char *what);

int tr_cli_keys(tr_cli_opts_t *opts, int argc, char **argv);
int tr_cli_accounts(tr_cli_opts_t *opts, int argc, char **argv);
int tr_cli_admin_keys(tr_cli_opts_t *opts, int argc, char **argv);
int tr_cli_credit(tr_cli_opts_t *opts, int argc, char **argv);
int tr_cli_tenants(tr_cli_opts_t *opts, int argc, char **argv);
int tr_cli_usage(tr_cli_opts_t *opts, int argc, char **argv);


#endif /* _TR_CLI_H_INCLUDED_ */
