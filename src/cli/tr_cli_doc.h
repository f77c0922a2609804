
/*
 * Copyright (C) tokenroute authors
 *
 * A control script's JSON document printed as a table (tr_cli_doc.c): the
 * commands that do not print --json show their result this way.
 */


#ifndef _TR_CLI_DOC_H_INCLUDED_
#define _TR_CLI_DOC_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <yajl/yajl_tree.h>


/* what a column shows of its member; null or absent is "-" */
#define TR_CLI_DOC_STR   0      /* a string, as it is */
#define TR_CLI_DOC_INT   1      /* an integer */
#define TR_CLI_DOC_TIME  2      /* unix seconds, as ISO 8601 UTC */


typedef struct {
    const char                *header;
    const char                *member;
    int                        kind;
} tr_cli_doc_col_t;


/* rows missing a needed member are skipped with a warning naming them */
typedef struct {
    const char                *what;        /* "account" */
    const char               **needed;      /* NULL-terminated */
} tr_cli_doc_check_t;


int tr_cli_doc_table(yajl_val rows, const tr_cli_doc_col_t *cols,
    size_t ncols, const tr_cli_doc_check_t *check, FILE *out);
int tr_cli_doc_int(yajl_val obj, const char *name, int64_t *n);


#endif /* _TR_CLI_DOC_H_INCLUDED_ */
