
/*
 * Copyright (C) tokenroute authors
 *
 * Raw keys and what is stored in their place (tokenroute_secret.h).
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tokenroute_secret.h"


static void tokenroute_secret_b64url(const unsigned char *src, size_t len,
    char *dst);
static void tokenroute_secret_hex(const unsigned char *src, size_t len,
    char *dst);
static int tokenroute_secret_space(char c);


/* what humans see of a key: its prefix and 6 random characters */
#define TOKENROUTE_SECRET_SHOWN  6


int
tokenroute_secret_make(tokenroute_secret_t *s, int kind)
{
    size_t         plen;
    const char    *prefix, *id;
    unsigned char  bytes[TOKENROUTE_SECRET_RANDOM_LEN];

    if (kind == TOKENROUTE_SECRET_ADMIN) {
        prefix = TOKENROUTE_ADMIN_KEY_PREFIX;
        id = "adm_";

    } else {
        prefix = TOKENROUTE_KEY_PREFIX;
        id = "key_";
    }

    plen = strlen(prefix);

    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
        return -1;
    }

    memcpy(s->raw, prefix, plen);
    tokenroute_secret_b64url(bytes, sizeof(bytes), s->raw + plen);
    s->raw_len = plen + TOKENROUTE_SECRET_B64_LEN;
    s->raw[s->raw_len] = '\0';

    OPENSSL_cleanse(bytes, sizeof(bytes));

    memcpy(s->prefix, s->raw, plen + TOKENROUTE_SECRET_SHOWN);
    s->prefix[plen + TOKENROUTE_SECRET_SHOWN] = '\0';

    if (tokenroute_sha256_hex(s->raw, s->raw_len, s->hash) != 0) {
        return -1;
    }

    if (RAND_bytes(bytes, TOKENROUTE_SECRET_ID_RANDOM) != 1) {
        return -1;
    }

    memcpy(s->id, id, 4);
    tokenroute_secret_hex(bytes, TOKENROUTE_SECRET_ID_RANDOM, s->id + 4);

    return 0;
}


int
tokenroute_sha256_hex(const void *p, size_t len, char *hex)
{
    unsigned int   n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (EVP_Digest(p, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32) {
        return -1;
    }

    tokenroute_secret_hex(md, 32, hex);

    return 0;
}


int
tokenroute_secret_admin_valid(const unsigned char *key, size_t len)
{
    size_t  i, plen;

    plen = sizeof(TOKENROUTE_ADMIN_KEY_PREFIX) - 1;

    if (len != plen + TOKENROUTE_SECRET_B64_LEN
        || memcmp(key, TOKENROUTE_ADMIN_KEY_PREFIX, plen) != 0)
    {
        return -1;
    }

    for (i = plen; i < len; i++) {
        if (!((key[i] >= 'A' && key[i] <= 'Z')
              || (key[i] >= 'a' && key[i] <= 'z')
              || (key[i] >= '0' && key[i] <= '9')
              || key[i] == '-' || key[i] == '_'))
        {
            return -1;
        }
    }

    return 0;
}


size_t
tokenroute_secret_json(char *dst, const char *doc, size_t len,
    const char *raw, size_t raw_len)
{
    size_t  i, n, empty;

    /* the object's opening brace, after any white space */

    for (i = 0; i < len && tokenroute_secret_space(doc[i]); i++) {
        /* void */
    }

    if (i == len || doc[i] != '{') {
        return 0;
    }

    /* "{}": no comma after the raw key */

    for (n = i + 1; n < len && tokenroute_secret_space(doc[n]); n++) {
        /* void */
    }

    empty = (n < len && doc[n] == '}');

    n = len + sizeof("\"raw\":\"\",") - 1 + raw_len - empty;

    if (dst == NULL) {
        return n;
    }

    memcpy(dst, doc, i + 1);
    dst += i + 1;
    memcpy(dst, "\"raw\":\"", 7);
    dst += 7;
    memcpy(dst, raw, raw_len);
    dst += raw_len;
    *dst++ = '"';

    if (!empty) {
        *dst++ = ',';
    }

    memcpy(dst, doc + i + 1, len - i - 1);

    return n;
}


/* JSON's white space; not strchr(" \t\r\n", c), which finds a NUL */

static int
tokenroute_secret_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


/* RFC 4648 section 5, without padding; dst gets no NUL */

static void
tokenroute_secret_b64url(const unsigned char *src, size_t len, char *dst)
{
    uint32_t  v;

    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    while (len >= 3) {
        v = (uint32_t) src[0] << 16 | (uint32_t) src[1] << 8 | src[2];

        *dst++ = alphabet[v >> 18 & 0x3f];
        *dst++ = alphabet[v >> 12 & 0x3f];
        *dst++ = alphabet[v >> 6 & 0x3f];
        *dst++ = alphabet[v & 0x3f];

        src += 3;
        len -= 3;
    }

    if (len == 0) {
        return;
    }

    v = (uint32_t) src[0] << 16;

    if (len == 2) {
        v |= (uint32_t) src[1] << 8;
    }

    *dst++ = alphabet[v >> 18 & 0x3f];
    *dst++ = alphabet[v >> 12 & 0x3f];

    if (len == 2) {
        *dst = alphabet[v >> 6 & 0x3f];
    }
}


/* lowercase, NUL-terminated */

static void
tokenroute_secret_hex(const unsigned char *src, size_t len, char *dst)
{
    size_t  i;

    static const char  digits[] = "0123456789abcdef";

    for (i = 0; i < len; i++) {
        *dst++ = digits[src[i] >> 4];
        *dst++ = digits[src[i] & 0x0f];
    }

    *dst = '\0';
}
