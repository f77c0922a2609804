
/*
 * Copyright (C) tokenroute authors
 *
 * A test's shim (LD_PRELOAD, t/lease_nomem.t): malloc() of a size from
 * FAIL_MIN to FAIL_MAX bytes fails while the file FAIL_FLAG exists, so
 * that one allocation of nginx's (a pool's large one, ngx_alloc()) can be
 * made to fail on demand.  Everything else is glibc's.
 */


#include <stddef.h>
#include <unistd.h>


void *__libc_malloc(size_t size);
void *malloc(size_t size);


void *
malloc(size_t size)
{
    if (size >= FAIL_MIN && size <= FAIL_MAX && access(FAIL_FLAG, F_OK) == 0) {
        return NULL;
    }

    return __libc_malloc(size);
}
