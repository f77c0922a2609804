
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for the service-account OAuth2 parts (src/tokenroute_jwt.c):
 * base64url against RFC 4648's test vectors (§10, with the URL alphabet
 * of §5 and no padding), the key file, the claims, an RS256 JWT whose
 * signature is verified with the public half of a key made here, and the
 * token endpoint's answer.  Prints TAP.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <tokenroute_jwt.h>

#include "tap.h"


static size_t
unb64url(unsigned char *dst, const char *s, size_t len)
{
    int            v;
    size_t         i, n, bits;
    unsigned long  acc;
    const char    *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "abcdefghijklmnopqrstuvwxyz0123456789-_";

    acc = 0;
    bits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        v = (int) (strchr(tab, s[i]) - tab);
        acc = (acc << 6) | (unsigned long) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            dst[n++] = (unsigned char) (acc >> bits);
        }
    }

    return n;
}


static void
test_base64url(void)
{
    size_t          i, n;
    unsigned char   out[32];
    unsigned char   bin[3] = { 0xfb, 0xff, 0xfe };
    static const char  *in[] = { "", "f", "fo", "foo", "foob", "fooba",
                                 "foobar" };
    static const char  *want[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg",
                                   "Zm9vYmE", "Zm9vYmFy" };

    for (i = 0; i < 7; i++) {
        n = tokenroute_base64url(out, (const unsigned char *) in[i],
                                 strlen(in[i]));
        ok(n == strlen(want[i]) && memcmp(out, want[i], n) == 0
           && n == TOKENROUTE_B64URL_LEN(strlen(in[i])),
           "base64url \"%s\" is \"%s\"", in[i], want[i]);
    }

    /* the URL alphabet: "+/" of base64 are "-_" */
    n = tokenroute_base64url(out, bin, 3);
    ok(n == 4 && memcmp(out, "-__-", 4) == 0, "base64url uses - and _");
}


static char *
key_pem(EVP_PKEY *key)
{
    BIO   *bio;
    char  *p, *pem;
    long   n;

    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
    n = BIO_get_mem_data(bio, &p);
    pem = malloc(n + 1);
    memcpy(pem, p, n);
    pem[n] = '\0';
    BIO_free(bio);

    return pem;
}


static void
test_key_file(const char *pem)
{
    int              rc;
    char             err[128], json[8192], *q;
    const char      *p, *js;
    tokenroute_sa_t  sa;

    /* the PEM as a JSON string: newlines escaped, as Google writes it */

    q = json + sprintf(json, "{\"type\":\"service_account\",\"project_id\":"
                       "\"p\",\"private_key\":\"");

    for (p = pem; *p; p++) {
        if (*p == '\n') {
            *q++ = '\\';
            *q++ = 'n';

        } else {
            *q++ = *p;
        }
    }

    sprintf(q, "\",\"client_email\":\"gw@p.iam.gserviceaccount.com\","
            "\"token_uri\":\"http://127.0.0.1:1/token\"}");

    rc = tokenroute_sa_parse(json, strlen(json), &sa, err, sizeof(err));
    ok(rc == 0, "key file read");
    ok(rc == 0 && strcmp(sa.client_email, "gw@p.iam.gserviceaccount.com")
                  == 0, "client_email");
    ok(rc == 0 && strcmp(sa.private_key, pem) == 0,
       "private_key unescaped to the PEM");
    ok(rc == 0 && strcmp(sa.token_uri, "http://127.0.0.1:1/token") == 0,
       "token_uri");
    tokenroute_sa_free(&sa);

    rc = tokenroute_sa_parse("{\"type\":\"authorized_user\"}", 26, &sa, err,
                             sizeof(err));
    ok(rc == -1 && strstr(err, "service account") != NULL,
       "a user's credentials are refused: %s", err);

    js = "{\"client_email\":\"a@b\",\"private_key\":\"SECRET\"}";
    rc = tokenroute_sa_parse(js, strlen(js), &sa, err, sizeof(err));
    ok(rc == 0 && strcmp(sa.token_uri, "https://oauth2.googleapis.com/token")
                  == 0, "token_uri defaults to Google's");
    tokenroute_sa_free(&sa);

    js = "{\"client_email\":\"a@b\",\"private_key\":\"SECRET\","
         "\"token_uri\":1}";
    rc = tokenroute_sa_parse(js, strlen(js), &sa, err, sizeof(err));
    ok(rc == -1 && strstr(err, "token_uri") && !strstr(err, "SECRET"),
       "a token_uri that is not a string is refused, the key not shown");

    rc = tokenroute_sa_parse("[1]", 3, &sa, err, sizeof(err));
    ok(rc == -1, "not an object: refused");

    rc = tokenroute_sa_parse("{\"private_key\":\"SECRET\"", 23, &sa, err,
                             sizeof(err));
    ok(rc == -1 && !strstr(err, "SECRET"), "broken JSON: refused");
}


static void
test_jwt(EVP_PKEY *key, const char *pem)
{
    int             n, rc;
    char           *jwt, *dot1, *dot2, claims[1024], dec[1024], bad[1024];
    size_t          len, dlen;
    EVP_PKEY       *k2;
    EVP_MD_CTX     *md;
    unsigned char   sig[512];

    k2 = tokenroute_jwt_key(pem, strlen(pem));
    ok(k2 != NULL, "PEM key loaded");
    ok(tokenroute_jwt_key("-----BEGIN PRIVATE KEY-----\nAAAA\n"
                          "-----END PRIVATE KEY-----\n", 60) == NULL,
       "a broken PEM is refused");

    n = tokenroute_jwt_claims(claims, sizeof(claims), "gw@p.iam",
                              TOKENROUTE_JWT_SCOPE,
                              "https://oauth2.googleapis.com/token",
                              1700000000);
    ok(n > 0 && strcmp(claims, "{\"iss\":\"gw@p.iam\",\"scope\":"
                       "\"https://www.googleapis.com/auth/cloud-platform\","
                       "\"aud\":\"https://oauth2.googleapis.com/token\","
                       "\"iat\":1700000000,\"exp\":1700003600}") == 0
       && (size_t) n == strlen(claims), "claims: %s", claims);

    n = tokenroute_jwt_claims(bad, sizeof(bad), "a\"b\\c\n", "s", "a", 1);
    ok(n > 0 && strstr(bad, "\"iss\":\"a\\\"b\\\\c\\u000a\"") != NULL,
       "claims escaped: %s", bad);

    ok(tokenroute_jwt_claims(bad, 40, "gw@p.iam", TOKENROUTE_JWT_SCOPE,
                             "x", 1) == -1, "claims: too small a buffer");

    n = tokenroute_jwt_claims(claims, sizeof(claims), "gw@p.iam",
                              TOKENROUTE_JWT_SCOPE, "http://127.0.0.1/t",
                              1700000000);

    rc = tokenroute_jwt_sign(k2, claims, n, &jwt, &len);
    ok(rc == 0 && strlen(jwt) == len, "JWT signed");
    if (rc != 0) {
        return;
    }

    dot1 = strchr(jwt, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    ok(dot1 && dot2 && strchr(dot2 + 1, '.') == NULL, "three parts");

    dlen = unb64url((unsigned char *) dec, jwt, dot1 - jwt);
    dec[dlen] = '\0';
    ok(strcmp(dec, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}") == 0,
       "header: %s", dec);

    dlen = unb64url((unsigned char *) dec, dot1 + 1, dot2 - dot1 - 1);
    dec[dlen] = '\0';
    ok(strcmp(dec, claims) == 0, "claims part decodes to the claims");

    dlen = unb64url(sig, dot2 + 1, strlen(dot2 + 1));
    ok(dlen == 256, "a 2048-bit signature");

    /* verified with the key made here, by OpenSSL's verifier */

    md = EVP_MD_CTX_new();
    ok(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1
       && EVP_DigestVerify(md, sig, dlen, (unsigned char *) jwt,
                           dot2 - jwt) == 1,
       "signature verified with the public key");
    EVP_MD_CTX_free(md);

    memcpy(bad, jwt, dot2 - jwt);
    bad[(dot1 - jwt) + 3] ^= 1;

    md = EVP_MD_CTX_new();
    ok(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1
       && EVP_DigestVerify(md, sig, dlen, (unsigned char *) bad,
                           dot2 - jwt) != 1,
       "a changed claim fails the verification");
    EVP_MD_CTX_free(md);

    free(jwt);
    EVP_PKEY_free(k2);
}


static void
test_oauth(void)
{
    int       n;
    char      tok[64];
    int64_t   exp;
    const char  *ans;

    ans = "{\"access_token\":\"ya29.c.b0Aaek\",\"expires_in\":3599,"
          "\"token_type\":\"Bearer\"}";
    n = tokenroute_oauth_parse(ans, strlen(ans), tok, sizeof(tok), &exp);
    ok(n == 13 && strcmp(tok, "ya29.c.b0Aaek") == 0 && exp == 3599,
       "token answer read");

    ans = "{\"access_token\":\"ya29 x\",\"expires_in\":3599}";
    ok(tokenroute_oauth_parse(ans, strlen(ans), tok, sizeof(tok), &exp)
       == -1, "a token with a space is refused");

    ans = "{\"access_token\":\"ya29\\r\\nX-Evil: 1\",\"expires_in\":3599}";
    ok(tokenroute_oauth_parse(ans, strlen(ans), tok, sizeof(tok), &exp)
       == -1, "a token with CR LF is refused");

    ans = "{\"access_token\":\"ya29\"}";
    ok(tokenroute_oauth_parse(ans, strlen(ans), tok, sizeof(tok), &exp)
       == -1, "no expires_in: refused");

    ans = "{\"error\":\"invalid_grant\",\"error_description\":\"bad\"}";
    ok(tokenroute_oauth_parse(ans, strlen(ans), tok, sizeof(tok), &exp)
       == -1, "an error answer is no token");

    ans = "{\"access_token\":\"0123456789012345678901234567890123456789"
          "0123456789012345678901234567890123456789\",\"expires_in\":1}";
    ok(tokenroute_oauth_parse(ans, strlen(ans), tok, sizeof(tok), &exp)
       == -1, "a token longer than the buffer is refused");

    ok(tokenroute_oauth_parse("<html>", 6, tok, sizeof(tok), &exp) == -1,
       "not JSON: refused");

    {
        char  why[64];

        ans = "{\"error\":\"invalid_grant\",\"error_description\":"
              "\"a\\nb \\\"q\\\" \\u00e9\",\"access_token\":\"ya29.S\"}";
        n = tokenroute_oauth_error(ans, strlen(ans), why, sizeof(why));
        ok(n > 0 && strcmp(why, "invalid_grant: \"a\\nb \\\"q\\\" "
                                "\\xc3\\xa9\"") == 0,
           "an OAuth2 error: its fields escaped, nothing else");

        ok(tokenroute_oauth_error("<html>", 6, why, sizeof(why)) == -1
           && why[0] == '\0', "not an OAuth2 error: none");

        ans = "{\"error\":\"x\",\"error_description\":\"0123456789"
              "0123456789012345678901234567890123456789012345678901234567"
              "890123456789\"}";
        n = tokenroute_oauth_error(ans, strlen(ans), why, sizeof(why));
        ok(n > 0 && (size_t) n < sizeof(why) && strlen(why) == (size_t) n
           && why[n - 1] == '"', "a long description cut to the buffer");
    }
}


int
main(void)
{
    char      *pem;
    EVP_PKEY  *key;

    test_base64url();
    test_oauth();

    key = EVP_RSA_gen(2048);
    ok(key != NULL, "RSA key made");
    if (key == NULL) {
        printf("1..%d\n", tests);
        return 1;
    }

    pem = key_pem(key);

    test_key_file(pem);
    test_jwt(key, pem);

    free(pem);
    EVP_PKEY_free(key);

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
