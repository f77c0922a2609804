
/*
 * Copyright (C) tokenroute authors
 *
 * The TAP every C unit test prints (prove reads it through t/unit-*.t):
 * ok() for each check; main() prints the plan "1..tests" at the end and
 * exits non-zero if any failed.
 */


#ifndef _TOKENROUTE_TAP_H_INCLUDED_
#define _TOKENROUTE_TAP_H_INCLUDED_


#include <stdarg.h>
#include <stdio.h>


static int  tests;
static int  failed;


static void ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static void
ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %d - ", cond ? "" : "not ", tests);

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


#endif /* _TOKENROUTE_TAP_H_INCLUDED_ */
