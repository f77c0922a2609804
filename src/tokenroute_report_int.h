
/*
 * Copyright (C) tokenroute authors
 *
 * The inside of the usage report (tokenroute_report*.c): the query, the
 * rounds of commands, the rows.  Not for callers: they use
 * tokenroute_report.h.
 */


#ifndef _TOKENROUTE_REPORT_INT_H_INCLUDED_
#define _TOKENROUTE_REPORT_INT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <tokenroute_report.h>


/* the metrics of a usage field, in the order of tokenroute_report_metrics */
#define TR_REPORT_REQ          0
#define TR_REPORT_IN           1
#define TR_REPORT_OUT          2
#define TR_REPORT_CACHED       3
#define TR_REPORT_COST         4
#define TR_REPORT_EST          5
#define TR_REPORT_UNBILLED     6
#define TR_REPORT_CLAMPED      7
#define TR_REPORT_FAIL         8
#define TR_REPORT_NMETRICS     9

/* by */
#define TR_REPORT_BY_MODEL     0
#define TR_REPORT_BY_KEY       1
#define TR_REPORT_BY_ACCOUNT   2
#define TR_REPORT_BY_TENANT    3
#define TR_REPORT_BY_DAY       4
#define TR_REPORT_BY_HOUR      5

#define TR_REPORT_DAY          86400
#define TR_REPORT_HOUR         3600

/* the parameters, in the order of tokenroute_report_params */
#define TR_REPORT_P_SINCE      0
#define TR_REPORT_P_UNTIL      1
#define TR_REPORT_P_MONTH      2
#define TR_REPORT_P_BY         3
#define TR_REPORT_P_ACCOUNT    4
#define TR_REPORT_P_KEY        5
#define TR_REPORT_P_TENANT     6
#define TR_REPORT_P_FORMAT     7
#define TR_REPORT_NPARAMS      8

/* what a command of a round is for */
#define TR_REPORT_C_BUCKET     0   /* HGETALL tr:u:d:... */
#define TR_REPORT_C_ACCOUNT    1   /* SISMEMBER tr:accts, EXISTS tr:acct: */
#define TR_REPORT_C_KEY        2   /* EXISTS tr:keyid: */
#define TR_REPORT_C_TENANT     3   /* SISMEMBER tr:tenants:, EXISTS */
#define TR_REPORT_C_KEYID      4   /* GET tr:keyid:<row's id> */
#define TR_REPORT_C_NAME       5   /* HGET tr:key:<hash> name */

/* the time parser's kinds (tokenroute_report_parse_time) */
#define TR_REPORT_T_DURATION   0
#define TR_REPORT_T_DATE       1
#define TR_REPORT_T_TIME       2

#define TR_REPORT_ERR_LEN      256


typedef struct {
    char                    *group;
    char                    *name;      /* by key: the key's name */
    char                    *hash;      /* by key: its record's hash */
    uint32_t                 h;
    int64_t                  m[TR_REPORT_NMETRICS];
} tr_report_row_t;


typedef struct {
    tokenroute_report_cmd_t  cmd;
    char                    *buf;       /* owns the arguments */
    int                      what;      /* TR_REPORT_C_... */
    int                      done;      /* its reply was given */
    size_t                   row;       /* C_KEYID, C_NAME */
    int64_t                  start;     /* C_BUCKET: the bucket's time */
} tr_report_cmd_t;


struct tokenroute_report_s {
    char                    *param[TR_REPORT_NPARAMS];

    int                      by;
    int                      format;
    int64_t                  now;
    int64_t                  first;     /* the oldest bucket's start */
    int64_t                  step;      /* a bucket's length */
    size_t                   nbuckets;
    int64_t                  since;     /* as reported */
    int64_t                  until;

    const char              *account;   /* filters, NULL: all */
    const char              *key;
    const char              *tenant;
    unsigned                 known;     /* bits: 1 account 2 key 4 tenant */
    unsigned                 seen;      /* the same, in the usage read */

    tr_report_cmd_t         *cmds;
    size_t                   ncmds;
    size_t                   given;     /* replies of the round */
    int                      round;

    tr_report_row_t         *rows;
    size_t                   nrows;
    size_t                   nalloc;
    uint32_t                *index;     /* row number + 1, 0: free */
    size_t                   size;      /* of index, a power of 2 */
    size_t                   malformed;
    int64_t                  total[TR_REPORT_NMETRICS];

    int                      status;    /* 0 while all is well */
    char                     err[TR_REPORT_ERR_LEN];
};


extern const char  *tokenroute_report_by[];

int tokenroute_report_fail(tokenroute_report_t *rp, int status,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int tokenroute_report_query(tokenroute_report_t *rp);
int tokenroute_report_parse_time(const char *s, int64_t *t, int *kind);
int tokenroute_report_parse_month(const char *s, int64_t *start,
    int64_t *end);

int tokenroute_report_bucket(tokenroute_report_t *rp, const redisReply *r,
    int64_t start);
void tokenroute_report_sort(tokenroute_report_t *rp);
int tokenroute_report_text(const char *s, size_t len);
void tokenroute_report_rows_free(tokenroute_report_t *rp);

int tokenroute_report_label(tokenroute_report_t *rp, int64_t start,
    char *buf, size_t size);
size_t tokenroute_report_fixed(int64_t nusd, char *buf, size_t size);


#endif /* _TOKENROUTE_REPORT_INT_H_INCLUDED_ */
