
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

/*
 * How much of s may be shown in a message: the offset of what follows its
 * last '@' (what precedes it may be a password), 0 when it has none.
 */
size_t tokenroute_redis_shown(const char *s, size_t len);

/* "CIDR[,CIDR...]" (IPv4 or IPv6, "/N" optional): 0, or -1 */
int tokenroute_redis_masters_valid(const char *list, size_t len);

/*
 * A master's address as a sentinel named it: 0 when HOST is an IP address
 * literal other than the unspecified one, PORT a number 1-65535, and,
 * when list is not NULL, HOST inside one of its CIDRs (*portp set);
 * else -1 (not such an address) or -2 (outside list) with *err a
 * constant message.  Nothing is looked up.
 */
int tokenroute_redis_master_check(const char *host, size_t hlen,
    const char *port, size_t plen, const char *list, size_t llen,
    int *portp, const char **err);


#endif /* _TOKENROUTE_REDIS_URL_H_INCLUDED_ */
