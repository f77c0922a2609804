
/*
 * Copyright (C) tokenroute authors
 *
 * Secrets made for the control plane (tokenroute_secret.c): a raw key
 * from OpenSSL's CSPRNG (a prefix and the base64url of 32 random bytes),
 * its SHA-256, the id and the shown prefix that go to Redis in its place,
 * and the JSON document answered with the raw key in it.  Shared by the
 * CLI and the admin API.  Plain C and libcrypto: no nginx dependency.
 */


#ifndef _TOKENROUTE_SECRET_H_INCLUDED_
#define _TOKENROUTE_SECRET_H_INCLUDED_


#include <stddef.h>

#include "tokenroute_key.h"


/* an admin key: this prefix and 43 base64url characters */
#define TOKENROUTE_ADMIN_KEY_PREFIX   TOKENROUTE_KEY_PREFIX "admin-"

#define TOKENROUTE_SECRET_RANDOM_LEN  32
#define TOKENROUTE_SECRET_B64_LEN     43
#define TOKENROUTE_SECRET_RAW_MAX     64
#define TOKENROUTE_SECRET_ID_RANDOM   8

/* the kinds of secret */
#define TOKENROUTE_SECRET_KEY         1    /* a model key, key_<hex> */
#define TOKENROUTE_SECRET_ADMIN       2    /* an admin key, adm_<hex> */


typedef struct {
    char      raw[TOKENROUTE_SECRET_RAW_MAX + 1];
    size_t    raw_len;
    char      hash[64 + 1];                 /* SHA-256, lowercase hex */
    char      id[4 + 2 * TOKENROUTE_SECRET_ID_RANDOM + 1];
    char      prefix[TOKENROUTE_SECRET_RAW_MAX + 1];  /* shown to humans */
} tokenroute_secret_t;


/* 0, or -1 if the CSPRNG or the digest failed; NUL-terminated fields */
int tokenroute_secret_make(tokenroute_secret_t *s, int kind);

/* the SHA-256 of len bytes in lowercase hex, 64 bytes and a NUL */
int tokenroute_sha256_hex(const void *p, size_t len, char *hex);

/*
 * 0 if key has the shape of an admin key: the prefix, then exactly 43
 * base64url characters; -1 otherwise.
 */
int tokenroute_secret_admin_valid(const unsigned char *key, size_t len);

/*
 * The JSON object doc with "raw":"<raw>" as its first member, written to
 * dst (NULL: nothing written); returns the length, or 0 if doc is not an
 * object.  raw holds no byte JSON would escape.
 */
size_t tokenroute_secret_json(char *dst, const char *doc, size_t len,
    const char *raw, size_t raw_len);


#endif /* _TOKENROUTE_SECRET_H_INCLUDED_ */
