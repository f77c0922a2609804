
/*
 * Copyright (C) tokenroute authors
 *
 * HMAC by its definition (RFC 2104): H((K ^ opad) || H((K ^ ipad) || m)),
 * the two padded key blocks hashed once per key and their states copied
 * for each message.
 */


#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "tokenroute_sigv4_hash.h"


#define TR_SHA256_BLOCK  64


int
tokenroute_sigv4_hash_init(tokenroute_sigv4_hash_t *h)
{
    memset(h, 0, sizeof(tokenroute_sigv4_hash_t));

    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    h->ctx = EVP_MD_CTX_new();
    h->inner = EVP_MD_CTX_new();
    h->outer = EVP_MD_CTX_new();

    if (h->md == NULL || h->ctx == NULL || h->inner == NULL
        || h->outer == NULL)
    {
        tokenroute_sigv4_hash_free(h);
        return -1;
    }

    return 0;
}


void
tokenroute_sigv4_hash_free(tokenroute_sigv4_hash_t *h)
{
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_CTX_free(h->inner);
    EVP_MD_CTX_free(h->outer);
    EVP_MD_free(h->md);

    OPENSSL_cleanse(h->key, sizeof(h->key));

    memset(h, 0, sizeof(tokenroute_sigv4_hash_t));
}


int
tokenroute_sigv4_hash_sha256(tokenroute_sigv4_hash_t *h, const void *p,
    size_t n, unsigned char *md)
{
    unsigned int  len;

    return (EVP_DigestInit_ex2(h->ctx, h->md, NULL)
            && EVP_DigestUpdate(h->ctx, p, n)
            && EVP_DigestFinal_ex(h->ctx, md, &len)) ? 0 : -1;
}


int
tokenroute_sigv4_hash_sha256_hex(tokenroute_sigv4_hash_t *h, const void *p,
    size_t n, char *hex)
{
    unsigned char  md[TOKENROUTE_SIGV4_SHA256_LEN];

    if (tokenroute_sigv4_hash_sha256(h, p, n, md) != 0) {
        return -1;
    }

    tokenroute_sigv4_hash_hex(md, sizeof(md), hex);

    return 0;
}


/* n bytes as 2n lowercase hex digits and a NUL, as SigV4 writes hashes */

void
tokenroute_sigv4_hash_hex(const unsigned char *p, size_t n, char *hex)
{
    size_t  i;

    static const char  digits[] = "0123456789abcdef";

    for (i = 0; i < n; i++) {
        *hex++ = digits[p[i] >> 4];
        *hex++ = digits[p[i] & 0xf];
    }

    *hex = '\0';
}


int
tokenroute_sigv4_hash_key(tokenroute_sigv4_hash_t *h,
    const unsigned char *key)
{
    int            rc;
    size_t         i;
    unsigned char  ipad[TR_SHA256_BLOCK], opad[TR_SHA256_BLOCK];

    if (h->keyed && CRYPTO_memcmp(h->key, key, sizeof(h->key)) == 0) {
        return 0;
    }

    h->keyed = 0;

    /* the key is shorter than a block: zero-padded to one */

    memset(ipad, 0x36, sizeof(ipad));
    memset(opad, 0x5c, sizeof(opad));

    for (i = 0; i < TOKENROUTE_SIGV4_SHA256_LEN; i++) {
        ipad[i] ^= key[i];
        opad[i] ^= key[i];
    }

    rc = (EVP_DigestInit_ex2(h->inner, h->md, NULL)
          && EVP_DigestUpdate(h->inner, ipad, sizeof(ipad))
          && EVP_DigestInit_ex2(h->outer, h->md, NULL)
          && EVP_DigestUpdate(h->outer, opad, sizeof(opad))) ? 0 : -1;

    OPENSSL_cleanse(ipad, sizeof(ipad));
    OPENSSL_cleanse(opad, sizeof(opad));

    if (rc == 0) {
        memcpy(h->key, key, sizeof(h->key));
        h->keyed = 1;
    }

    return rc;
}


int
tokenroute_sigv4_hash_hmac(tokenroute_sigv4_hash_t *h, const void *p,
    size_t n, unsigned char *md)
{
    int            rc;
    unsigned int   len;
    unsigned char  ih[TOKENROUTE_SIGV4_SHA256_LEN];

    if (!h->keyed) {
        return -1;
    }

    rc = (EVP_MD_CTX_copy_ex(h->ctx, h->inner)
          && EVP_DigestUpdate(h->ctx, p, n)
          && EVP_DigestFinal_ex(h->ctx, ih, &len)
          && EVP_MD_CTX_copy_ex(h->ctx, h->outer)
          && EVP_DigestUpdate(h->ctx, ih, sizeof(ih))
          && EVP_DigestFinal_ex(h->ctx, md, &len)) ? 0 : -1;

    OPENSSL_cleanse(ih, sizeof(ih));

    return rc;
}
