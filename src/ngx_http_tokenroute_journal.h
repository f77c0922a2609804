
/*
 * Copyright (C) tokenroute authors
 *
 * The shared-memory settlement journal
 * (ngx_http_tokenroute_journal.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_JOURNAL_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_JOURNAL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"
#include "ngx_http_tokenroute_settlement.h"


ngx_int_t ngx_http_tokenroute_journal_init(ngx_conf_t *cf,
    ngx_http_tokenroute_main_conf_t *trmcf);
void ngx_http_tokenroute_journal_add(ngx_http_tokenroute_settlement_t *s);
ngx_int_t ngx_http_tokenroute_journal_start(ngx_cycle_t *cycle,
    ngx_http_tokenroute_main_conf_t *trmcf);
ngx_uint_t ngx_http_tokenroute_journal_take(
    ngx_http_tokenroute_settlement_t *batch, ngx_uint_t max);


typedef struct {
    ngx_uint_t   entries;
    ngx_uint_t   lost;
    size_t       bytes;
    size_t       capacity;   /* the zone */
    ngx_uint_t   full;       /* one more settlement would be lost */
} ngx_http_tokenroute_journal_stats_t;

void ngx_http_tokenroute_journal_stats(ngx_http_tokenroute_journal_stats_t *st);


#endif /* _NGX_HTTP_TOKENROUTE_JOURNAL_H_INCLUDED_ */
