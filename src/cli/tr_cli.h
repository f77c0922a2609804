
/*
 * Copyright (C) tokenroute authors
 */


#ifndef _TR_CLI_H_INCLUDED_
#define _TR_CLI_H_INCLUDED_


#define TR_CLI_VERSION      "0.1.0"

/* exit status, documented in "tokenroute --help" */
#define TR_CLI_OK           0
#define TR_CLI_FAILED       1
#define TR_CLI_USAGE        2
#define TR_CLI_UNREACHABLE  3


/* the global options as given on the command line, NULL when absent */
typedef struct {
    const char  *redis;
    const char  *password;
    const char  *db;
} tr_cli_opts_t;


int tr_cli_global_option(tr_cli_opts_t *opts, const char *cmd, int argc,
    char **argv, int *i);
int tr_cli_keys(tr_cli_opts_t *opts, int argc, char **argv);


#endif /* _TR_CLI_H_INCLUDED_ */
