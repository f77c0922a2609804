
/*
 * Copyright (C) tokenroute authors
 *
 * Client key headers, the part that is plain parsing: the key in an
 * "Authorization: Bearer ..." value, and the format a tokenroute key has.
 * Plain C: no nginx dependency (src/ngx_http_tokenroute_key.c finds the
 * headers and hashes the key; src/lua/admission.lua checks it).
 */


#ifndef _TOKENROUTE_KEY_H_INCLUDED_
#define _TOKENROUTE_KEY_H_INCLUDED_


#include <stddef.h>


/* "sk-tr-" plus 43 base64url characters of 32 random bytes */
#define TOKENROUTE_KEY_PREFIX    "sk-tr-"
#define TOKENROUTE_KEY_MIN_LEN   (sizeof(TOKENROUTE_KEY_PREFIX) - 1 + 32)
#define TOKENROUTE_KEY_MAX_LEN   256


/*
 * An Authorization value: "Bearer" in any case, a space, any more
 * spaces, then the token.  Returns 0 and sets *start and *key_len to the
 * token's span in value (possibly empty), or -1 if the value is not a
 * bearer token.  The token is not checked: see tokenroute_key_valid().
 */
int tokenroute_key_bearer(const unsigned char *value, size_t len,
    size_t *start, size_t *key_len);

/*
 * Returns 0 if key looks like a tokenroute key: the prefix, then only
 * [A-Za-z0-9_-], TOKENROUTE_KEY_MIN_LEN to TOKENROUTE_KEY_MAX_LEN bytes
 * in all; -1 otherwise.
 */
int tokenroute_key_valid(const unsigned char *key, size_t len);

/*
 * Returns 0 if a and b hold the same len bytes, -1 otherwise, in a time
 * that depends on len only (8 bytes a step, not CRYPTO_memcmp()'s one):
 * a key compared with one the worker has seen.
 */
int tokenroute_key_equal(const unsigned char *a, const unsigned char *b,
    size_t len);

/*
 * Returns 0 if s is a key hash as the gateway and the control scripts
 * write it (the key's SHA-256 in TOKENROUTE_KEY_HASH_LEN lowercase hex
 * digits), -1 otherwise.
 */
#define TOKENROUTE_KEY_HASH_LEN  64

int tokenroute_key_hash_valid(const unsigned char *s, size_t len);


#endif /* _TOKENROUTE_KEY_H_INCLUDED_ */
