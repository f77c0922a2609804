
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: the Redis address rules (src/tokenroute_redis_url.c),
 * which read the operator's URLs and, from the network, what a sentinel
 * names as master.  The first byte picks the function, the rest is its
 * input:
 *
 *   0  tokenroute_redis_url_parse(): a URL it accepts has 1 to
 *      TOKENROUTE_REDIS_HOSTS_MAX hosts, none empty nor holding a
 *      separator, ports 1-65535; a refusal's message is a constant, never
 *      a piece of the input (a password)
 *   1  tokenroute_redis_master_check(): "HOST\nPORT[\nCIDRS]"; an accepted
 *      master is an IP literal inet_pton() reads, not the unspecified
 *      address, with a port 1-65535; "outside the list" only with a list
 *   2  tokenroute_redis_shown(): nothing shown holds an '@'
 *   3  tokenroute_redis_hostport(): as 0, for one host
 */


#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_redis_url.h>

#include "fuzz.h"


static void
check_host(tokenroute_redis_host_t *h)
{
    fuzz_check(h->host != NULL && h->host[0] != '\0', "a host");
    fuzz_check(strpbrk(h->host, "@,/ \t\r\n") == NULL,
               "no separator in a host");
    fuzz_check(h->port >= 1 && h->port <= 65535, "a port 1-65535");
}


static void
check_err(const char *err, const uint8_t *data, size_t size)
{
    fuzz_check(err != NULL, "a refusal says why");
    fuzz_check((const uint8_t *) err < data
               || (const uint8_t *) err >= data + size,
               "the message is not the input");
}


static void
fuzz_url(const uint8_t *data, size_t size)
{
    size_t                   i;
    const char              *err;
    tokenroute_redis_url_t   u;

    err = NULL;

    if (tokenroute_redis_url_parse((const char *) data, size, &u, &err)
        == 0)
    {
        fuzz_check(u.nhosts >= 1 && u.nhosts <= TOKENROUTE_REDIS_HOSTS_MAX,
                   "1 to TOKENROUTE_REDIS_HOSTS_MAX hosts");

        for (i = 0; i < u.nhosts; i++) {
            check_host(&u.hosts[i]);
        }

        fuzz_check(u.db >= -1, "db -1 (none) or a number");
        fuzz_check(u.nhosts == 1 || u.master != NULL,
                   "several hosts: sentinels only");

    } else {
        check_err(err, data, size);
    }

    tokenroute_redis_url_free(&u);
}


static void
fuzz_master(const uint8_t *data, size_t size)
{
    int                 rc, port;
    char                ip[64];
    size_t              hlen, plen, llen;
    const char         *s, *nl, *p, *list, *err;
    unsigned char       addr[16];
    static const char   zero[16];

    s = (const char *) data;

    nl = memchr(s, '\n', size);
    if (nl == NULL) {
        return;
    }

    hlen = nl - s;
    p = nl + 1;

    nl = memchr(p, '\n', s + size - p);

    if (nl != NULL) {
        plen = nl - p;
        list = nl + 1;
        llen = s + size - list;

    } else {
        plen = s + size - p;
        list = NULL;
        llen = 0;
    }

    port = 0;
    err = NULL;

    rc = tokenroute_redis_master_check(s, hlen, p, plen, list, llen, &port,
                                       &err);

    if (rc != 0) {
        fuzz_check(rc == -1 || (rc == -2 && list != NULL),
                   "-1, or -2 with a list");
        check_err(err, data, size);
        return;
    }

    fuzz_check(port >= 1 && port <= 65535, "a port 1-65535");
    fuzz_check(hlen < sizeof(ip), "an IP literal is short");

    memcpy(ip, s, hlen);
    ip[hlen] = '\0';

    if (inet_pton(AF_INET, ip, addr) == 1) {
        fuzz_check(memcmp(addr, zero, 4) != 0, "not 0.0.0.0");

    } else {
        fuzz_check(inet_pton(AF_INET6, ip, addr) == 1, "an IP literal");
        fuzz_check(memcmp(addr, zero, 16) != 0, "not ::");
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                   off;
    tokenroute_redis_host_t  h;

    if (size == 0) {
        return 0;
    }

    switch (data[0] % 4) {

    case 0:
        fuzz_url(data + 1, size - 1);
        break;

    case 1:
        fuzz_master(data + 1, size - 1);
        break;

    case 2:
        off = tokenroute_redis_shown((const char *) data + 1, size - 1);
        fuzz_check(off <= size - 1, "within the input");
        fuzz_check(memchr(data + 1 + off, '@', size - 1 - off) == NULL,
                   "nothing shown holds an '@'");
        break;

    default:
        if (tokenroute_redis_hostport((const char *) data + 1, size - 1,
                                      6379, &h)
            == 0)
        {
            check_host(&h);
        }

        free(h.host);
        break;
    }

    return 0;
}
