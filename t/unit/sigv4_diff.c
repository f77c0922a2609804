
/*
 * Copyright (C) tokenroute authors
 *
 * Differential tests of the kept hashing state (tokenroute_sigv4_hash.c)
 * against libcrypto's one-shot SHA256() and HMAC(), over random lengths,
 * keys changed and kept; and of SigV4 signing with the state and a kept
 * signing key against signing without either, over random requests
 * (paths, queries, headers, tokens, dates).  AWS's suite runs both ways
 * in t/unit/sigv4.c.  Prints TAP.
 */


#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "tokenroute_sigv4.h"

#include "tap.h"


static uint64_t  rng_state = 0x2545f4914f6cdd1dULL;


static unsigned
rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;

    return (unsigned) (rng_state >> 16);
}


static void
fill(unsigned char *p, size_t n, const char *alphabet)
{
    size_t  i, k;

    k = alphabet ? strlen(alphabet) : 0;

    for (i = 0; i < n; i++) {
        p[i] = alphabet ? (unsigned char) alphabet[rnd() % k]
                        : (unsigned char) rnd();
    }
}


static void
test_hashes(tokenroute_sigv4_hash_t *h)
{
    size_t          i, n;
    unsigned        bad_sha, bad_hmac, rekeyed;
    unsigned int    len;
    unsigned char   data[3000], key[32], keys[3][32];
    unsigned char   a[32], b[EVP_MAX_MD_SIZE];

    bad_sha = 0;
    bad_hmac = 0;
    rekeyed = 0;

    fill(data, sizeof(data), NULL);
    fill(&keys[0][0], sizeof(keys), NULL);

    for (i = 0; i < 5000; i++) {
        n = (i < 200) ? i : rnd() % sizeof(data);

        SHA256(data, n, b);

        if (tokenroute_sigv4_hash_sha256(h, data, n, a) != 0
            || memcmp(a, b, 32) != 0)
        {
            bad_sha++;
        }

        /* a key kept for a while, then another, sometimes one seen before */

        if (i % 7 == 0) {
            memcpy(key, keys[rnd() % 3], 32);

            if (rnd() % 2) {
                key[rnd() % 32] ^= 1 << (rnd() % 8);
            }

            rekeyed++;
        }

        len = 0;

        if (HMAC(EVP_sha256(), key, 32, data, n, b, &len) == NULL
            || len != 32
            || tokenroute_sigv4_hash_key(h, key) != 0
            || tokenroute_sigv4_hash_hmac(h, data, n, a) != 0
            || memcmp(a, b, 32) != 0)
        {
            bad_hmac++;
        }
    }

    ok(bad_sha == 0, "kept SHA-256 = SHA256() over 5000 lengths (%u off)",
       bad_sha);
    ok(bad_hmac == 0, "kept HMAC = HMAC() over 5000 texts, %u keys "
       "(%u off)", rekeyed, bad_hmac);
}


static void
test_signing(tokenroute_sigv4_hash_t *h)
{
    char                       *slow, *fast;
    size_t                      i, k, n, slow_len, fast_len;
    unsigned                    bad, failed_both;
    tokenroute_sigv4_t          s;
    tokenroute_sigv4_header_t   hd[6];
    unsigned char               key[TOKENROUTE_SIGV4_KEY_LEN];
    char                        path[200], query[80], vals[6][60];
    char                        date[TOKENROUTE_SIGV4_DATE_LEN + 1];
    char                        hash[TOKENROUTE_SIGV4_HEX_LEN + 1];

    static const char  *names[] = {
        "host", "x-amz-date", "X-Amz-Security-Token", "content-type",
        "My-Header", "x-amz-date"
    };
    static const char  *regions[] = { "us-east-1", "eu-west-3", "ap-x-9" };
    static const char  *secrets[] = {
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "s", "0123456789"
    };

    bad = 0;
    failed_both = 0;

    for (i = 0; i < 3000; i++) {
        n = 1 + rnd() % (sizeof(path) - 2);
        path[0] = '/';
        fill((unsigned char *) path + 1, n - 1,
             "abc/.:%3A-_~ XYZ019");

        k = (rnd() % 3) ? 0 : rnd() % sizeof(query);
        fill((unsigned char *) query, k, "a=b&c%20d=+~");

        tokenroute_sigv4_amz_date(1700000000 + (time_t) (rnd() % 100000000),
                                  date);

        for (n = 0; n < 1 + rnd() % 6; n++) {
            fill((unsigned char *) vals[n], rnd() % sizeof(vals[n]),
                 "abc  \t:;,=/+EXAMPLE0");
            hd[n].name = names[n];
            hd[n].name_len = strlen(names[n]);
            hd[n].value = vals[n];
            hd[n].value_len = strlen(vals[n]) > 0 ? rnd() % 60 : 0;
            hd[n].value_len = hd[n].value_len > sizeof(vals[n])
                              ? sizeof(vals[n]) : hd[n].value_len;
        }

        memset(hash, 'a' + rnd() % 6, TOKENROUTE_SIGV4_HEX_LEN);
        hash[TOKENROUTE_SIGV4_HEX_LEN] = '\0';

        memset(&s, 0, sizeof(s));
        s.method = (rnd() % 2) ? "POST" : "GET";
        s.path = path;
        s.path_len = strlen(path) > 0 ? 1 + rnd() % (sizeof(path) - 1) : 1;
        s.path_len = s.path_len > sizeof(path) ? sizeof(path) : s.path_len;
        s.query = query;
        s.query_len = k;
        s.headers = hd;
        s.nheaders = n;
        s.payload_hash = hash;
        s.access_key = "AKIDEXAMPLE";
        s.secret_key = secrets[rnd() % 3];
        s.region = regions[rnd() % 3];
        s.service = (rnd() % 2) ? "bedrock" : "service";
        s.amz_date = date;
        s.normalize = rnd() % 2;

        slow = tokenroute_sigv4_authorization(&s, &slow_len);

        if (tokenroute_sigv4_signing_key(&s, key) != 0) {
            bad++;
            free(slow);
            continue;
        }

        s.signing_key = key;
        s.hash = h;

        fast = tokenroute_sigv4_authorization(&s, &fast_len);

        if (slow == NULL && fast == NULL) {
            failed_both++;

        } else if (slow == NULL || fast == NULL || slow_len != fast_len
                   || memcmp(slow, fast, slow_len) != 0)
        {
            if (bad++ < 3) {
                printf("# differ:\n# %s\n# %s\n", slow ? slow : "(null)",
                       fast ? fast : "(null)");
            }
        }

        free(slow);
        free(fast);
    }

    ok(bad == 0, "signed with the kept state = signed without, 3000 random "
       "requests (%u differ)", bad);
    ok(failed_both == 0, "every random request signed (%u not)",
       failed_both);
}


int
main(void)
{
    tokenroute_sigv4_hash_t  h;

    ok(tokenroute_sigv4_hash_init(&h) == 0, "a hashing state");

    test_hashes(&h);
    test_signing(&h);

    /* a state that was never keyed signs nothing rather than anything */
    tokenroute_sigv4_hash_free(&h);
    ok(tokenroute_sigv4_hash_init(&h) == 0, "a fresh state");
    ok(tokenroute_sigv4_hash_hmac(&h, "x", 1, (unsigned char *) &rng_state)
       == -1, "HMAC before a key: refused");
    tokenroute_sigv4_hash_free(&h);

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
