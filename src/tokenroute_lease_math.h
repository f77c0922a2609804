
/*
 * Copyright (C) tokenroute authors
 *
 * Leases, their arithmetic (src/tokenroute_lease_math.c): where a key's
 * entry is looked for, the slice a renewal asks for, what a settled
 * request gives back, and whether a key's model list lets a model in.
 * Plain C, no nginx: unit tests in t/unit/lease_math.c.
 */


#ifndef _TOKENROUTE_LEASE_MATH_H_INCLUDED_
#define _TOKENROUTE_LEASE_MATH_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* the first 8 hex digits of a key hash (either case) as a number */
uint32_t tokenroute_lease_slot(const unsigned char *kh);

/*
 * The slice a renewal asks for: slice requests of this amount each,
 * saturated at max (amount >= 0, slice >= 1)
 */
int64_t tokenroute_lease_want(int64_t amount, uint64_t slice, int64_t max);

/* what a renewal asks Redis for: the slice topped up to want, >= 0 */
int64_t tokenroute_lease_topup(int64_t want, int64_t available);

/*
 * A slice used up quickly is doubled: the want after a renewal due while
 * available < want / 4 and the record younger than fast (not when Redis
 * granted less than asked, nor past 2^50)
 */
int64_t tokenroute_lease_grow(int64_t want, int64_t available,
    unsigned capped, uint64_t age, uint64_t fast);

/* what a settled request gives back: its reservation less its cost */
int64_t tokenroute_lease_unspent(int64_t reserve, int64_t cost);

/*
 * 1 if a key's model list ("a,b,c"; empty: every model) holds the model
 * id, 0 if not
 */
int tokenroute_lease_model_allowed(const unsigned char *list, size_t len,
    const unsigned char *id, size_t id_len);


#endif /* _TOKENROUTE_LEASE_MATH_H_INCLUDED_ */
