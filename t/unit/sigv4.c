
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests of tokenroute_sigv4.c.  The vectors are AWS's published
 * SigV4 test suite, as awslabs/aws-c-auth ships it in
 * tests/aws-signing-test-suite/v4/ (commit 495329c2, written into
 * sigv4_vectors.h by t/unit/ref/sigv4_vectors.pl): each case's canonical
 * request, string to sign and Authorization must come out byte for byte.
 * The Bedrock-shaped cases were signed by botocore 1.43.11's SigV4Auth
 * (service "bedrock", a model id with ':' sent as "%3A" and so "%253A" in
 * the canonical request, a session token).
 */


#include <stdlib.h>
#include <string.h>

#include "tokenroute_sigv4.h"

#include "tap.h"


typedef struct {
    const char  *name;
    const char  *value;
} vec_header_t;


typedef struct {
    const char   *name;
    const char   *method;
    const char   *path;
    const char   *query;
    const char   *body;
    int           normalize;
    const char   *region;
    const char   *service;
    const char   *access_key;
    const char   *secret_key;
    vec_header_t  headers[12];
    const char   *creq;
    const char   *sts;
    const char   *authorization;
} vec_t;


/* the hashing state the module keeps between requests */
static tokenroute_sigv4_hash_t  kept;


static const vec_t  vectors[] = {
#include "sigv4_vectors.h"
};


typedef struct {
    const char  *name;
    const char  *host;
    const char  *path;
    const char  *body;
    const char  *token;
    const char  *region;
    const char  *date;
    const char  *authorization;
} bedrock_vec_t;


static const bedrock_vec_t  bedrock[] = {
    { "invoke", "bedrock-runtime.us-east-1.amazonaws.com",
      "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke",
      "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":16,"
      "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
      NULL, "us-east-1", "20261206T144609Z",
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261206/us-east-1/"
      "bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature="
      "607e2807afc9d11a94448f0f9e6d5e02192aba97af062cb652aa8f4b7a2c3529" },

    { "invoke with a session token",
      "bedrock-runtime.eu-west-3.amazonaws.com",
      "/model/eu.anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke",
      "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":1,"
      "\"messages\":[]}",
      "FQoGZXIvYXdzEBYaDEXAMPLETOKEN/+=", "eu-west-3", "20261206T144609Z",
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261206/eu-west-3/"
      "bedrock/aws4_request, SignedHeaders=host;x-amz-date;"
      "x-amz-security-token, Signature="
      "492d2ff18e8151f1198fe6b9e8cf49c8418bc01059ee6e276f802d220ed4f434" }
};


static void
run_vector(const vec_t *v)
{
    char                       *creq, *sts, *auth, *date;
    size_t                      i, n, creq_len, sts_len, auth_len;
    tokenroute_sigv4_t          s;
    tokenroute_sigv4_header_t   h[12];
    unsigned char               key[TOKENROUTE_SIGV4_KEY_LEN];
    char                        hash[TOKENROUTE_SIGV4_HEX_LEN + 1];

    memset(&s, 0, sizeof(s));

    date = NULL;

    for (n = 0; v->headers[n].name; n++) {
        h[n].name = v->headers[n].name;
        h[n].name_len = strlen(v->headers[n].name);
        h[n].value = v->headers[n].value;
        h[n].value_len = strlen(v->headers[n].value);

        if (strcasecmp(h[n].name, "x-amz-date") == 0) {
            date = (char *) v->headers[n].value;
        }
    }

    tokenroute_sigv4_sha256_hex(v->body, strlen(v->body), hash);

    s.method = v->method;
    s.path = v->path;
    s.path_len = strlen(v->path);
    s.query = v->query;
    s.query_len = strlen(v->query);
    s.headers = h;
    s.nheaders = n;
    s.payload_hash = hash;
    s.access_key = v->access_key;
    s.secret_key = v->secret_key;
    s.region = v->region;
    s.service = v->service;
    s.amz_date = date;
    s.normalize = v->normalize;

    creq = tokenroute_sigv4_canonical_request(&s, &creq_len);
    ok(creq && creq_len == strlen(v->creq) && strcmp(creq, v->creq) == 0,
       "%s: canonical request", v->name);

    if (creq && strcmp(creq, v->creq) != 0) {
        printf("# got:\n# %s\n# want:\n# %s\n", creq, v->creq);
    }

    sts = creq ? tokenroute_sigv4_string_to_sign(&s, creq, creq_len, &sts_len)
               : NULL;
    ok(sts && strcmp(sts, v->sts) == 0, "%s: string to sign", v->name);

    auth = tokenroute_sigv4_authorization(&s, &auth_len);
    ok(auth && auth_len == strlen(v->authorization)
       && strcmp(auth, v->authorization) == 0, "%s: authorization", v->name);

    /* the module's way: the signing key and the hashing state kept */
    free(auth);
    s.hash = &kept;
    s.signing_key = key;
    auth = (tokenroute_sigv4_signing_key(&s, key) == 0)
           ? tokenroute_sigv4_authorization(&s, &auth_len) : NULL;
    ok(auth && auth_len == strlen(v->authorization)
       && strcmp(auth, v->authorization) == 0,
       "%s: authorization, hashing state kept", v->name);
    s.hash = NULL;
    s.signing_key = NULL;

    for (i = 0; auth && i < 1; i++) {
        /* a changed byte of the secret, the body or the date: not equal */
        s.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz";
        free(auth);
        auth = tokenroute_sigv4_authorization(&s, &auth_len);
        ok(auth && strcmp(auth, v->authorization) != 0,
           "%s: another secret, another signature", v->name);
    }

    free(creq);
    free(sts);
    free(auth);
}


static void
run_bedrock(const bedrock_vec_t *v)
{
    char                       *auth;
    size_t                      n, len;
    tokenroute_sigv4_t          s;
    tokenroute_sigv4_header_t   h[3];
    unsigned char               key[TOKENROUTE_SIGV4_KEY_LEN];
    char                        hash[TOKENROUTE_SIGV4_HEX_LEN + 1];

    n = 0;
    h[n].name = "host";
    h[n].name_len = 4;
    h[n].value = v->host;
    h[n++].value_len = strlen(v->host);
    h[n].name = "x-amz-date";
    h[n].name_len = 10;
    h[n].value = v->date;
    h[n++].value_len = strlen(v->date);

    if (v->token) {
        h[n].name = "x-amz-security-token";
        h[n].name_len = 20;
        h[n].value = v->token;
        h[n++].value_len = strlen(v->token);
    }

    tokenroute_sigv4_sha256_hex(v->body, strlen(v->body), hash);

    memset(&s, 0, sizeof(s));
    s.method = "POST";
    s.path = v->path;
    s.path_len = strlen(v->path);
    s.query = "";
    s.headers = h;
    s.nheaders = n;
    s.payload_hash = hash;
    s.access_key = "AKIAIOSFODNN7EXAMPLE";
    s.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    s.region = v->region;
    s.service = "bedrock";
    s.amz_date = v->date;

    auth = tokenroute_sigv4_authorization(&s, &len);
    ok(auth && strcmp(auth, v->authorization) == 0, "bedrock %s: as botocore",
       v->name);

    if (auth && strcmp(auth, v->authorization) != 0) {
        printf("# got %s\n", auth);
    }

    free(auth);

    /* the signing key kept by the caller signs the same */

    ok(tokenroute_sigv4_signing_key(&s, key) == 0, "bedrock %s: signing key",
       v->name);
    s.signing_key = key;

    auth = tokenroute_sigv4_authorization(&s, &len);
    ok(auth && strcmp(auth, v->authorization) == 0,
       "bedrock %s: with the kept signing key", v->name);
    free(auth);

    s.hash = &kept;
    auth = tokenroute_sigv4_authorization(&s, &len);
    ok(auth && strcmp(auth, v->authorization) == 0,
       "bedrock %s: with the kept signing key and hashing state", v->name);
    free(auth);

    key[0] ^= 1;
    auth = tokenroute_sigv4_authorization(&s, &len);
    ok(auth && strcmp(auth, v->authorization) != 0,
       "bedrock %s: another signing key, another signature", v->name);
    free(auth);
}


/* a header value with a NUL and a newline: the signed names still found */

static void
nul_value(void)
{
    char                       *auth;
    size_t                      len;
    tokenroute_sigv4_t          s;
    tokenroute_sigv4_header_t   h[2];
    char                        hash[TOKENROUTE_SIGV4_HEX_LEN + 1];

    h[0].name = "host";
    h[0].name_len = 4;
    h[0].value = "a\0b\nc";
    h[0].value_len = 5;
    h[1].name = "x-amz-date";
    h[1].name_len = 10;
    h[1].value = "20261206T145000Z";
    h[1].value_len = 16;

    tokenroute_sigv4_sha256_hex("", 0, hash);

    memset(&s, 0, sizeof(s));
    s.method = "POST";
    s.path = "/";
    s.path_len = 1;
    s.query = "";
    s.headers = h;
    s.nheaders = 2;
    s.payload_hash = hash;
    s.access_key = "AKID";
    s.secret_key = "secret";
    s.region = "us-east-1";
    s.service = "bedrock";
    s.amz_date = "20261206T145000Z";

    auth = tokenroute_sigv4_authorization(&s, &len);
    ok(auth && strstr(auth, "SignedHeaders=host;x-amz-date, Signature=")
       && len == strlen(auth), "a NUL in a header value: %s", auth);
    free(auth);
}


int
main(void)
{
    char    out[64], date[TOKENROUTE_SIGV4_DATE_LEN + 1];
    size_t  i, n;

    ok(tokenroute_sigv4_hash_init(&kept) == 0, "a hashing state");

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        run_vector(&vectors[i]);
    }

    ok(sizeof(vectors) / sizeof(vectors[0]) >= 30,
       "the test suite's cases are all here (%zu)",
       sizeof(vectors) / sizeof(vectors[0]));

    for (i = 0; i < sizeof(bedrock) / sizeof(bedrock[0]); i++) {
        run_bedrock(&bedrock[i]);
    }

    nul_value();

    n = tokenroute_sigv4_uri_encode((const unsigned char *) "a:b/c %~", 8,
                                    out, 0);
    out[n] = '\0';
    ok(strcmp(out, "a%3Ab%2Fc%20%25~") == 0, "uri encode: %s", out);

    tokenroute_sigv4_amz_date(1440938160, date);
    ok(strcmp(date, "20150830T123600Z") == 0, "amz date: %s", date);

    tokenroute_sigv4_hash_free(&kept);

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
