
/*
 * Copyright (C) tokenroute authors
 *
 * The admin API's routes (tokenroute_admin.c): the table that maps a
 * method and a path to a control script's operation and says which path
 * segments and query parameters become its parameters; the matching; and
 * a JSON body member as a parameter's text.  Plain C: no nginx
 * dependency (src/ngx_http_tokenroute_admin.c serves them).
 */


#ifndef _TOKENROUTE_ADMIN_H_INCLUDED_
#define _TOKENROUTE_ADMIN_H_INCLUDED_


#include <stddef.h>

#include "tokenroute_json_tree.h"


#define TOKENROUTE_ADMIN_MAX_SEGMENTS  4

/* tokenroute_admin_match() */
#define TOKENROUTE_ADMIN_NOT_FOUND     404
#define TOKENROUTE_ADMIN_BAD_METHOD    405

/* a route's secret: a new raw model key for an existing id, hash and prefix */
#define TOKENROUTE_ADMIN_ROTATE        3

/* a route's script when it is no script: the usage report */
#define TOKENROUTE_ADMIN_REPORT        "report"


/*
 * path: segments separated by '/', "{name}" a segment that becomes the
 * parameter name; query: the query parameters taken, comma separated;
 * body: a JSON object's members become parameters; secret: a raw key is
 * made (TOKENROUTE_SECRET_KEY, _ADMIN) and its hash, id and prefix passed,
 * or (TOKENROUTE_ADMIN_ROTATE) a model key's hash and prefix.
 */
typedef struct {
    const char               *method;
    const char               *path;
    const char               *script;   /* src/lua/ctl_<script>.lua */
    const char               *op;
    const char               *query;
    unsigned                  body:1;
    unsigned                  secret:2;
} tokenroute_admin_route_t;


typedef struct {
    const char               *name;
    size_t                    name_len;
    const char               *value;    /* in the path matched */
    size_t                    len;
} tokenroute_admin_segment_t;


typedef struct {
    tokenroute_admin_route_t    *route;
    tokenroute_admin_segment_t   seg[TOKENROUTE_ADMIN_MAX_SEGMENTS];
    size_t                       nseg;
} tokenroute_admin_match_t;


extern tokenroute_admin_route_t  tokenroute_admin_routes[];


/*
 * Finds the route of method and path (relative to the API's root,
 * leading and trailing '/' ignored): 0 with m filled, or
 * TOKENROUTE_ADMIN_NOT_FOUND, or TOKENROUTE_ADMIN_BAD_METHOD when the
 * path is known but not with this method.
 */
int tokenroute_admin_match(const char *method, size_t method_len,
    const char *path, size_t len, tokenroute_admin_match_t *m);

/* 1 if name (len bytes) is one of the route's query parameters */
int tokenroute_admin_query_allowed(tokenroute_admin_route_t *route,
    const char *name, size_t len);

/*
 * A body member's value as a parameter's text: a string as it is, a
 * number as written, true "1", false "0", null "", an array of strings
 * joined with commas.  Written to dst (NULL: nothing written); returns
 * the length, or -1 for an object or an array holding a non-string.
 */
long tokenroute_admin_value(tokenroute_json_node_t *n, char *dst);


#endif /* _TOKENROUTE_ADMIN_H_INCLUDED_ */
