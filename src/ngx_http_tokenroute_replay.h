
/*
 * Copyright (C) tokenroute authors
 *
 * The once-a-second replay of the journal and the sweep
 * (ngx_http_tokenroute_replay.c).
 */


#ifndef _NGX_HTTP_TOKENROUTE_REPLAY_H_INCLUDED_
#define _NGX_HTTP_TOKENROUTE_REPLAY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tokenroute_module.h"


ngx_int_t ngx_http_tokenroute_replay_start(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_TOKENROUTE_REPLAY_H_INCLUDED_ */
