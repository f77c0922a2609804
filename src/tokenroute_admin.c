
/*
 * Copyright (C) tokenroute authors
 *
 * The admin API's routes: one line each.  A route names the control
 * script (src/lua/ctl_<script>.lua) and its operation; the script holds
 * the rules and makes the writes, for the CLI and the API alike.
 * Literal paths come before those with a {segment} they would also match.
 */


#include <stddef.h>
#include <string.h>

#include "tokenroute_admin.h"
#include "tokenroute_secret.h"


#define KEYQ    "account,tenant,status,limit,cursor"
#define HISTQ   "limit,cursor"
#define PAGEQ   "limit,cursor"
#define USAGEQ  "since,until,month,by,account,key,tenant,format"

#define KEY     TOKENROUTE_SECRET_KEY
#define ROTATE  TOKENROUTE_ADMIN_ROTATE
#define ADMIN   TOKENROUTE_SECRET_ADMIN


/*
 * The parameters' names are those of the scripts (the CLI's options
 * without "--"): an account is "name" in ctl_accounts.lua, "account" in
 * ctl_tenants.lua and ctl_keys.lua; a key is "key" (an id or a prefix;
 * a raw key is sent as its hash, "key_hash").
 */

tokenroute_admin_route_t  tokenroute_admin_routes[] = {

    /* method  path                       script  op  query  body  secret */

    { "GET",    "whoami", "admin", "whoami", "", 0, 0 },

    { "POST",   "admin-keys", "admin", "create", "", 1, ADMIN },
    { "GET",    "admin-keys", "admin", "list", "", 0, 0 },
    { "POST",   "admin-keys/{id}/revoke", "admin", "revoke", "", 0, 0 },

    { "POST",   "keys/purge", "keys", "purge", "", 1, 0 },
    { "POST",   "keys/reindex", "keys", "reindex", "", 1, 0 },
    { "POST",   "keys", "keys", "create", "", 1, KEY },
    { "GET",    "keys", "keys", "list", KEYQ, 0, 0 },
    { "GET",    "keys/{key}", "keys", "show", "", 0, 0 },
    { "PATCH",  "keys/{key}", "keys", "update", "", 1, 0 },
    { "DELETE", "keys/{key}", "keys", "delete", "", 0, 0 },
    { "POST",   "keys/{key}/rotate", "keys", "rotate", "", 0, ROTATE },
    { "POST",   "keys/{key}/revoke", "keys", "revoke", "", 0, 0 },

    { "POST",   "accounts", "accounts", "create", "", 1, 0 },
    { "GET",    "accounts", "accounts", "list", PAGEQ, 0, 0 },
    { "GET",    "accounts/{name}", "accounts", "show", "", 0, 0 },
    { "POST",   "accounts/{name}/credit", "accounts", "credit_add", "", 1,
      0 },
    { "POST",   "accounts/{name}/credit/adjust", "accounts",
      "credit_adjust", "", 1, 0 },
    { "GET",    "accounts/{name}/history", "accounts", "history", HISTQ, 0,
      0 },

    { "POST",   "accounts/{account}/tenants", "tenants", "create", "", 1,
      0 },
    { "GET",    "accounts/{account}/tenants", "tenants", "list", PAGEQ, 0,
      0 },
    { "GET",    "accounts/{account}/tenants/{name}", "tenants", "show", "",
      0, 0 },
    { "PATCH",  "accounts/{account}/tenants/{name}", "tenants", "update",
      "", 1, 0 },
    { "DELETE", "accounts/{account}/tenants/{name}", "tenants", "delete",
      "", 0, 0 },

    { "GET",    "usage", TOKENROUTE_ADMIN_REPORT, NULL, USAGEQ, 0, 0 },

    { NULL, NULL, NULL, NULL, NULL, 0, 0 }
};


static int tokenroute_admin_path(tokenroute_admin_route_t *route,
    const char *path, size_t len, tokenroute_admin_match_t *m);


int
tokenroute_admin_match(const char *method, size_t method_len,
    const char *path, size_t len, tokenroute_admin_match_t *m)
{
    int                        known;
    tokenroute_admin_route_t  *route;

    while (len && path[0] == '/') {
        path++;
        len--;
    }

    while (len && path[len - 1] == '/') {
        len--;
    }

    known = 0;

    for (route = tokenroute_admin_routes; route->method; route++) {
        if (tokenroute_admin_path(route, path, len, m) != 0) {
            continue;
        }

        if (strlen(route->method) == method_len
            && memcmp(route->method, method, method_len) == 0)
        {
            m->route = route;
            return 0;
        }

        known = 1;
    }

    return known ? TOKENROUTE_ADMIN_BAD_METHOD : TOKENROUTE_ADMIN_NOT_FOUND;
}


/* a segment of a pattern matches a non-empty segment of the path */

static int
tokenroute_admin_path(tokenroute_admin_route_t *route, const char *path,
    size_t len, tokenroute_admin_match_t *m)
{
    size_t       pl, sl;
    const char  *p, *pe, *s, *se, *last;

    p = route->path;
    pe = p + strlen(p);
    s = path;
    last = path + len;
    m->nseg = 0;

    for ( ;; ) {
        for (pl = 0; p + pl < pe && p[pl] != '/'; pl++) { /* void */ }
        for (sl = 0; s + sl < last && s[sl] != '/'; sl++) { /* void */ }

        if (sl == 0) {
            return -1;
        }

        if (pl > 2 && p[0] == '{' && p[pl - 1] == '}') {
            if (m->nseg == TOKENROUTE_ADMIN_MAX_SEGMENTS) {
                return -1;
            }

            m->seg[m->nseg].name = p + 1;
            m->seg[m->nseg].name_len = pl - 2;
            m->seg[m->nseg].value = s;
            m->seg[m->nseg].len = sl;
            m->nseg++;

        } else if (pl != sl || memcmp(p, s, sl) != 0) {
            return -1;
        }

        p += pl;
        s += sl;
        se = last;

        if (p == pe || s == se) {
            return (p == pe && s == se) ? 0 : -1;
        }

        /* both at a '/' */
        p++;
        s++;
    }
}


int
tokenroute_admin_query_allowed(tokenroute_admin_route_t *route,
    const char *name, size_t len)
{
    size_t       n;
    const char  *q;

    for (q = route->query; *q; q += n + (q[n] == ',')) {
        n = strcspn(q, ",");

        if (n == len && len && memcmp(q, name, len) == 0) {
            return 1;
        }
    }

    return 0;
}


long
tokenroute_admin_value(tokenroute_json_node_t *n, char *dst)
{
    size_t                   len;
    const char              *s;
    tokenroute_json_node_t  *e;

    s = NULL;
    len = 0;

    switch (n->type) {

    case TOKENROUTE_JSON_T_STRING:
    case TOKENROUTE_JSON_T_NUMBER:
        s = n->str;
        len = n->len;
        break;

    case TOKENROUTE_JSON_T_TRUE:
        s = "1";
        len = 1;
        break;

    case TOKENROUTE_JSON_T_FALSE:
        s = "0";
        len = 1;
        break;

    case TOKENROUTE_JSON_T_NULL:
        s = "";
        break;

    case TOKENROUTE_JSON_T_ARRAY:
        for (e = n->first; e; e = e->next) {
            if (e->type != TOKENROUTE_JSON_T_STRING) {
                return -1;
            }

            if (dst) {
                if (e != n->first) {
                    dst[len] = ',';
                }

                memcpy(dst + len + (e != n->first), e->str, e->len);
            }

            len += e->len + (e != n->first);
        }

        return (long) len;

    default:
        return -1;
    }

    if (dst) {
        memcpy(dst, s, len);
    }

    return (long) len;
}
