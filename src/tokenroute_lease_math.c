
/*
 * Copyright (C) tokenroute authors
 *
 * Leases, their arithmetic: pure functions the lease files
 * (src/ngx_http_tokenroute_lease*.c) call under the zone's lock.
 */


#include <string.h>

#include "tokenroute_lease_math.h"


/*
 * '0'-'9' are 0x30-0x39 (bit 6 clear), 'a'-'f' and 'A'-'F' have 1-6 in
 * their low nibble and bit 6 set: each digit's value with no table and
 * no branch, the 8 of them at once in a 64-bit word on a little-endian
 * machine (a key hash's digits are taken three times a request)
 */

uint32_t
tokenroute_lease_slot(const unsigned char *kh)
{
#if defined __BYTE_ORDER__ && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__

    uint64_t  x;

    memcpy(&x, kh, 8);

    /* byte i: the value of digit i, 0-15 (6 + 9 at most: no carry) */
    x = (x & 0x0f0f0f0f0f0f0f0fULL) + ((x >> 6) & 0x0101010101010101ULL) * 9;

    /* pairs, then fours, then all 8: the first digit the highest */
    x = ((x & 0x00ff00ff00ff00ffULL) << 4)
        | ((x >> 8) & 0x00ff00ff00ff00ffULL);
    x = ((x & 0x0000ffff0000ffffULL) << 8)
        | ((x >> 16) & 0x0000ffff0000ffffULL);

    return (uint32_t) (((x & 0xffffffffULL) << 16) | (x >> 32));

#else

    size_t    i;
    uint32_t  h, c;

    h = 0;

    for (i = 0; i < 8; i++) {
        c = kh[i];
        h = (h << 4) | (((c & 0xf) + (c >> 6) * 9) & 0xf);
    }

    return h;

#endif
}


int64_t
tokenroute_lease_want(int64_t amount, uint64_t slice, int64_t max)
{
    if (amount <= 0) {
        return 0;
    }

    if (slice == 0 || (uint64_t) amount > (uint64_t) max / slice) {
        return slice == 0 ? 0 : max;
    }

    return amount * (int64_t) slice;
}


int64_t
tokenroute_lease_topup(int64_t want, int64_t available)
{
    if (available < 0) {
        available = 0;
    }

    return want > available ? want - available : 0;
}


int64_t
tokenroute_lease_grow(int64_t want, int64_t available, unsigned capped,
    uint64_t age, uint64_t fast)
{
    if (!capped && available < want / 4 && age < fast
        && want < ((int64_t) 1 << 50))
    {
        return want * 2;
    }

    return want;
}


int64_t
tokenroute_lease_unspent(int64_t reserve, int64_t cost)
{
    if (reserve <= 0) {
        return 0;
    }

    return cost <= 0 ? reserve : (cost >= reserve ? 0 : reserve - cost);
}


int
tokenroute_lease_model_allowed(const unsigned char *list, size_t len,
    const unsigned char *id, size_t id_len)
{
    const unsigned char  *p, *last, *comma;

    if (len == 0) {
        return 1;
    }

    p = list;
    last = list + len;

    for ( ;; ) {
        comma = memchr(p, ',', last - p);

        if (comma == NULL) {
            comma = last;
        }

        if ((size_t) (comma - p) == id_len && memcmp(p, id, id_len) == 0) {
            return 1;
        }

        if (comma == last) {
            return 0;
        }

        p = comma + 1;
    }
}
