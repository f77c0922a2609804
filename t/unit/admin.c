
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for the admin API's route table and body values
 * (src/tokenroute_admin.c) and the secrets the control plane makes
 * (src/tokenroute_secret.c).  Prints TAP.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_admin.h>
#include <tokenroute_json_tree.h>
#include <tokenroute_secret.h>

#include "tap.h"


/* the path of the last match, kept for its segments */
static char  *copy;


static int
match(const char *method, const char *path, tokenroute_admin_match_t *m)
{
    /* an exact-length heap copy: a sanitizer sees a read past the end */
    free(copy);
    copy = malloc(strlen(path) + 1);
    memcpy(copy, path, strlen(path));

    return tokenroute_admin_match(method, strlen(method), copy, strlen(path),
                                  m);
}


static int
seg_is(tokenroute_admin_match_t *m, size_t i, const char *name,
    const char *value)
{
    return i < m->nseg && m->seg[i].name_len == strlen(name)
           && memcmp(m->seg[i].name, name, strlen(name)) == 0
           && m->seg[i].len == strlen(value)
           && memcmp(m->seg[i].value, value, strlen(value)) == 0;
}


static void
test_routes(void)
{
    tokenroute_admin_match_t  m;

    ok(match("POST", "accounts", &m) == 0
       && strcmp(m.route->script, "accounts") == 0
       && strcmp(m.route->op, "create") == 0 && m.nseg == 0
       && m.route->body,
       "POST accounts: accounts create, with a body");
    ok(match("POST", "/accounts/", &m) == 0
       && strcmp(m.route->op, "create") == 0,
       "leading and trailing slashes ignored");
    ok(match("GET", "accounts/acme/tenants/t1", &m) == 0
       && strcmp(m.route->script, "tenants") == 0
       && strcmp(m.route->op, "show") == 0
       && seg_is(&m, 0, "account", "acme") && seg_is(&m, 1, "name", "t1"),
       "two named segments");
    ok(match("POST", "keys/key_1/rotate", &m) == 0
       && strcmp(m.route->op, "rotate") == 0
       && m.route->secret == TOKENROUTE_ADMIN_ROTATE
       && seg_is(&m, 0, "key", "key_1"),
       "rotate makes a model key for the same id");
    ok(match("POST", "keys", &m) == 0
       && m.route->secret == TOKENROUTE_SECRET_KEY,
       "create makes a model key");
    ok(match("POST", "accounts/acme/credit", &m) == 0
       && strcmp(m.route->op, "credit_add") == 0
       && seg_is(&m, 0, "name", "acme"),
       "an account is \"name\" to ctl_accounts.lua");
    ok(match("POST", "accounts/acme/credit/adjust", &m) == 0
       && strcmp(m.route->op, "credit_adjust") == 0,
       "credit adjust");
    ok(match("POST", "keys/purge", &m) == 0
       && strcmp(m.route->op, "purge") == 0, "a literal before {key}");
    ok(match("GET", "keys/purge", &m) == 0
       && strcmp(m.route->op, "show") == 0 && seg_is(&m, 0, "key", "purge"),
       "GET keys/purge: the key named purge");
    ok(match("PUT", "keys", &m) == TOKENROUTE_ADMIN_BAD_METHOD,
       "known path, wrong method: 405");
    ok(match("GET", "keys/a/b", &m) == TOKENROUTE_ADMIN_NOT_FOUND,
       "unknown path: 404");
    ok(match("GET", "keys//show", &m) == TOKENROUTE_ADMIN_NOT_FOUND,
       "an empty segment matches no {segment}");
    ok(match("GET", "", &m) == TOKENROUTE_ADMIN_NOT_FOUND, "empty path");
    ok(match("GET", "key", &m) == TOKENROUTE_ADMIN_NOT_FOUND
       && match("GET", "keyss", &m) == TOKENROUTE_ADMIN_NOT_FOUND,
       "no prefix match");
    ok(match("GE", "keys", &m) == TOKENROUTE_ADMIN_BAD_METHOD
       && match("GETX", "keys", &m) == TOKENROUTE_ADMIN_BAD_METHOD,
       "methods compared whole");
    ok(match("GET", "usage", &m) == 0
       && strcmp(m.route->script, TOKENROUTE_ADMIN_REPORT) == 0,
       "usage: the report");
    ok(match("POST", "admin-keys", &m) == 0
       && m.route->secret == TOKENROUTE_SECRET_ADMIN,
       "admin-keys create makes an admin key");

    match("GET", "keys", &m);
    ok(tokenroute_admin_query_allowed(m.route, "account", 7)
       && tokenroute_admin_query_allowed(m.route, "cursor", 6)
       && tokenroute_admin_query_allowed(m.route, "limit", 5)
       && !tokenroute_admin_query_allowed(m.route, "acc", 3)
       && !tokenroute_admin_query_allowed(m.route, "", 0)
       && !tokenroute_admin_query_allowed(m.route, "name", 4),
       "query parameters: whole names of the list");
    match("POST", "accounts", &m);
    ok(!tokenroute_admin_query_allowed(m.route, "name", 4),
       "none for a create");
}


static void
value_is(tokenroute_json_tree_t *j, const char *member, long want,
    const char *text)
{
    long                     n;
    char                     buf[256];
    tokenroute_json_node_t  *v;

    v = tokenroute_json_get(j->root, member);
    n = v ? tokenroute_admin_value(v, NULL) : -2;

    if (want < 0 || n != want) {
        ok(n == want, "%s: length %ld, want %ld", member, n, want);
        return;
    }

    memset(buf, 0, sizeof(buf));
    tokenroute_admin_value(v, buf);
    ok(strcmp(buf, text) == 0, "%s: \"%s\"", member, buf);
}


static void
test_values(void)
{
    tokenroute_json_tree_t  j;

    static const char  doc[] =
        "{\"s\":\"ops team\",\"n\":12.50,\"neg\":-1.5,\"t\":true,"
        "\"f\":false,\"z\":null,\"a\":[\"m/a\",\"m/b\"],\"e\":[],"
        "\"one\":[\"x\"],\"bad\":[1],\"o\":{\"x\":1},\"u\":\"\\u00e9\"}";

    memset(&j, 0, sizeof(j));
    ok(tokenroute_json_tree_parse(&j, doc, sizeof(doc) - 1, NULL) == 0,
       "parsed");

    value_is(&j, "s", 8, "ops team");
    value_is(&j, "n", 5, "12.50");
    value_is(&j, "neg", 4, "-1.5");
    value_is(&j, "t", 1, "1");
    value_is(&j, "f", 1, "0");
    value_is(&j, "z", 0, "");
    value_is(&j, "a", 7, "m/a,m/b");
    value_is(&j, "e", 0, "");
    value_is(&j, "one", 1, "x");
    value_is(&j, "bad", -1, NULL);
    value_is(&j, "o", -1, NULL);
    value_is(&j, "u", 2, "\xc3\xa9");

    tokenroute_json_tree_free(&j);
}


static void
test_secrets(void)
{
    char                 hex[65], *out;
    size_t               n;
    tokenroute_secret_t  a, b, k;

    ok(tokenroute_secret_make(&a, TOKENROUTE_SECRET_ADMIN) == 0
       && tokenroute_secret_make(&b, TOKENROUTE_SECRET_ADMIN) == 0
       && tokenroute_secret_make(&k, TOKENROUTE_SECRET_KEY) == 0, "made");

    ok(a.raw_len == 55 && strlen(a.raw) == 55
       && strncmp(a.raw, "sk-tr-admin-", 12) == 0,
       "admin key: sk-tr-admin- and 43 characters");
    ok(tokenroute_secret_admin_valid((unsigned char *) a.raw, a.raw_len)
       == 0, "of the admin key shape");
    ok(strcmp(a.raw, b.raw) != 0 && strcmp(a.id, b.id) != 0,
       "two differ");
    ok(strncmp(a.id, "adm_", 4) == 0 && strlen(a.id) == 20,
       "admin id adm_ and 16 hex");
    ok(strlen(a.prefix) == 18 && strncmp(a.prefix, a.raw, 18) == 0,
       "shown prefix: 18 characters of the raw key");
    tokenroute_sha256_hex(a.raw, a.raw_len, hex);
    ok(strcmp(hex, a.hash) == 0 && strlen(a.hash) == 64,
       "hash: SHA-256 of the raw key");
    tokenroute_sha256_hex("abc", 3, hex);
    ok(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223"
                   "b00361a396177a9cb410ff61f20015ad") == 0,
       "SHA-256 of abc");

    ok(k.raw_len == 49 && strncmp(k.raw, "sk-tr-", 6) == 0
       && strncmp(k.id, "key_", 4) == 0 && strlen(k.prefix) == 12,
       "model key: sk-tr- and 43, key_ id, 12 shown");
    ok(tokenroute_key_valid((unsigned char *) k.raw, k.raw_len) == 0,
       "a model key the gateway accepts");
    ok(tokenroute_secret_admin_valid((unsigned char *) k.raw, k.raw_len)
       != 0, "a model key is not an admin key");
    ok(tokenroute_secret_admin_valid((unsigned char *) a.raw, a.raw_len - 1)
       != 0, "one character short");
    a.raw[30] = '+';
    ok(tokenroute_secret_admin_valid((unsigned char *) a.raw, a.raw_len)
       != 0, "not base64url");

    n = tokenroute_secret_json(NULL, "{\"id\":1}", 8, "RAW", 3);
    out = calloc(1, n + 1);
    tokenroute_secret_json(out, "{\"id\":1}", 8, "RAW", 3);
    ok(n == strlen(out) && strcmp(out, "{\"raw\":\"RAW\",\"id\":1}") == 0,
       "raw first: %s", out);
    free(out);

    n = tokenroute_secret_json(NULL, " { } ", 5, "R", 1);
    out = calloc(1, n + 1);
    tokenroute_secret_json(out, " { } ", 5, "R", 1);
    ok(n == strlen(out) && strcmp(out, " {\"raw\":\"R\" } ") == 0,
       "into an empty object: %s", out);
    free(out);

    /* JSON white space only: a NUL before the brace is not (fuzz) */
    ok(tokenroute_secret_json(NULL, "\0{}", 3, "R", 1) == 0
       && tokenroute_secret_json(NULL, "\v{}", 3, "R", 1) == 0,
       "a NUL or a \\v before the brace: not an object");

    n = tokenroute_secret_json(NULL, "{\0}", 3, "R", 1);
    out = calloc(1, n + 1);
    tokenroute_secret_json(out, "{\0}", 3, "R", 1);
    ok(n == 13 && memcmp(out, "{\"raw\":\"R\",\0}", 13) == 0,
       "a NUL after the brace is no white space: the comma kept");
    free(out);

    ok(tokenroute_secret_json(NULL, "[1]", 3, "R", 1) == 0
       && tokenroute_secret_json(NULL, "", 0, "R", 1) == 0,
       "not an object: 0");
}


int
main(void)
{
    test_routes();
    test_values();
    test_secrets();

    free(copy);

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
