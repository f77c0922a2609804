
/*
 * Copyright (C) tokenroute authors
 *
 * AWS Signature Version 4, as the published specification and its test
 * suite describe it (t/unit/sigv4.c runs the suite's vectors).
 */


#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "tokenroute_sigv4.h"


typedef struct {
    const char  *key;
    size_t       key_len;
    const char  *value;
    size_t       value_len;
} tokenroute_sigv4_param_t;


static size_t tokenroute_sigv4_path(const tokenroute_sigv4_t *s, char *out);
static size_t tokenroute_sigv4_query(const tokenroute_sigv4_t *s, char *out);
static size_t tokenroute_sigv4_headers(const tokenroute_sigv4_t *s,
    char *out, size_t *order, char *signed_names, size_t *signed_len);
static size_t tokenroute_sigv4_decode_encode(const char *p, size_t n,
    char *out);
static int tokenroute_sigv4_name_cmp(const tokenroute_sigv4_header_t *a,
    const tokenroute_sigv4_header_t *b);
static int tokenroute_sigv4_param_cmp(const void *a, const void *b);


static char *
tr_sigv4_cpy(char *dst, const char *src, size_t n)
{
    return (char *) memcpy(dst, src, n) + n;
}


void
tokenroute_sigv4_sha256_hex(const void *p, size_t n, char *hex)
{
    unsigned char  md[SHA256_DIGEST_LENGTH];

    SHA256(p, n, md);
    tokenroute_sigv4_hash_hex(md, sizeof(md), hex);
}


void
tokenroute_sigv4_amz_date(time_t t, char *date)
{
    struct tm  tm;

    gmtime_r(&t, &tm);

    strftime(date, TOKENROUTE_SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}


/* RFC 3986 unreserved characters stay, every other byte is %XX (upper) */

size_t
tokenroute_sigv4_uri_encode(const unsigned char *p, size_t n, char *out,
    int keep_slash)
{
    char    *o;
    size_t   i;
    unsigned char  c;

    static const char  upper[] = "0123456789ABCDEF";

    o = out;

    for (i = 0; i < n; i++) {
        c = p[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '~' || (c == '/' && keep_slash))
        {
            *o++ = (char) c;
            continue;
        }

        *o++ = '%';
        *o++ = upper[c >> 4];
        *o++ = upper[c & 0xf];
    }

    return o - out;
}


char *
tokenroute_sigv4_canonical_request(const tokenroute_sigv4_t *s, size_t *len)
{
    char    *out, *p, *names;
    size_t   i, size, names_len, *order;

    size = strlen(s->method) + 3 * s->path_len + 4 * s->query_len
           + TOKENROUTE_SIGV4_HEX_LEN + 16;

    for (i = 0; i < s->nheaders; i++) {
        if (s->headers[i].name_len == 0) {
            return NULL;
        }

        size += 2 * s->headers[i].name_len + s->headers[i].value_len + 4;
    }

    out = malloc(size);
    names = malloc(size);
    order = malloc((s->nheaders + 1) * sizeof(size_t));

    if (out == NULL || names == NULL || order == NULL) {
        free(out);
        free(names);
        free(order);
        return NULL;
    }

    p = tr_sigv4_cpy(out, s->method, strlen(s->method));
    *p++ = '\n';
    p += tokenroute_sigv4_path(s, p);
    *p++ = '\n';
    p += tokenroute_sigv4_query(s, p);
    *p++ = '\n';
    p += tokenroute_sigv4_headers(s, p, order, names, &names_len);
    *p++ = '\n';
    memcpy(p, names, names_len);
    p += names_len;
    *p++ = '\n';
    memcpy(p, s->payload_hash, TOKENROUTE_SIGV4_HEX_LEN);
    p += TOKENROUTE_SIGV4_HEX_LEN;
    *p = '\0';

    free(names);
    free(order);

    *len = p - out;

    return out;
}


/*
 * The path as sent, each segment encoded once more; normalized, "." and
 * empty segments go and ".." drops the one before (RFC 3986 5.2.4).
 */

static size_t
tokenroute_sigv4_path(const tokenroute_sigv4_t *s, char *out)
{
    char        *o;
    size_t       i, n, nseg, *seg_len;
    const char  *p, *end, *seg, **segs;

    if (s->path_len == 0) {
        out[0] = '/';
        return 1;
    }

    if (!s->normalize) {
        return tokenroute_sigv4_uri_encode((const unsigned char *) s->path,
                                           s->path_len, out, 1);
    }

    /* the segments are kept as pointers into the path: at most len + 1 */

    n = s->path_len + 1;
    segs = malloc(n * sizeof(char *));
    seg_len = malloc(n * sizeof(size_t));

    if (segs == NULL || seg_len == NULL) {
        free(segs);
        free(seg_len);
        out[0] = '/';
        return 1;
    }

    nseg = 0;
    p = s->path;
    end = s->path + s->path_len;

    while (p < end) {
        while (p < end && *p == '/') {
            p++;
        }

        seg = p;

        while (p < end && *p != '/') {
            p++;
        }

        n = p - seg;

        if (n == 0 || (n == 1 && seg[0] == '.')) {
            continue;
        }

        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            if (nseg) {
                nseg--;
            }

            continue;
        }

        segs[nseg] = seg;
        seg_len[nseg++] = n;
    }

    o = out;

    for (i = 0; i < nseg; i++) {
        *o++ = '/';
        o += tokenroute_sigv4_uri_encode((const unsigned char *) segs[i],
                                         seg_len[i], o, 0);
    }

    if (nseg == 0 || s->path[s->path_len - 1] == '/') {
        *o++ = '/';
    }

    free(segs);
    free(seg_len);

    return o - out;
}


/* the parameters decoded and encoded again, sorted by key, then value */

static size_t
tokenroute_sigv4_query(const tokenroute_sigv4_t *s, char *out)
{
    char                      *o, *buf, *b;
    size_t                     i, n;
    const char                *p, *end, *param, *eq;
    tokenroute_sigv4_param_t  *params;

    if (s->query_len == 0) {
        return 0;
    }

    n = 1;

    for (i = 0; i < s->query_len; i++) {
        n += (s->query[i] == '&');
    }

    params = malloc(n * sizeof(tokenroute_sigv4_param_t));
    buf = malloc(3 * s->query_len + 1);

    if (params == NULL || buf == NULL) {
        free(params);
        free(buf);
        return 0;
    }

    n = 0;
    b = buf;
    p = s->query;
    end = s->query + s->query_len;

    while (p < end) {
        param = p;

        while (p < end && *p != '&') {
            p++;
        }

        if (p == param) {
            p++;
            continue;
        }

        eq = memchr(param, '=', p - param);
        if (eq == NULL) {
            eq = p;
        }

        params[n].key = b;
        params[n].key_len = tokenroute_sigv4_decode_encode(param, eq - param,
                                                           b);
        b += params[n].key_len;

        params[n].value = b;
        params[n].value_len = (eq < p)
            ? tokenroute_sigv4_decode_encode(eq + 1, p - eq - 1, b) : 0;
        b += params[n].value_len;

        n++;

        if (p < end) {
            p++;
        }
    }

    qsort(params, n, sizeof(tokenroute_sigv4_param_t),
          tokenroute_sigv4_param_cmp);

    o = out;

    for (i = 0; i < n; i++) {
        if (i) {
            *o++ = '&';
        }

        memcpy(o, params[i].key, params[i].key_len);
        o += params[i].key_len;
        *o++ = '=';
        memcpy(o, params[i].value, params[i].value_len);
        o += params[i].value_len;
    }

    free(params);
    free(buf);

    return o - out;
}


static size_t
tokenroute_sigv4_decode_encode(const char *p, size_t n, char *out)
{
    size_t  i, k;
    unsigned char  c, hi, lo, byte[1];

    k = 0;

    for (i = 0; i < n; i++) {
        c = (unsigned char) p[i];

        if (c == '%' && i + 2 < n) {
            hi = (unsigned char) p[i + 1];
            lo = (unsigned char) p[i + 2];

            hi = (hi >= '0' && hi <= '9') ? hi - '0'
                 : ((hi | 0x20) >= 'a' && (hi | 0x20) <= 'f')
                   ? (hi | 0x20) - 'a' + 10 : 0xff;
            lo = (lo >= '0' && lo <= '9') ? lo - '0'
                 : ((lo | 0x20) >= 'a' && (lo | 0x20) <= 'f')
                   ? (lo | 0x20) - 'a' + 10 : 0xff;

            if (hi != 0xff && lo != 0xff) {
                c = (unsigned char) (hi << 4 | lo);
                i += 2;
            }
        }

        byte[0] = c;
        k += tokenroute_sigv4_uri_encode(byte, 1, out + k, 0);
    }

    return k;
}


static int
tokenroute_sigv4_param_cmp(const void *a, const void *b)
{
    int                              rc;
    size_t                           n;
    const tokenroute_sigv4_param_t  *pa = a, *pb = b;

    n = pa->key_len < pb->key_len ? pa->key_len : pb->key_len;
    rc = memcmp(pa->key, pb->key, n);

    if (rc == 0 && pa->key_len != pb->key_len) {
        rc = pa->key_len < pb->key_len ? -1 : 1;
    }

    if (rc) {
        return rc;
    }

    n = pa->value_len < pb->value_len ? pa->value_len : pb->value_len;
    rc = memcmp(pa->value, pb->value, n);

    if (rc == 0 && pa->value_len != pb->value_len) {
        rc = pa->value_len < pb->value_len ? -1 : 1;
    }

    return rc;
}


/*
 * "name:value\n" sorted by the lowercased name (a stable sort: the values
 * of a repeated name joined with ',' in the order sent), each value
 * trimmed and its runs of white space folded to one space.
 */

static size_t
tokenroute_sigv4_headers(const tokenroute_sigv4_t *s, char *out,
    size_t *order, char *signed_names, size_t *signed_len)
{
    char                              *o, *sn;
    size_t                             i, j, k, t;
    const char                        *v, *vend;
    const tokenroute_sigv4_header_t   *h;

    for (i = 0; i < s->nheaders; i++) {
        order[i] = i;
    }

    for (i = 1; i < s->nheaders; i++) {
        t = order[i];

        for (j = i; j > 0; j--) {
            if (tokenroute_sigv4_name_cmp(&s->headers[order[j - 1]],
                                          &s->headers[t]) <= 0)
            {
                break;
            }

            order[j] = order[j - 1];
        }

        order[j] = t;
    }

    o = out;
    sn = signed_names;

    for (i = 0; i < s->nheaders; i++) {
        h = &s->headers[order[i]];

        if (i && tokenroute_sigv4_name_cmp(&s->headers[order[i - 1]], h) == 0)
        {
            *o++ = ',';

        } else {
            if (i) {
                *o++ = '\n';
                *sn++ = ';';
            }

            for (k = 0; k < h->name_len; k++) {
                *sn = (char) ((h->name[k] >= 'A' && h->name[k] <= 'Z')
                              ? h->name[k] | 0x20 : h->name[k]);
                *o++ = *sn++;
            }

            *o++ = ':';
        }

        v = h->value;
        vend = h->value + h->value_len;

        while (v < vend && (*v == ' ' || *v == '\t' || *v == '\r'
                            || *v == '\n'))
        {
            v++;
        }

        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'
                            || vend[-1] == '\r' || vend[-1] == '\n'))
        {
            vend--;
        }

        while (v < vend) {
            if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
                while (v < vend && (*v == ' ' || *v == '\t' || *v == '\r'
                                    || *v == '\n'))
                {
                    v++;
                }

                *o++ = ' ';
                continue;
            }

            *o++ = *v++;
        }
    }

    if (s->nheaders) {
        *o++ = '\n';
    }

    *signed_len = sn - signed_names;

    return o - out;
}


static int
tokenroute_sigv4_name_cmp(const tokenroute_sigv4_header_t *a,
    const tokenroute_sigv4_header_t *b)
{
    size_t  i;
    int     ca, cb;

    for (i = 0; i < a->name_len && i < b->name_len; i++) {
        ca = (unsigned char) a->name[i];
        cb = (unsigned char) b->name[i];
        ca = (ca >= 'A' && ca <= 'Z') ? ca | 0x20 : ca;
        cb = (cb >= 'A' && cb <= 'Z') ? cb | 0x20 : cb;

        if (ca != cb) {
            return ca - cb;
        }
    }

    return (a->name_len > b->name_len) - (a->name_len < b->name_len);
}


char *
tokenroute_sigv4_string_to_sign(const tokenroute_sigv4_t *s,
    const char *creq, size_t creq_len, size_t *len)
{
    char    *out, *p;
    size_t   n, dlen, rlen, slen;
    char     hex[TOKENROUTE_SIGV4_HEX_LEN + 1];

    if (s->hash == NULL) {
        tokenroute_sigv4_sha256_hex(creq, creq_len, hex);

    } else if (tokenroute_sigv4_hash_sha256_hex(s->hash, creq, creq_len, hex)
               != 0)
    {
        return NULL;
    }

    /* "AWS4-HMAC-SHA256\nDATE\nDAY/REGION/SERVICE/aws4_request\nHEX" */

    dlen = strnlen(s->amz_date, TOKENROUTE_SIGV4_DATE_LEN);
    rlen = strlen(s->region);
    slen = strlen(s->service);

    out = malloc(sizeof("AWS4-HMAC-SHA256\n\n///aws4_request\n") + dlen + 8
                 + rlen + slen + TOKENROUTE_SIGV4_HEX_LEN);
    if (out == NULL) {
        return NULL;
    }

    p = tr_sigv4_cpy(out, "AWS4-HMAC-SHA256\n", 17);
    p = tr_sigv4_cpy(p, s->amz_date, dlen);
    *p++ = '\n';
    p = tr_sigv4_cpy(p, s->amz_date, dlen < 8 ? dlen : 8);
    *p++ = '/';
    p = tr_sigv4_cpy(p, s->region, rlen);
    *p++ = '/';
    p = tr_sigv4_cpy(p, s->service, slen);
    p = tr_sigv4_cpy(p, "/aws4_request\n", 14);
    p = tr_sigv4_cpy(p, hex, TOKENROUTE_SIGV4_HEX_LEN);
    *p = '\0';

    n = p - out;

    *len = n;

    return out;
}


int
tokenroute_sigv4_signing_key(const tokenroute_sigv4_t *s, unsigned char *key)
{
    int            rc;
    char          *secret;
    size_t         len;
    unsigned int   mdlen;

    /* kSecret = "AWS4" + secret; then date, region, service, terminator */

    len = strlen(s->secret_key);

    secret = malloc(len + 4);
    if (secret == NULL) {
        return -1;
    }

    memcpy(secret, "AWS4", 4);
    memcpy(secret + 4, s->secret_key, len);

    mdlen = 0;

    rc = (HMAC(EVP_sha256(), secret, (int) len + 4,
               (const unsigned char *) s->amz_date, 8, key, &mdlen) == NULL
          || HMAC(EVP_sha256(), key, (int) mdlen,
                  (const unsigned char *) s->region, strlen(s->region), key,
                  &mdlen) == NULL
          || HMAC(EVP_sha256(), key, (int) mdlen,
                  (const unsigned char *) s->service, strlen(s->service),
                  key, &mdlen) == NULL
          || HMAC(EVP_sha256(), key, (int) mdlen,
                  (const unsigned char *) "aws4_request", 12, key, &mdlen)
             == NULL
          || mdlen != TOKENROUTE_SIGV4_KEY_LEN) ? -1 : 0;

    OPENSSL_cleanse(secret, len + 4);
    free(secret);

    return rc;
}


int
tokenroute_sigv4_signature(const tokenroute_sigv4_t *s, const char *sts,
    size_t sts_len, char *hex)
{
    unsigned int    mdlen;
    unsigned char   key[TOKENROUTE_SIGV4_KEY_LEN], md[EVP_MAX_MD_SIZE];

    if (s->signing_key && s->hash) {
        if (tokenroute_sigv4_hash_key(s->hash, s->signing_key) != 0
            || tokenroute_sigv4_hash_hmac(s->hash, sts, sts_len, md) != 0)
        {
            return -1;
        }

        tokenroute_sigv4_hash_hex(md, TOKENROUTE_SIGV4_SHA256_LEN, hex);

        return 0;
    }

    if (s->signing_key) {
        memcpy(key, s->signing_key, TOKENROUTE_SIGV4_KEY_LEN);

    } else if (tokenroute_sigv4_signing_key(s, key) != 0) {
        return -1;
    }

    mdlen = 0;

    if (HMAC(EVP_sha256(), key, TOKENROUTE_SIGV4_KEY_LEN,
             (const unsigned char *) sts, sts_len, md, &mdlen) == NULL)
    {
        OPENSSL_cleanse(key, sizeof(key));
        return -1;
    }

    OPENSSL_cleanse(key, sizeof(key));

    tokenroute_sigv4_hash_hex(md, mdlen, hex);

    return 0;
}


char *
tokenroute_sigv4_authorization(const tokenroute_sigv4_t *s, size_t *len)
{
    char    *creq, *sts, *out, *names, *nl, *p;
    size_t   n, creq_len, sts_len, names_len, alen, dlen, rlen, slen;
    char     sig[TOKENROUTE_SIGV4_HEX_LEN + 1];

    creq = tokenroute_sigv4_canonical_request(s, &creq_len);
    if (creq == NULL) {
        return NULL;
    }

    sts = tokenroute_sigv4_string_to_sign(s, creq, creq_len, &sts_len);

    if (sts == NULL || tokenroute_sigv4_signature(s, sts, sts_len, sig) != 0)
    {
        free(creq);
        free(sts);
        return NULL;
    }

    free(sts);

    /*
     * the signed names are the canonical request's last line but one
     * (searched from its end: a header value may hold any byte)
     */

    nl = creq + creq_len - TOKENROUTE_SIGV4_HEX_LEN - 1;
    names = nl;

    while (names > creq && names[-1] != '\n') {
        names--;
    }

    /* as "%.*s" printed them: up to a NUL */
    names_len = strnlen(names, nl - names);

    alen = strlen(s->access_key);
    dlen = strnlen(s->amz_date, 8);
    rlen = strlen(s->region);
    slen = strlen(s->service);

    out = malloc(sizeof("AWS4-HMAC-SHA256 Credential=////aws4_request, "
                        "SignedHeaders=, Signature=")
                 + alen + dlen + rlen + slen + names_len
                 + TOKENROUTE_SIGV4_HEX_LEN);
    if (out == NULL) {
        free(creq);
        return NULL;
    }

    p = tr_sigv4_cpy(out, "AWS4-HMAC-SHA256 Credential=", 28);
    p = tr_sigv4_cpy(p, s->access_key, alen);
    *p++ = '/';
    p = tr_sigv4_cpy(p, s->amz_date, dlen);
    *p++ = '/';
    p = tr_sigv4_cpy(p, s->region, rlen);
    *p++ = '/';
    p = tr_sigv4_cpy(p, s->service, slen);
    p = tr_sigv4_cpy(p, "/aws4_request, SignedHeaders=", 29);
    p = tr_sigv4_cpy(p, names, names_len);
    p = tr_sigv4_cpy(p, ", Signature=", 12);
    p = tr_sigv4_cpy(p, sig, TOKENROUTE_SIGV4_HEX_LEN);
    *p = '\0';

    n = p - out;

    free(creq);

    *len = n;

    return out;
}
