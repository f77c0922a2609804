
/*
 * Copyright (C) tokenroute authors
 *
 * Google's service-account OAuth2 flow, the parts without I/O: the key
 * file read (client_email, private_key, token_uri), the RS256 JWT that
 * asserts the account (RFC 7519, RFC 7515 with base64url, RFC 4648 §5),
 * the form posted to token_uri and the token endpoint's answer.  Plain C
 * with yajl and OpenSSL's libcrypto: no nginx dependency.
 */


#ifndef _TOKENROUTE_JWT_H_INCLUDED_
#define _TOKENROUTE_JWT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>


#define TOKENROUTE_JWT_SCOPE                                                 \
    "https://www.googleapis.com/auth/cloud-platform"
#define TOKENROUTE_JWT_LIFETIME   3600

/* what base64url without padding makes of n bytes */
#define TOKENROUTE_B64URL_LEN(n)  (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

/* the form's fixed part; the assertion follows */
#define TOKENROUTE_OAUTH_FORM                                                \
    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"      \
    "&assertion="

/* longest access token kept; Google's are well under 2 KB */
#define TOKENROUTE_OAUTH_TOKEN_MAX  4096


/* a service account's key file; the strings are malloc()ed */
typedef struct {
    char      *client_email;
    char      *private_key;     /* PEM */
    char      *token_uri;
} tokenroute_sa_t;


/* dst holds TOKENROUTE_B64URL_LEN(len) bytes; returns what was written */
size_t tokenroute_base64url(unsigned char *dst, const unsigned char *src,
    size_t len);

/*
 * Reads a key file's JSON: 0, or -1 with the reason in err (never a
 * secret: the reason names a field, not its value), -2 out of memory.
 * token_uri defaults to Google's.  A key of another type than
 * "service_account" is refused.
 */
int tokenroute_sa_parse(const char *json, size_t len, tokenroute_sa_t *sa,
    char *err, size_t err_size);
void tokenroute_sa_free(tokenroute_sa_t *sa);

/* the PEM private key (PKCS#8 or PKCS#1) as an RSA key, or NULL */
EVP_PKEY *tokenroute_jwt_key(const char *pem, size_t len);

/*
 * The claims of the assertion: iss, scope, aud, iat and exp = iat +
 * TOKENROUTE_JWT_LIFETIME.  Its length, or -1 if size is too small.
 */
int tokenroute_jwt_claims(char *buf, size_t size, const char *iss,
    const char *scope, const char *aud, int64_t iat);

/*
 * header.claims.signature, RS256, into a malloc()ed *jwt (NUL-ended):
 * 0, or -1 (the key cannot sign), -2 out of memory.
 */
int tokenroute_jwt_sign(EVP_PKEY *key, const char *claims, size_t len,
    char **jwt, size_t *jwt_len);

/*
 * The token endpoint's answer {"access_token":..., "expires_in":...}:
 * the token's length, copied to token (size bytes at most, NUL-ended),
 * and its lifetime in seconds; -1 if the body is not such an answer or
 * the token holds a byte that may not be in a header.
 */
int tokenroute_oauth_parse(const char *body, size_t len, char *token,
    size_t size, int64_t *expires_in);


/*
 * A refusing token endpoint's reason for a log line, never more of its
 * body: error and error_description, as ERROR: "DESCRIPTION", each cut
 * short, bytes outside printable ASCII, quotes and backslashes escaped
 * (\n, \", \\, \xNN), NUL-ended in out; its length, or -1 when the body
 * holds no error string (out then "").
 */
int tokenroute_oauth_error(const char *body, size_t len, char *out,
    size_t size);


#endif /* _TOKENROUTE_JWT_H_INCLUDED_ */
