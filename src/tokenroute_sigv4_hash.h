
/*
 * Copyright (C) tokenroute authors
 *
 * SHA-256 and HMAC-SHA256 for SigV4 with state kept between requests:
 * the digest fetched from libcrypto once (a fetch per call costs more
 * than hashing a request's headers), one context reused, and the HMAC
 * key's inner and outer pads absorbed once per key (the signing key
 * changes once a day), so a signature costs the hashing of its text
 * only.  The same answers as SHA256() and HMAC() (t/unit/sigv4_diff.c).
 * Not for threads sharing one state.  Plain C: no nginx dependency.
 */


#ifndef _TOKENROUTE_SIGV4_HASH_H_INCLUDED_
#define _TOKENROUTE_SIGV4_HASH_H_INCLUDED_


#include <stddef.h>


#define TOKENROUTE_SIGV4_SHA256_LEN  32


struct evp_md_st;
struct evp_md_ctx_st;


typedef struct {
    struct evp_md_st           *md;       /* SHA-256, fetched once */
    struct evp_md_ctx_st       *ctx;      /* each hash's */
    struct evp_md_ctx_st       *inner;    /* the key's inner pad absorbed */
    struct evp_md_ctx_st       *outer;    /* and its outer pad */
    unsigned char               key[TOKENROUTE_SIGV4_SHA256_LEN];
    unsigned                    keyed:1;  /* key is the pads' */
} tokenroute_sigv4_hash_t;


/* 0, or -1 if out of memory or libcrypto has no SHA-256 */
int tokenroute_sigv4_hash_init(tokenroute_sigv4_hash_t *h);
void tokenroute_sigv4_hash_free(tokenroute_sigv4_hash_t *h);

/* each 0, or -1 on a libcrypto failure; md: 32 bytes */
int tokenroute_sigv4_hash_sha256(tokenroute_sigv4_hash_t *h, const void *p,
    size_t n, unsigned char *md);

/* the same as 64 lowercase hex digits and a NUL */
void tokenroute_sigv4_hash_hex(const unsigned char *p, size_t n,
    char *hex);
int tokenroute_sigv4_hash_sha256_hex(tokenroute_sigv4_hash_t *h,
    const void *p, size_t n, char *hex);

/* the HMAC key for what follows: a 32-byte key (a SigV4 signing key) */
int tokenroute_sigv4_hash_key(tokenroute_sigv4_hash_t *h,
    const unsigned char *key);
int tokenroute_sigv4_hash_hmac(tokenroute_sigv4_hash_t *h, const void *p,
    size_t n, unsigned char *md);


#endif /* _TOKENROUTE_SIGV4_HASH_H_INCLUDED_ */
