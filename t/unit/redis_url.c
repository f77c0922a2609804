
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for the Redis URLs (src/tokenroute_redis_url.c) that the
 * module's tokenroute_redis and the CLI's TOKENROUTE_REDIS both read.
 * Each input is parsed from a heap copy of its exact length, so that a
 * sanitizer build sees any read past the end.  Prints TAP.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_redis_url.h>

#include "tap.h"


typedef struct {
    const char  *in;
    int          rc;
    const char  *user;
    const char  *password;
    const char  *master;
    long long    db;
    const char  *hosts;      /* "h:p,h:p" as parsed */
    const char  *err;        /* a part of the message */
} url_case_t;


static url_case_t  cases[] = {
    { "redis://127.0.0.1", 0, NULL, NULL, NULL, -1, "127.0.0.1:6379", NULL },
    { "redis://h:7000/3", 0, NULL, NULL, NULL, 3, "h:7000", NULL },
    { "redis://h:7000/", 0, NULL, NULL, NULL, -1, "h:7000", NULL },
    { "redis://pw@h", 0, NULL, "pw", NULL, -1, "h:6379", NULL },
    { "redis://:pw@h", 0, NULL, "pw", NULL, -1, "h:6379", NULL },
    { "redis://u:p%40ss@h", 0, "u", "p@ss", NULL, -1, "h:6379", NULL },
    { "redis://u:p@ss@h:1", 0, "u", "p@ss", NULL, -1, "h:1", NULL },
    { "redis://[::1]:6380/2", 0, NULL, NULL, NULL, 2, "::1:6380", NULL },
    { "redis-sentinel://a:1,b,[::1]:3/mymaster", 0, NULL, NULL, "mymaster",
      -1, "a:1,b:26379,::1:3", NULL },
    { "redis-sentinel://:s3c@a:1/m/4", 0, NULL, "s3c", "m", 4, "a:1", NULL },
    { "rediss://h:6379", -1, NULL, NULL, NULL, -1, NULL, "TLS" },
    { "http://h", -1, NULL, NULL, NULL, -1, NULL, "only redis://" },
    { "redis://", -1, NULL, NULL, NULL, -1, NULL, "host" },
    { "redis://h:0", -1, NULL, NULL, NULL, -1, NULL, "host or port" },
    { "redis://h:65536", -1, NULL, NULL, NULL, -1, NULL, "host or port" },
    { "redis://h:12x", -1, NULL, NULL, NULL, -1, NULL, "host or port" },
    { "redis://h/x", -1, NULL, NULL, NULL, -1, NULL, "database" },
    { "redis://a,b", -1, NULL, NULL, NULL, -1, NULL, "one host" },
    { "redis://u:%zz@h", -1, NULL, NULL, NULL, -1, NULL, "encoding" },
    { "redis://u:%00@h", -1, NULL, NULL, NULL, -1, NULL, "encoding" },
    { "redis://u:%4@h", -1, NULL, NULL, NULL, -1, NULL, "encoding" },
    { "redis-sentinel://a:1", -1, NULL, NULL, NULL, -1, NULL, "MASTER" },
    { "redis-sentinel://a:1/", -1, NULL, NULL, NULL, -1, NULL, "MASTER" },
    { "redis-sentinel://a:1,/m", -1, NULL, NULL, NULL, -1, NULL, "host" },
    { "redis-sentinel://a/m/z", -1, NULL, NULL, NULL, -1, NULL, "database" },
    { "redis-sentinel://a/m x", -1, NULL, NULL, NULL, -1, NULL, "master" },
    { NULL, 0, NULL, NULL, NULL, 0, NULL, NULL }
};


/* a sentinel's answer: host, port, allowed CIDRs or NULL, rc */

typedef struct {
    const char  *host;
    const char  *port;
    const char  *masters;
    int          rc;
} master_case_t;


static master_case_t  masters[] = {
    { "127.0.0.1", "6379", NULL, 0 },
    { "::1", "6379", NULL, 0 },
    { "127.0.0.1", "65535", NULL, 0 },
    { "localhost", "6379", NULL, -1 },
    { "0.0.0.0", "6379", NULL, -1 },
    { "::", "6379", NULL, -1 },
    { "127.0.0.1", "0", NULL, -1 },
    { "127.0.0.1", "70000", NULL, -1 },
    { "127.0.0.1", "065536", NULL, -1 },
    { "127.0.0.1", "", NULL, -1 },
    { "127.0.0.1", "63x", NULL, -1 },
    { "", "6379", NULL, -1 },
    { "127.0.0.1 ", "6379", NULL, -1 },
    { "127.0.0.1", "6379", "127.0.0.1", 0 },
    { "127.0.0.2", "6379", "127.0.0.1", -2 },
    { "127.0.0.2", "6379", "127.0.0.0/8", 0 },
    { "10.1.2.3", "6379", "127.0.0.0/8,10.1.0.0/16", 0 },
    { "10.2.2.3", "6379", "127.0.0.0/8,10.1.0.0/16", -2 },
    { "10.1.2.3", "6379", "10.1.2.0/23", 0 },
    { "10.1.4.3", "6379", "10.1.2.0/23", -2 },
    { "8.8.8.8", "6379", "0.0.0.0/0", 0 },
    { "::1", "6379", "127.0.0.0/8", -2 },
    { "::1", "6379", "::1/128", 0 },
    { "fd00::5", "6379", "fd00::/8", 0 },
    { "fe00::5", "6379", "fd00::/8", -2 },
    { "127.0.0.1", "6379", "::/0", -2 },
    { "localhost", "6379", "0.0.0.0/0", -1 },
    { NULL, NULL, NULL, 0 }
};


static int
same(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }

    return strcmp(a, b) == 0;
}


int
main(void)
{
    int                      rc, port;
    char                    *copy, hosts[256];
    size_t                   len, i, n;
    const char              *err;
    url_case_t              *c;
    master_case_t           *m;
    tokenroute_redis_url_t   u;

    for (c = cases; c->in; c++) {
        len = strlen(c->in);
        copy = malloc(len ? len : 1);
        if (copy == NULL) {
            return 2;
        }

        memcpy(copy, c->in, len);

        ok(tokenroute_redis_is_url(copy, len), "%s: is a URL", c->in);

        err = NULL;
        rc = tokenroute_redis_url_parse(copy, len, &u, &err);

        ok(rc == c->rc, "%s: rc %d", c->in, rc);

        if (c->rc == 0 && rc == 0) {
            hosts[0] = '\0';
            n = 0;

            for (i = 0; i < u.nhosts; i++) {
                n += snprintf(hosts + n, sizeof(hosts) - n, "%s%s:%d",
                              i ? "," : "", u.hosts[i].host,
                              u.hosts[i].port);
            }

            ok(strcmp(hosts, c->hosts) == 0, "%s: hosts %s", c->in, hosts);
            ok(same(u.user, c->user), "%s: user", c->in);
            ok(same(u.password, c->password), "%s: password", c->in);
            ok(same(u.master, c->master), "%s: master", c->in);
            ok(u.db == c->db, "%s: db %lld", c->in, (long long) u.db);

        } else if (c->rc != 0 && rc != 0) {
            ok(err != NULL && strstr(err, c->err) != NULL,
               "%s: error \"%s\"", c->in, err ? err : "(none)");
            ok(err != NULL && strstr(err, "%") == NULL
               && (strstr(c->in, "s3c") == NULL || strstr(err, "s3c") == NULL),
               "%s: the message holds no secret", c->in);
        }

        tokenroute_redis_url_free(&u);
        free(copy);
    }

    ok(!tokenroute_redis_is_url("127.0.0.1:6379", 14), "host:port: no URL");
    ok(!tokenroute_redis_is_url("unix:/tmp/r.sock", 16), "unix: no URL");
    ok(!tokenroute_redis_is_url("[::1]:6379", 10), "[::1]: no URL");
    ok(!tokenroute_redis_is_url("redis:", 6), "redis: alone is no URL");

    ok(tokenroute_redis_shown("a:s3c@h:1", 9) == 6, "shown after '@'");
    ok(tokenroute_redis_shown("a:s@3c@h", 8) == 7, "shown after the last '@'");
    ok(tokenroute_redis_shown("h:1", 3) == 0, "shown: all without '@'");

    ok(tokenroute_redis_masters_valid("10.0.0.0/8,::1/128", 18) == 0,
       "masters: a v4 and a v6 CIDR");
    ok(tokenroute_redis_masters_valid("127.0.0.1", 9) == 0,
       "masters: an address alone");
    ok(tokenroute_redis_masters_valid("10.0.0.0/33", 11) == -1,
       "masters: /33 refused");
    ok(tokenroute_redis_masters_valid("127.0.0.300/8", 13) == -1,
       "masters: a bad address refused");
    ok(tokenroute_redis_masters_valid("10.0.0.0/8,", 11) == -1,
       "masters: an empty item refused");
    ok(tokenroute_redis_masters_valid("host/8", 6) == -1,
       "masters: a name refused");
    ok(tokenroute_redis_masters_valid("10.0.0.0/", 9) == -1,
       "masters: no bits refused");

    for (m = masters; m->host; m++) {
        port = 0;
        err = NULL;
        rc = tokenroute_redis_master_check(m->host, strlen(m->host),
                                           m->port, strlen(m->port),
                                           m->masters,
                                           m->masters ? strlen(m->masters)
                                                      : 0,
                                           &port, &err);
        ok(rc == m->rc && (rc != 0 || port == atoi(m->port))
           && (rc == 0 || err != NULL),
           "master %s port %s in %s: %d (%s)", m->host, m->port,
           m->masters ? m->masters : "(any)", rc, err ? err : "");
    }

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
