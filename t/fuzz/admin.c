
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: the admin API's pure request handling
 * (src/tokenroute_admin.c): the route of a method and a path, the query
 * parameters a route takes, and a JSON body's members as parameters'
 * text.  Input: lines "method\npath\nquery name\n", then the body (a
 * missing line is empty).
 *
 * Properties: the match (route, 404 or 405) is that of a plain
 * restatement (leading and trailing '/' dropped, segments split on '/',
 * none empty, "{name}" any segment, the first route of the table whose
 * path and method both match); a route found has the method asked for,
 * its segments are the path's, and its path with them put in is the
 * path; the query verdict for every route that of its comma list; each
 * member of a body the API would take (JSON, validated, depth 3, an
 * object) written in exactly the length announced, and as the rules say
 * (a string or a number as written, true "1", false "0", null "", an
 * array of strings joined with commas, -1 for anything else).
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_admin.h>
#include <tokenroute_json_tree.h>

#include "fuzz.h"


typedef struct {
    const char  *p;
    size_t       len;
} ref_str_t;


/* the segments of s split on '/'; -1 for more than max */

static int
ref_split(const char *s, size_t len, ref_str_t *seg, size_t max, size_t *n)
{
    size_t  i, start;

    *n = 0;
    start = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && s[i] != '/') {
            continue;
        }

        if (*n == max) {
            return -1;
        }

        seg[*n].p = s + start;
        seg[*n].len = i - start;
        (*n)++;
        start = i + 1;
    }

    return 0;
}


static int
ref_param(const ref_str_t *s)
{
    return s->len > 2 && s->p[0] == '{' && s->p[s->len - 1] == '}';
}


/* whether the route's path matches the segments */

static int
ref_path(tokenroute_admin_route_t *route, ref_str_t *seg, size_t n)
{
    size_t     i, pn;
    ref_str_t  pat[16];

    if (ref_split(route->path, strlen(route->path), pat, 16, &pn) != 0
        || pn != n)
    {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (seg[i].len == 0) {
            return 0;
        }

        if (ref_param(&pat[i])) {
            continue;
        }

        if (pat[i].len != seg[i].len
            || memcmp(pat[i].p, seg[i].p, seg[i].len) != 0)
        {
            return 0;
        }
    }

    return 1;
}


static void
check_match(const char *method, size_t mlen, const char *path, size_t len)
{
    int                        rc, want, known;
    size_t                     i, k, n, pn, plen;
    ref_str_t                  seg[64], pat[16];
    const char                *p;
    tokenroute_admin_match_t   m;
    tokenroute_admin_route_t  *route, *found;

    p = path;
    plen = len;

    while (plen && p[0] == '/') {
        p++;
        plen--;
    }

    while (plen && p[plen - 1] == '/') {
        plen--;
    }

    found = NULL;
    known = 0;

    if (ref_split(p, plen, seg, 64, &n) == 0) {
        for (route = tokenroute_admin_routes; route->method; route++) {
            if (!ref_path(route, seg, n)) {
                continue;
            }

            if (strlen(route->method) == mlen
                && memcmp(route->method, method, mlen) == 0)
            {
                found = route;
                break;
            }

            known = 1;
        }
    }

    want = found ? 0 : known ? TOKENROUTE_ADMIN_BAD_METHOD
                             : TOKENROUTE_ADMIN_NOT_FOUND;

    memset(&m, 0xa5, sizeof(m));

    rc = tokenroute_admin_match(method, mlen, path, len, &m);

    fuzz_check(rc == want, "the verdict of the rules");

    if (rc != 0) {
        return;
    }

    fuzz_check(m.route == found, "the first route that matches");
    fuzz_check(strlen(m.route->method) == mlen
               && memcmp(m.route->method, method, mlen) == 0,
               "the method asked for");

    /* the route's path with the segments put in is the path */

    ref_split(m.route->path, strlen(m.route->path), pat, 16, &pn);

    fuzz_check(pn == n, "as many segments as the route's path");

    for (i = 0, k = 0; i < pn; i++) {
        if (!ref_param(&pat[i])) {
            continue;
        }

        fuzz_check(k < m.nseg, "each {segment} given");
        fuzz_check(m.seg[k].name_len == pat[i].len - 2
                   && memcmp(m.seg[k].name, pat[i].p + 1,
                             pat[i].len - 2) == 0,
                   "the segment's name");
        fuzz_check(m.seg[k].value == seg[i].p && m.seg[k].len == seg[i].len
                   && m.seg[k].len != 0
                   && memchr(m.seg[k].value, '/', m.seg[k].len) == NULL,
                   "the segment's value, in the path");
        k++;
    }

    fuzz_check(k == m.nseg, "no other segment");
}


static void
check_query(const char *name, size_t len)
{
    int                        want;
    const char                *s, *e;
    tokenroute_admin_route_t  *route;

    for (route = tokenroute_admin_routes; route->method; route++) {
        want = 0;

        for (s = route->query; *s; s = (*e == ',') ? e + 1 : e) {
            e = strchr(s, ',');
            if (e == NULL) {
                e = s + strlen(s);
            }

            if ((size_t) (e - s) == len && len != 0
                && memcmp(s, name, len) == 0)
            {
                want = 1;
            }
        }

        fuzz_check(tokenroute_admin_query_allowed(route, name, len) == want,
                   "the route's query parameters");
    }
}


/* a member's text as the rules say, into dst; -1 where refused */

static long
ref_value(tokenroute_json_node_t *v, char *dst)
{
    size_t                   len;
    tokenroute_json_node_t  *e;

    switch (v->type) {

    case TOKENROUTE_JSON_T_STRING:
    case TOKENROUTE_JSON_T_NUMBER:
        memcpy(dst, v->str, v->len);
        return (long) v->len;

    case TOKENROUTE_JSON_T_TRUE:
        dst[0] = '1';
        return 1;

    case TOKENROUTE_JSON_T_FALSE:
        dst[0] = '0';
        return 1;

    case TOKENROUTE_JSON_T_NULL:
        return 0;

    case TOKENROUTE_JSON_T_ARRAY:
        len = 0;

        for (e = v->first; e; e = e->next) {
            if (e->type != TOKENROUTE_JSON_T_STRING) {
                return -1;
            }

            if (e != v->first) {
                dst[len++] = ',';
            }

            memcpy(dst + len, e->str, e->len);
            len += e->len;
        }

        return (long) len;

    default:
        return -1;
    }
}


static void
check_body(const char *body, size_t len)
{
    long                     n;
    char                    *out, *want;
    tokenroute_json_tree_t   j;
    tokenroute_json_node_t  *m;

    memset(&j, 0, sizeof(j));
    j.validate = 1;
    j.max_depth = 3;

    if (tokenroute_json_tree_parse(&j, body, len, NULL) != 0
        || j.root == NULL || j.root->type != TOKENROUTE_JSON_T_MAP)
    {
        tokenroute_json_tree_free(&j);
        return;
    }

    /* a member's text is never longer than the body */
    want = malloc(len + 1);
    if (want == NULL) {
        abort();
    }

    for (m = j.root->first; m; m = m->next) {
        n = tokenroute_admin_value(m, NULL);

        fuzz_check(n == ref_value(m, want), "the length of the rules");

        if (n < 0) {
            continue;
        }

        fuzz_check((size_t) n <= len, "no longer than the body");

        /* exactly n bytes: ASan sees a write past them */
        out = malloc(n ? n : 1);
        if (out == NULL) {
            abort();
        }

        fuzz_check(tokenroute_admin_value(m, out) == n, "the same length");
        fuzz_check(memcmp(out, want, n) == 0, "the text of the rules");

        free(out);
    }

    free(want);
    tokenroute_json_tree_free(&j);
}


/* the next line of the input, or the rest of it */

static const char *
next_line(const uint8_t **p, const uint8_t *end, size_t *len)
{
    const uint8_t  *s, *nl;

    s = *p;
    nl = memchr(s, '\n', end - s);

    if (nl == NULL) {
        *len = end - s;
        *p = end;

    } else {
        *len = nl - s;
        *p = nl + 1;
    }

    return (const char *) s;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char            *method, *path, *name;
    size_t           mlen, len, nlen;
    const char      *s;
    const uint8_t   *p, *end;

    p = data;
    end = data + size;

    /* copies of their exact size: ASan sees a read past them */

    s = next_line(&p, end, &mlen);
    method = malloc(mlen ? mlen : 1);
    s = memcpy(method, s, mlen);

    s = next_line(&p, end, &len);
    path = malloc(len ? len : 1);
    memcpy(path, s, len);

    s = next_line(&p, end, &nlen);
    name = malloc(nlen ? nlen : 1);
    memcpy(name, s, nlen);

    if (method == NULL || path == NULL || name == NULL) {
        abort();
    }

    check_match(method, mlen, path, len);
    check_query(name, nlen);
    check_body((const char *) p, end - p);

    free(method);
    free(path);
    free(name);

    return 0;
}
