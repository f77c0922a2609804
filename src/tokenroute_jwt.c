
/*
 * Copyright (C) tokenroute authors
 *
 * Google's service-account OAuth2 flow without I/O (tokenroute_jwt.h).
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "tokenroute_json_tree.h"
#include "tokenroute_jwt.h"


#define TOKENROUTE_GOOGLE_TOKEN_URI  "https://oauth2.googleapis.com/token"

/* {"alg":"RS256","typ":"JWT"}, base64url */
#define TOKENROUTE_JWT_HEADER  "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"


static char *tokenroute_sa_str(tokenroute_json_node_t *root, const char *key);
static int tokenroute_jwt_escape(char *p, size_t size, const char *s);


size_t
tokenroute_base64url(unsigned char *dst, const unsigned char *src,
    size_t len)
{
    size_t                n;
    unsigned char        *d;
    static const char     tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "abcdefghijklmnopqrstuvwxyz0123456789-_";

    d = dst;

    for (n = 0; n + 2 < len; n += 3) {
        *d++ = tab[src[n] >> 2];
        *d++ = tab[((src[n] & 0x03) << 4) | (src[n + 1] >> 4)];
        *d++ = tab[((src[n + 1] & 0x0f) << 2) | (src[n + 2] >> 6)];
        *d++ = tab[src[n + 2] & 0x3f];
    }

    if (len - n == 1) {
        *d++ = tab[src[n] >> 2];
        *d++ = tab[(src[n] & 0x03) << 4];

    } else if (len - n == 2) {
        *d++ = tab[src[n] >> 2];
        *d++ = tab[((src[n] & 0x03) << 4) | (src[n + 1] >> 4)];
        *d++ = tab[(src[n + 1] & 0x0f) << 2];
    }

    return d - dst;
}


int
tokenroute_sa_parse(const char *json, size_t len, tokenroute_sa_t *sa,
    char *err, size_t err_size)
{
    int                      rc;
    const char              *type;
    size_t                   type_len;
    tokenroute_json_node_t  *root;
    tokenroute_json_tree_t   j;

    memset(sa, 0, sizeof(tokenroute_sa_t));
    memset(&j, 0, sizeof(tokenroute_json_tree_t));
    j.max_depth = 8;

    rc = tokenroute_json_tree_parse(&j, json, len, NULL);

    if (rc == -2) {
        tokenroute_json_tree_free(&j);
        return -2;
    }

    root = j.root;

    if (rc != 0 || root == NULL || root->type != TOKENROUTE_JSON_T_MAP) {
        snprintf(err, err_size, "is not a JSON object");
        tokenroute_json_tree_free(&j);
        return -1;
    }

    if (tokenroute_json_str(tokenroute_json_get(root, "type"), &type,
                            &type_len)
        && !(type_len == 15 && memcmp(type, "service_account", 15) == 0))
    {
        snprintf(err, err_size, "is not a service account's key (\"type\")");
        tokenroute_json_tree_free(&j);
        return -1;
    }

    sa->client_email = tokenroute_sa_str(root, "client_email");
    sa->private_key = tokenroute_sa_str(root, "private_key");
    sa->token_uri = tokenroute_sa_str(root, "token_uri");

    if (sa->token_uri == NULL
        && tokenroute_json_get(root, "token_uri") == NULL)
    {
        sa->token_uri = strdup(TOKENROUTE_GOOGLE_TOKEN_URI);
    }

    tokenroute_json_tree_free(&j);

    if (sa->client_email == NULL || sa->private_key == NULL
        || sa->token_uri == NULL)
    {
        snprintf(err, err_size, "needs the strings \"client_email\", "
                 "\"private_key\" and \"token_uri\"");
        tokenroute_sa_free(sa);
        return -1;
    }

    return 0;
}


static char *
tokenroute_sa_str(tokenroute_json_node_t *root, const char *key)
{
    char        *s;
    size_t       len;
    const char  *v;

    if (!tokenroute_json_str(tokenroute_json_get(root, key), &v, &len)
        || len == 0 || memchr(v, '\0', len) != NULL)
    {
        return NULL;
    }

    s = malloc(len + 1);
    if (s == NULL) {
        return NULL;
    }

    memcpy(s, v, len);
    s[len] = '\0';

    return s;
}


void
tokenroute_sa_free(tokenroute_sa_t *sa)
{
    if (sa->private_key) {
        /* a secret: not left in freed memory */
        memset(sa->private_key, 0, strlen(sa->private_key));
    }

    free(sa->client_email);
    free(sa->private_key);
    free(sa->token_uri);

    memset(sa, 0, sizeof(tokenroute_sa_t));
}


EVP_PKEY *
tokenroute_jwt_key(const char *pem, size_t len)
{
    BIO       *bio;
    EVP_PKEY  *key;

    bio = BIO_new_mem_buf(pem, (int) len);
    if (bio == NULL) {
        return NULL;
    }

    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

    BIO_free(bio);

    if (key != NULL && EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(key);
        return NULL;
    }

    return key;
}


int
tokenroute_jwt_claims(char *buf, size_t size, const char *iss,
    const char *scope, const char *aud, int64_t iat)
{
    int          n, len;
    size_t       i;
    const char  *v[3];

    v[0] = iss;
    v[1] = scope;
    v[2] = aud;

    len = snprintf(buf, size, "{\"iss\":\"");

    for (i = 0; i < 3; i++) {
        if (len < 0 || (size_t) len >= size) {
            return -1;
        }

        n = tokenroute_jwt_escape(buf + len, size - len, v[i]);
        if (n < 0) {
            return -1;
        }

        len += n;

        n = snprintf(buf + len, size - len, "%s",
                     i == 0 ? "\",\"scope\":\""
                     : i == 1 ? "\",\"aud\":\"" : "\"");
        len += n;
    }

    if ((size_t) len >= size) {
        return -1;
    }

    n = snprintf(buf + len, size - len, ",\"iat\":%lld,\"exp\":%lld}",
                 (long long) iat,
                 (long long) (iat + TOKENROUTE_JWT_LIFETIME));

    if (n < 0 || (size_t) (len + n) >= size) {
        return -1;
    }

    return len + n;
}


/* a JSON string's inside: quotes, backslashes and controls escaped */

static int
tokenroute_jwt_escape(char *p, size_t size, const char *s)
{
    size_t  n;

    for (n = 0; *s; s++) {
        if (n + 7 > size) {
            return -1;
        }

        if (*s == '"' || *s == '\\') {
            p[n++] = '\\';
            p[n++] = *s;

        } else if ((unsigned char) *s < 0x20) {
            n += snprintf(p + n, size - n, "\\u%04x", (unsigned) *s);

        } else {
            p[n++] = *s;
        }
    }

    if (n >= size) {
        return -1;
    }

    p[n] = '\0';

    return (int) n;
}


int
tokenroute_jwt_sign(EVP_PKEY *key, const char *claims, size_t len,
    char **jwt, size_t *jwt_len)
{
    int             rc;
    char           *out;
    size_t          hlen, clen, slen, size;
    EVP_MD_CTX     *md;
    unsigned char  *sig;

    slen = (size_t) EVP_PKEY_size(key);
    hlen = sizeof(TOKENROUTE_JWT_HEADER) - 1;
    clen = TOKENROUTE_B64URL_LEN(len);
    size = hlen + 1 + clen + 1 + TOKENROUTE_B64URL_LEN(slen) + 1;

    out = malloc(size);
    sig = malloc(slen);
    md = EVP_MD_CTX_new();

    if (out == NULL || sig == NULL || md == NULL) {
        free(out);
        free(sig);
        EVP_MD_CTX_free(md);
        return -2;
    }

    memcpy(out, TOKENROUTE_JWT_HEADER, hlen);
    out[hlen] = '.';
    tokenroute_base64url((unsigned char *) out + hlen + 1,
                         (const unsigned char *) claims, len);
    len = hlen + 1 + clen;

    /* RSASSA-PKCS1-v1_5 with SHA-256 over header.claims (RFC 7518 3.3) */

    rc = -1;

    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1
        && EVP_DigestSignUpdate(md, out, len) == 1
        && EVP_DigestSignFinal(md, sig, &slen) == 1)
    {
        out[len++] = '.';
        len += tokenroute_base64url((unsigned char *) out + len, sig, slen);
        out[len] = '\0';

        *jwt = out;
        *jwt_len = len;
        out = NULL;
        rc = 0;
    }

    free(out);
    free(sig);
    EVP_MD_CTX_free(md);

    return rc;
}


int
tokenroute_oauth_parse(const char *body, size_t len, char *token,
    size_t size, int64_t *expires_in)
{
    int                      rc;
    size_t                   i, n;
    const char              *t;
    tokenroute_json_node_t  *root;
    tokenroute_json_tree_t   j;

    memset(&j, 0, sizeof(tokenroute_json_tree_t));
    j.max_depth = 8;

    rc = tokenroute_json_tree_parse(&j, body, len, NULL);
    root = j.root;

    if (rc != 0 || root == NULL || root->type != TOKENROUTE_JSON_T_MAP
        || !tokenroute_json_str(tokenroute_json_get(root, "access_token"),
                                &t, &n)
        || n == 0 || n >= size)
    {
        tokenroute_json_tree_free(&j);
        return -1;
    }

    /* it goes into a header: printable ASCII, no space */

    for (i = 0; i < n; i++) {
        if (t[i] <= 0x20 || t[i] >= 0x7f) {
            tokenroute_json_tree_free(&j);
            return -1;
        }
    }

    memcpy(token, t, n);
    token[n] = '\0';

    *expires_in = tokenroute_json_int(tokenroute_json_get(root, "expires_in"),
                                      -1);

    tokenroute_json_tree_free(&j);

    if (*expires_in <= 0) {
        return -1;
    }

    return (int) n;
}


#define TOKENROUTE_OAUTH_ERROR_MAX  64
#define TOKENROUTE_OAUTH_DESC_MAX   200


static size_t
tokenroute_oauth_escape(char *out, size_t size, const char *s, size_t n)
{
    size_t          i, o;
    unsigned char   c;
    static const char  hex[] = "0123456789abcdef";

    o = 0;

    for (i = 0; i < n; i++) {
        c = (unsigned char) s[i];

        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            if (o + 1 >= size) {
                break;
            }

            out[o++] = (char) c;
            continue;
        }

        if (o + 4 >= size) {
            break;
        }

        out[o++] = '\\';

        if (c == '"' || c == '\\') {
            out[o++] = (char) c;

        } else if (c == '\n') {
            out[o++] = 'n';

        } else {
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 0xf];
        }
    }

    out[o] = '\0';

    return o;
}


int
tokenroute_oauth_error(const char *body, size_t len, char *out, size_t size)
{
    int                      rc;
    size_t                   o, n, dn;
    const char              *e, *d;
    tokenroute_json_node_t  *root;
    tokenroute_json_tree_t   j;

    if (size < 8) {
        return -1;
    }

    out[0] = '\0';

    memset(&j, 0, sizeof(tokenroute_json_tree_t));
    j.max_depth = 8;

    rc = tokenroute_json_tree_parse(&j, body, len, NULL);
    root = j.root;

    if (rc != 0 || root == NULL || root->type != TOKENROUTE_JSON_T_MAP
        || !tokenroute_json_str(tokenroute_json_get(root, "error"), &e, &n))
    {
        tokenroute_json_tree_free(&j);
        return -1;
    }

    o = tokenroute_oauth_escape(out, size,
                                e, n < TOKENROUTE_OAUTH_ERROR_MAX
                                   ? n : TOKENROUTE_OAUTH_ERROR_MAX);

    if (tokenroute_json_str(tokenroute_json_get(root, "error_description"),
                            &d, &dn)
        && o + 5 < size)
    {
        memcpy(out + o, ": \"", 3);
        o += 3;
        o += tokenroute_oauth_escape(out + o, size - o - 1,
                                     d, dn < TOKENROUTE_OAUTH_DESC_MAX
                                        ? dn : TOKENROUTE_OAUTH_DESC_MAX);
        out[o++] = '"';
        out[o] = '\0';
    }

    tokenroute_json_tree_free(&j);

    return (int) o;
}
