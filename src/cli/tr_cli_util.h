
/*
 * Copyright (C) tokenroute authors
 *
 * What the CLI's commands share (tr_cli_util.c): messages, options,
 * integers, times, UTF-8 widths, JSON output and text tables.
 */


#ifndef _TR_CLI_UTIL_H_INCLUDED_
#define _TR_CLI_UTIL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>


/* "1970-01-01T00:00:00Z" with its NUL */
#define TR_CLI_TIME_LEN  sizeof("1970-01-01T00:00:00Z")

/* the decimal form of any int64_t with its NUL */
#define TR_CLI_INT_LEN   sizeof("-9223372036854775808")


typedef struct tr_cli_json_s   tr_cli_json_t;
typedef struct tr_cli_table_s  tr_cli_table_t;


void tr_cli_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
int tr_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int tr_cli_option(const char *name, const char *cmd, int argc, char **argv,
    int *i, const char **value);
int tr_cli_is_help(const char *arg);

int tr_cli_parse_int64(const char *s, size_t len, int64_t *out);
size_t tr_cli_format_time(int64_t t, char *buf, size_t size);
size_t tr_cli_utf8_width(const char *s);

tr_cli_json_t *tr_cli_json_create(void);
void tr_cli_json_map_open(tr_cli_json_t *j);
void tr_cli_json_map_close(tr_cli_json_t *j);
void tr_cli_json_array_open(tr_cli_json_t *j);
void tr_cli_json_array_close(tr_cli_json_t *j);
void tr_cli_json_str(tr_cli_json_t *j, const char *s);
void tr_cli_json_strn(tr_cli_json_t *j, const char *s, size_t len);
void tr_cli_json_int(tr_cli_json_t *j, int64_t n);
void tr_cli_json_bool(tr_cli_json_t *j, int b);
void tr_cli_json_null(tr_cli_json_t *j);
int tr_cli_json_print(tr_cli_json_t *j, FILE *out);
void tr_cli_json_destroy(tr_cli_json_t *j);

tr_cli_table_t *tr_cli_table_create(size_t ncols, const char **header);
int tr_cli_table_add(tr_cli_table_t *t, const char **row);
int tr_cli_table_print(tr_cli_table_t *t, FILE *out);
void tr_cli_table_destroy(tr_cli_table_t *t);


#endif /* _TR_CLI_UTIL_H_INCLUDED_ */
