
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: the Bedrock body, credentials file and SigV4
 * canonical request (src/tokenroute_bedrock.c, src/tokenroute_sigv4.c).
 * Input: a mode byte, then (mode % 3):
 *   0  a beta length byte, that many bytes of anthropic-beta, the body:
 *      the output fits tokenroute_bedrock_body_size(), is empty exactly
 *      when the body is not a JSON object (tokenroute_json_scan), and
 *      otherwise is JSON (UTF-8 if the input was) that starts with
 *      Bedrock's anthropic_version;
 *   1  a profile length byte, the profile, a credentials file: the spans
 *      found lie inside the file, a found profile has a key id and secret;
 *   2  the rest split at its first two NUL bytes into path, query and one
 *      header's value: the canonical request and the Authorization are
 *      made (no overrun under ASan), the Authorization names the scope,
 *      and signing with a kept signing key and hashing state (the
 *      module's way) gives the same Authorization; the kept SHA-256 of
 *      the input is SHA256()'s.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_bedrock.h>
#include <tokenroute_json_scan.h>
#include <tokenroute_sigv4.h>

#include "fuzz.h"


static int
is_object(const uint8_t *p, size_t n)
{
    tokenroute_json_scan_t   js;
    tokenroute_json_token_e  t;

    tokenroute_json_scan_init(&js, p, n);

    if (tokenroute_json_scan_next(&js) != TOKENROUTE_JSON_OBJECT) {
        return 0;
    }

    t = tokenroute_json_scan_skip(&js);

    return t == TOKENROUTE_JSON_OBJECT_END
           && tokenroute_json_scan_next(&js) == TOKENROUTE_JSON_END;
}


static void
fuzz_body(const uint8_t *data, size_t size)
{
    size_t          blen, n, max;
    unsigned char  *out;

    if (size < 1) {
        return;
    }

    blen = data[0] < size - 1 ? data[0] : size - 1;
    data++;
    size--;

    max = tokenroute_bedrock_body_size(size - blen, blen);
    out = malloc(max);
    fuzz_check(out != NULL, "malloc");

    n = tokenroute_bedrock_body(data + blen, size - blen,
                                (const char *) data, blen, out);

    fuzz_check(n <= max, "the output fits its size");
    fuzz_check((n == 0) == !is_object(data + blen, size - blen),
               "refused exactly when not an object");

    if (n) {
        fuzz_check(fuzz_json_valid(out, n,
                                   fuzz_utf8(data + blen, size - blen)
                                   && fuzz_utf8(data, blen)),
                   "the output is JSON");
        fuzz_check(n >= 42 && memcmp(out, "{\"anthropic_version\":"
                                    "\"bedrock-2023-05-31\"", 41) == 0,
                   "Bedrock's version first");
    }

    free(out);
}


static void
fuzz_credentials(const uint8_t *data, size_t size)
{
    int                            rc;
    size_t                         plen;
    const char                    *text, *end;
    tokenroute_aws_credentials_t   c;

    if (size < 1) {
        return;
    }

    plen = data[0] < size - 1 ? data[0] : size - 1;
    text = (const char *) data + 1 + plen;
    end = (const char *) data + size;

    rc = tokenroute_aws_credentials_parse(text, end - text,
                                          (const char *) data + 1, plen, &c);

    fuzz_check(rc == 0 || rc == -1 || rc == -2, "a known verdict");

    if (rc == 0) {
        fuzz_check(c.access_key_len && c.secret_key_len, "both found");
        fuzz_check(c.access_key >= text
                   && c.access_key + c.access_key_len <= end,
                   "the key id in the file");
        fuzz_check(c.secret_key >= text
                   && c.secret_key + c.secret_key_len <= end,
                   "the secret in the file");
        fuzz_check(c.session_token == NULL
                   || (c.session_token >= text
                       && c.session_token + c.session_token_len <= end),
                   "the token in the file");
    }
}


static void
fuzz_sign(const uint8_t *data, size_t size)
{
    char                       *auth, *creq, *kauth;
    size_t                      i, len, part[3], start[3], k, klen;
    tokenroute_sigv4_t          s;
    tokenroute_sigv4_header_t   h[2];
    unsigned char               key[TOKENROUTE_SIGV4_KEY_LEN];
    char                        hash[TOKENROUTE_SIGV4_HEX_LEN + 1];
    char                        khash[TOKENROUTE_SIGV4_HEX_LEN + 1];

    /* the module's state lives as long as a worker: so here, the process */
    static tokenroute_sigv4_hash_t  kept;
    static int                      kept_ready;

    k = 0;
    start[0] = 0;

    for (i = 0; i < size && k < 2; i++) {
        if (data[i] == '\0') {
            part[k] = i - start[k];
            start[++k] = i + 1;
        }
    }

    while (k < 2) {
        part[k] = size - start[k];
        start[++k] = size;
    }

    part[2] = size - start[2];

    h[0].name = "Host";
    h[0].name_len = 4;
    h[0].value = (const char *) data + start[2];
    h[0].value_len = part[2];
    h[1].name = "x-amz-date";
    h[1].name_len = 10;
    h[1].value = "20261206T145000Z";
    h[1].value_len = 16;

    tokenroute_sigv4_sha256_hex(data, size, hash);

    memset(&s, 0, sizeof(s));
    s.method = "POST";
    s.path = (const char *) data;
    s.path_len = part[0];
    s.query = (const char *) data + start[1];
    s.query_len = part[1];
    s.headers = h;
    s.nheaders = 2;
    s.payload_hash = hash;
    s.access_key = "AKIDEXAMPLE";
    s.secret_key = "secret";
    s.region = "us-east-1";
    s.service = "bedrock";
    s.amz_date = "20261206T145000Z";
    s.normalize = size & 1;

    creq = tokenroute_sigv4_canonical_request(&s, &len);
    fuzz_check(creq != NULL && creq[len] == '\0'
               && (memchr(h[0].value, '\0', h[0].value_len) != NULL
                   || strlen(creq) == len), "a canonical request");
    free(creq);

    auth = tokenroute_sigv4_authorization(&s, &len);
    fuzz_check(auth != NULL && strncmp(auth, "AWS4-HMAC-SHA256 Credential="
               "AKIDEXAMPLE/20261206/us-east-1/bedrock/aws4_request, "
               "SignedHeaders=host;x-amz-date, Signature=", 122) == 0
               && len == 122 + TOKENROUTE_SIGV4_HEX_LEN, "the Authorization");

    if (!kept_ready) {
        fuzz_check(tokenroute_sigv4_hash_init(&kept) == 0, "a hash state");
        kept_ready = 1;
    }

    fuzz_check(tokenroute_sigv4_hash_sha256_hex(&kept, data, size, khash)
               == 0 && strcmp(khash, hash) == 0, "the kept SHA-256");

    fuzz_check(tokenroute_sigv4_signing_key(&s, key) == 0, "a signing key");
    s.signing_key = key;
    s.hash = &kept;

    kauth = tokenroute_sigv4_authorization(&s, &klen);
    fuzz_check(kauth != NULL && klen == len && memcmp(kauth, auth, len) == 0,
               "the same Authorization with the kept state");

    free(auth);
    free(kauth);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }

    switch (data[0] % 3) {
    case 0:
        fuzz_body(data + 1, size - 1);
        break;
    case 1:
        fuzz_credentials(data + 1, size - 1);
        break;
    default:
        fuzz_sign(data + 1, size - 1);
        break;
    }

    return 0;
}
