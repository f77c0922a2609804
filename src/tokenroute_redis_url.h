
/*
 * Copyright (C) tokenroute authors
 *
 * Redis addresses written as URLs, read the same by the module's
 * tokenroute_redis and by the CLI's TOKENROUTE_REDIS
 * (tokenroute_redis_url.c):
 *
 *     redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]
 *     redis-sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]
 *         /MASTER[/DB]
 *
 * rediss:// is refused: this build has no TLS to Redis.
 */


#ifndef _TOKENROUTE_REDIS_URL_H_INCLUDED_
#define _TOKENROUTE_REDIS_URL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define TOKENROUTE_REDIS_PORT         6379
#define TOKENROUTE_SENTINEL_PORT      26379
#define TOKENROUTE_REDIS_HOSTS_MAX    16


typedef struct {
    char                      *host;     /* without brackets */
    int                        port;
} tokenroute_redis_host_t;


typedef struct {
    char                      *user;     /* NULL: none */
    char                      *password; /* NULL: none */
    char                      *master;   /* NULL: not a sentinel URL */
    int64_t                    db;       /* -1: not given */
    size_t                     nhosts;
    tokenroute_redis_host_t    hosts[TOKENROUTE_REDIS_HOSTS_MAX];
} tokenroute_redis_url_t;


/* 1 when s starts with a scheme ("xxx://"): the URL forms above */
int tokenroute_redis_is_url(const char *s, size_t len);

/*
 * 0, or -1 with *err a constant message (what is wrong, never the
 * password); u is freed by tokenroute_redis_url_free() either way.
 */
int tokenroute_redis_url_parse(const char *s, size_t len,
    tokenroute_redis_url_t *u, const char **err);
void tokenroute_redis_url_free(tokenroute_redis_url_t *u);

/* HOST[:PORT] or [V6][:PORT]; 0 or -1 (bad, or out of memory: h->host) */
int tokenroute_redis_hostport(const char *s, size_t len, int port,
    tokenroute_redis_host_t *h);


#endif /* _TOKENROUTE_REDIS_URL_H_INCLUDED_ */
