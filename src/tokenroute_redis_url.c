
/*
 * Copyright (C) tokenroute authors
 *
 * redis:// and redis-sentinel:// URLs (tokenroute_redis_url.h), read as
 * redis-cli reads redis://: userinfo without ':' is the password, and both
 * are %-decoded.  Unlike redis-cli, userinfo ends at the last '@', so an
 * unencoded '@' in a password works.  Nothing here reads past len.
 */


#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "tokenroute_redis_url.h"


static const char *tokenroute_redis_url_hosts(const char *s, size_t len,
    int port, tokenroute_redis_url_t *u);
static int tokenroute_redis_url_db(const char *s, size_t len, int64_t *db);
static char *tokenroute_redis_decode(const char *s, size_t len);
static int tokenroute_redis_hex(int c);
static int tokenroute_redis_ip(const char *s, size_t len, unsigned char *ip);
static int tokenroute_redis_cidr(const char *s, size_t len,
    unsigned char *ip, int *af, int *bits);


int
tokenroute_redis_is_url(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (s[i] == ':') {
            return i > 0 && len - i >= 3 && s[i + 1] == '/'
                   && s[i + 2] == '/';
        }

        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (i > 0 && ((s[i] >= '0' && s[i] <= '9') || s[i] == '+'
                            || s[i] == '-' || s[i] == '.'))))
        {
            return 0;
        }
    }

    return 0;
}


int
tokenroute_redis_url_parse(const char *s, size_t len,
    tokenroute_redis_url_t *u, const char **err)
{
    int          sentinel;
    size_t       n;
    const char  *end, *at, *colon, *slash, *name, *e;

    memset(u, 0, sizeof(tokenroute_redis_url_t));
    u->db = -1;

    end = s + len;

    if (len >= 8 && strncmp(s, "redis://", 8) == 0) {
        sentinel = 0;
        s += 8;

    } else if (len >= 17 && strncmp(s, "redis-sentinel://", 17) == 0) {
        sentinel = 1;
        s += 17;

    } else if (len >= 9 && strncmp(s, "rediss://", 9) == 0) {
        *err = "rediss:// (TLS to Redis) is not supported by this build";
        return -1;

    } else {
        *err = "only redis:// and redis-sentinel:// URLs are supported";
        return -1;
    }

    /* userinfo: up to the last '@' */

    at = NULL;

    for (e = s; e < end; e++) {
        if (*e == '@') {
            at = e;
        }
    }

    if (at != NULL) {
        colon = memchr(s, ':', at - s);

        if (colon != NULL) {
            u->user = tokenroute_redis_decode(s, colon - s);
            u->password = tokenroute_redis_decode(colon + 1, at - colon - 1);

            if (u->user == NULL || u->password == NULL) {
                *err = "bad user or password encoding";
                return -1;
            }

            if (u->user[0] == '\0') {
                free(u->user);
                u->user = NULL;
            }

        } else {
            u->password = tokenroute_redis_decode(s, at - s);

            if (u->password == NULL) {
                *err = "bad password encoding";
                return -1;
            }
        }

        s = at + 1;
    }

    slash = memchr(s, '/', end - s);
    n = (slash != NULL) ? (size_t) (slash - s) : (size_t) (end - s);

    e = tokenroute_redis_url_hosts(s, n, sentinel ? TOKENROUTE_SENTINEL_PORT
                                                  : TOKENROUTE_REDIS_PORT, u);
    if (e != NULL) {
        *err = e;
        return -1;
    }

    if (!sentinel) {
        if (u->nhosts != 1) {
            *err = "a redis:// URL names one host";
            return -1;
        }

        if (slash != NULL && slash + 1 != end
            && tokenroute_redis_url_db(slash + 1, end - slash - 1, &u->db)
               != 0)
        {
            *err = "bad database number";
            return -1;
        }

        return 0;
    }

    /* redis-sentinel://.../MASTER[/DB] */

    if (slash == NULL || slash + 1 == end) {
        *err = "a redis-sentinel:// URL needs /MASTER, the master's name";
        return -1;
    }

    name = slash + 1;
    slash = memchr(name, '/', end - name);
    n = (slash != NULL) ? (size_t) (slash - name) : (size_t) (end - name);

    for (e = name; e < name + n; e++) {
        if (*e <= ' ' || *e == 0x7f) {
            break;
        }
    }

    if (n == 0 || e != name + n) {
        *err = "bad master name";
        return -1;
    }

    u->master = strndup(name, n);
    if (u->master == NULL) {
        *err = "out of memory";
        return -1;
    }

    if (slash != NULL && slash + 1 != end
        && tokenroute_redis_url_db(slash + 1, end - slash - 1, &u->db) != 0)
    {
        *err = "bad database number";
        return -1;
    }

    return 0;
}


void
tokenroute_redis_url_free(tokenroute_redis_url_t *u)
{
    size_t  i;

    for (i = 0; i < u->nhosts; i++) {
        free(u->hosts[i].host);
    }

    free(u->user);
    free(u->password);
    free(u->master);

    memset(u, 0, sizeof(tokenroute_redis_url_t));
    u->db = -1;
}


/* HOST[:PORT] separated by commas */

static const char *
tokenroute_redis_url_hosts(const char *s, size_t len, int port,
    tokenroute_redis_url_t *u)
{
    const char  *end, *comma;

    end = s + len;

    for ( ;; ) {
        comma = memchr(s, ',', end - s);

        if (comma == NULL) {
            comma = end;
        }

        if (u->nhosts == TOKENROUTE_REDIS_HOSTS_MAX) {
            return "too many hosts";
        }

        if (tokenroute_redis_hostport(s, comma - s, port,
                                      &u->hosts[u->nhosts])
            != 0)
        {
            if (u->hosts[u->nhosts].port == -1) {
                return "out of memory";
            }

            return "bad host or port";
        }

        u->nhosts++;

        if (comma == end) {
            return NULL;
        }

        s = comma + 1;
    }
}


int
tokenroute_redis_hostport(const char *s, size_t len, int port,
    tokenroute_redis_host_t *h)
{
    size_t       hlen, i;
    int64_t      p;
    const char  *host, *q, *colon;

    h->host = NULL;
    h->port = 0;

    host = s;
    hlen = len;
    colon = NULL;

    if (len > 0 && s[0] == '[') {
        q = memchr(s, ']', len);

        if (q == NULL || (q + 1 != s + len && q[1] != ':')) {
            return -1;
        }

        host = s + 1;
        hlen = q - host;

        if (q + 1 != s + len) {
            colon = q + 1;
        }

    } else {
        /* more than one ':' is a bare IPv6 address without a port */
        colon = memchr(s, ':', len);

        if (colon != NULL
            && memchr(colon + 1, ':', s + len - colon - 1) != NULL)
        {
            colon = NULL;
        }

        if (colon != NULL) {
            hlen = colon - s;
        }
    }

    if (hlen == 0) {
        return -1;
    }

    for (i = 0; i < hlen; i++) {
        if (host[i] <= ' ' || host[i] == 0x7f || host[i] == '/'
            || host[i] == '@' || host[i] == ',' || host[i] == '['
            || host[i] == ']')
        {
            return -1;
        }
    }

    if (colon != NULL) {
        q = colon + 1;

        if (q == s + len || s + len - q > 5) {
            return -1;
        }

        for (p = 0; q < s + len; q++) {
            if (*q < '0' || *q > '9') {
                return -1;
            }

            p = p * 10 + (*q - '0');
        }

        if (p < 1 || p > 65535) {
            return -1;
        }

        port = (int) p;
    }

    h->host = strndup(host, hlen);
    if (h->host == NULL) {
        h->port = -1;
        return -1;
    }

    h->port = port;

    return 0;
}


static int
tokenroute_redis_url_db(const char *s, size_t len, int64_t *db)
{
    size_t   i;
    int64_t  n;

    if (len == 0 || len > 9) {
        return -1;
    }

    for (n = 0, i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        n = n * 10 + (s[i] - '0');
    }

    *db = n;

    return 0;
}


static char *
tokenroute_redis_decode(const char *s, size_t len)
{
    int     hi, lo;
    char   *out, *d;
    size_t  i;

    out = malloc(len + 1);
    if (out == NULL) {
        return NULL;
    }

    d = out;

    for (i = 0; i < len; i++) {
        if (s[i] != '%') {
            *d++ = s[i];
            continue;
        }

        if (len - i < 3) {
            free(out);
            return NULL;
        }

        hi = tokenroute_redis_hex(s[i + 1]);
        lo = tokenroute_redis_hex(s[i + 2]);

        /* a NUL byte would silently cut the password short */
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }

        *d++ = (char) (hi << 4 | lo);
        i += 2;
    }

    *d = '\0';

    return out;
}


static int
tokenroute_redis_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


size_t
tokenroute_redis_shown(const char *s, size_t len)
{
    size_t  i;

    for (i = len; i > 0; i--) {
        if (s[i - 1] == '@') {
            return i;
        }
    }

    return 0;
}


int
tokenroute_redis_masters_valid(const char *list, size_t len)
{
    int            af, bits;
    const char    *p, *end, *comma;
    unsigned char  ip[16];

    p = list;
    end = list + len;

    for ( ;; ) {
        comma = memchr(p, ',', end - p);
        if (comma == NULL) {
            comma = end;
        }

        if (tokenroute_redis_cidr(p, comma - p, ip, &af, &bits) != 0) {
            return -1;
        }

        if (comma == end) {
            return 0;
        }

        p = comma + 1;
    }
}


int
tokenroute_redis_master_check(const char *host, size_t hlen,
    const char *port, size_t plen, const char *list, size_t llen,
    int *portp, const char **err)
{
    int             af, naf, bits, n;
    size_t          i;
    const char     *p, *end, *comma;
    unsigned char   ip[16], net[16], mask;
    static const unsigned char  zero[16];

    n = 0;

    for (i = 0; i < plen && i < 6; i++) {
        if (port[i] < '0' || port[i] > '9') {
            break;
        }

        n = n * 10 + (port[i] - '0');
    }

    if (plen == 0 || i != plen || n < 1 || n > 65535) {
        *err = "no port 1-65535";
        return -1;
    }

    /* a host name would be looked up: blocking, and anyone's answer */

    af = tokenroute_redis_ip(host, hlen, ip);

    if (af == 0) {
        *err = "not an IP address";
        return -1;
    }

    if (memcmp(ip, zero, af == AF_INET ? 4 : 16) == 0) {
        *err = "the unspecified address";
        return -1;
    }

    *portp = n;

    if (list == NULL) {
        return 0;
    }

    p = list;
    end = list + llen;

    for ( ;; ) {
        comma = memchr(p, ',', end - p);
        if (comma == NULL) {
            comma = end;
        }

        if (tokenroute_redis_cidr(p, comma - p, net, &naf, &bits) == 0
            && naf == af)
        {
            for (i = 0; bits > 0; i++, bits -= 8) {
                mask = bits >= 8 ? 0xff : (unsigned char) (0xff << (8 - bits));

                if ((ip[i] & mask) != (net[i] & mask)) {
                    break;
                }
            }

            if (bits <= 0) {
                return 0;
            }
        }

        if (comma == end) {
            break;
        }

        p = comma + 1;
    }

    *err = "outside the masters allowed";
    return -2;
}


/* AF_INET or AF_INET6 with the address in ip, or 0 */

static int
tokenroute_redis_ip(const char *s, size_t len, unsigned char *ip)
{
    char  buf[64];

    if (len == 0 || len >= sizeof(buf)) {
        return 0;
    }

    memcpy(buf, s, len);
    buf[len] = '\0';

    if (inet_pton(AF_INET, buf, ip) == 1) {
        return AF_INET;
    }

    if (inet_pton(AF_INET6, buf, ip) == 1) {
        return AF_INET6;
    }

    return 0;
}


static int
tokenroute_redis_cidr(const char *s, size_t len, unsigned char *ip, int *af,
    int *bits)
{
    int          n, max;
    size_t       i;
    const char  *slash;

    slash = memchr(s, '/', len);

    *af = tokenroute_redis_ip(s, slash ? (size_t) (slash - s) : len, ip);

    if (*af == 0) {
        return -1;
    }

    max = (*af == AF_INET) ? 32 : 128;

    if (slash == NULL) {
        *bits = max;
        return 0;
    }

    slash++;
    len -= slash - s;
    n = 0;

    for (i = 0; i < len && i < 3; i++) {
        if (slash[i] < '0' || slash[i] > '9') {
            return -1;
        }

        n = n * 10 + (slash[i] - '0');
    }

    if (len == 0 || i != len || n > max) {
        return -1;
    }

    *bits = n;

    return 0;
}
