
/*
 * Copyright (C) tokenroute authors
 *
 * AWS Signature Version 4 (HMAC-SHA256, OpenSSL's libcrypto): the
 * canonical request, the string to sign, the signing key and the
 * Authorization value, by the rules for services other than S3 (each path
 * segment URI-encoded once more as sent, so a "%3A" on the wire is
 * "%253A" in the canonical request).  Plain C: no nginx dependency.
 */


#ifndef _TOKENROUTE_SIGV4_H_INCLUDED_
#define _TOKENROUTE_SIGV4_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>

#include "tokenroute_sigv4_hash.h"


#define TOKENROUTE_SIGV4_HEX_LEN   64
#define TOKENROUTE_SIGV4_DATE_LEN  16     /* 20150830T123600Z */


typedef struct {
    const char                  *name;     /* any case */
    size_t                       name_len;
    const char                  *value;    /* trimmed, spaces folded */
    size_t                       value_len;
} tokenroute_sigv4_header_t;


typedef struct {
    const char                  *method;
    const char                  *path;     /* as sent on the wire */
    size_t                       path_len;
    const char                  *query;    /* as sent, without '?' */
    size_t                       query_len;

    /* every header signed, x-amz-date (and the token) included */
    const tokenroute_sigv4_header_t *headers;
    size_t                       nheaders;

    const char                  *payload_hash;  /* hex SHA-256 of the body */

    const char                  *access_key;
    const char                  *secret_key;
    const char                  *region;
    const char                  *service;
    const char                  *amz_date; /* TOKENROUTE_SIGV4_DATE_LEN */

    int                          normalize; /* drop "." "..", fold "//" */

    /*
     * the signing key of amz_date's day, region and service, when the
     * caller keeps it (it changes once a day): NULL, derived each time
     */
    const unsigned char         *signing_key;

    /*
     * the caller's hashing state kept between requests (with signing_key
     * its HMAC pads are absorbed once): NULL, libcrypto's one-shot calls
     */
    tokenroute_sigv4_hash_t     *hash;
} tokenroute_sigv4_t;


#define TOKENROUTE_SIGV4_KEY_LEN   32


void tokenroute_sigv4_sha256_hex(const void *p, size_t n, char *hex);
size_t tokenroute_sigv4_uri_encode(const unsigned char *p, size_t n,
    char *out, int keep_slash);
void tokenroute_sigv4_amz_date(time_t t, char *date);

/*
 * Each returns a malloc()ed NUL-terminated text (free() it) and its
 * length in *len, or NULL when out of memory or the input is unusable
 * (a header name that is empty or not a token).
 */
char *tokenroute_sigv4_canonical_request(const tokenroute_sigv4_t *s,
    size_t *len);
char *tokenroute_sigv4_string_to_sign(const tokenroute_sigv4_t *s,
    const char *creq, size_t creq_len, size_t *len);
char *tokenroute_sigv4_authorization(const tokenroute_sigv4_t *s,
    size_t *len);

/* HMAC chain of "AWS4" + secret, the day, region, service, "aws4_request" */
int tokenroute_sigv4_signing_key(const tokenroute_sigv4_t *s,
    unsigned char *key);

/* the signature of a string to sign: hex, TOKENROUTE_SIGV4_HEX_LEN + 1 */
int tokenroute_sigv4_signature(const tokenroute_sigv4_t *s, const char *sts,
    size_t sts_len, char *hex);


#endif /* _TOKENROUTE_SIGV4_H_INCLUDED_ */
