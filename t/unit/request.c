
/*
 * Copyright (C) tokenroute authors
 *
 * Unit tests for the request body scanner and the model splice
 * (src/tokenroute_request.c).  Prints TAP.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_request.h>


typedef struct {
    const char                   *body;
    tokenroute_request_status_e   status;
    const char                   *model;
    int                           stream;
    long long                     max_tokens;
    const char                   *bad_field;
} scan_case_t;


typedef struct {
    const char  *body;
    const char  *model;
    int          include_usage;
    const char  *expect;
    int          drop_models;
} rewrite_case_t;


static void ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


static int  tests;
static int  failed;


static scan_case_t  scan_cases[] = {
    { "{\"model\":\"gpt\",\"messages\":[]}",
      TOKENROUTE_REQUEST_OK, "gpt", 0, -1, NULL },
    { " { \"messages\" : [ {\"model\":\"inner\"} ] , \"model\" :  \"m/x\" } ",
      TOKENROUTE_REQUEST_OK, "m/x", 0, -1, NULL },
    { "{\"model\":\"a\",\"stream\":true,\"max_tokens\":100}",
      TOKENROUTE_REQUEST_OK, "a", 1, 100, NULL },
    { "{\"model\":\"a\",\"stream\":false,\"stream_options\":{\"x\":1}}",
      TOKENROUTE_REQUEST_OK, "a", 0, -1, NULL },
    { "{\"max_completion_tokens\":7,\"model\":\"a\",\"max_tokens\":100}",
      TOKENROUTE_REQUEST_OK, "a", 0, 7, NULL },
    { "{\"max_tokens\":100,\"model\":\"a\",\"max_completion_tokens\":7}",
      TOKENROUTE_REQUEST_OK, "a", 0, 7, NULL },
    { "{\"model\":\"a\",\"stream\":null,\"max_tokens\":null}",
      TOKENROUTE_REQUEST_OK, "a", 0, -1, NULL },
    { "{\"model\":\"q\\\"uo\\\\\",\"x\":1}",
      TOKENROUTE_REQUEST_OK, "q\"uo\\", 0, -1, NULL },
    { "{\"meta\":{\"model\":\"x\"},\"model\":\"\\u0041b\"}",
      TOKENROUTE_REQUEST_OK, "Ab", 0, -1, NULL },
    { "{\"model\":\"a\"", TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0, -1, NULL },
    { "", TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0, -1, NULL },
    { "{\"model\":\"a\"} {}", TOKENROUTE_REQUEST_INVALID_JSON, NULL, 0, -1,
      NULL },
    { "[{\"model\":\"a\"}]", TOKENROUTE_REQUEST_NOT_OBJECT, NULL, 0, -1,
      NULL },
    { "\"model\"", TOKENROUTE_REQUEST_NOT_OBJECT, NULL, 0, -1, NULL },
    { "{\"messages\":[]}", TOKENROUTE_REQUEST_NO_MODEL, NULL, 0, -1, NULL },
    { "{\"model\":42}", TOKENROUTE_REQUEST_BAD_MODEL, NULL, 0, -1, NULL },
    { "{\"model\":\"\"}", TOKENROUTE_REQUEST_BAD_MODEL, NULL, 0, -1, NULL },
    { "{\"model\":null}", TOKENROUTE_REQUEST_BAD_MODEL, NULL, 0, -1, NULL },
    { "{\"model\":[\"a\"]}", TOKENROUTE_REQUEST_BAD_MODEL, NULL, 0, -1, NULL },
    { "{\"model\":\"a\",\"model\":\"b\"}", TOKENROUTE_REQUEST_BAD_MODEL, NULL,
      0, -1, NULL },
    { "{\"model\":\"a\",\"stream\":\"yes\"}", TOKENROUTE_REQUEST_BAD_FIELD,
      NULL, 0, -1, "stream" },
    { "{\"model\":\"a\",\"max_tokens\":0}", TOKENROUTE_REQUEST_BAD_FIELD,
      NULL, 0, -1, "max_tokens" },
    { "{\"model\":\"a\",\"max_completion_tokens\":1.5}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "max_completion_tokens" },
    { "{\"model\":\"a\",\"models\":\"b\"}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "models" },
    { "{\"model\":\"a\",\"models\":[1]}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "models" },
    { "{\"model\":\"a\",\"models\":[\"a\"],\"models\":[]}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "models" },
    { "{\"model\":\"a\",\"stream_options\":true}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "stream_options" },
    { "{\"model\":\"a\",\"stream_options\":{\"include_usage\":1}}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1,
      "stream_options.include_usage" },
    { "{\"model\":\"a\",\"stream_options\":{},\"stream_options\":{}}",
      TOKENROUTE_REQUEST_BAD_FIELD, NULL, 0, -1, "stream_options" },
    { NULL, 0, NULL, 0, 0, NULL }
};


static rewrite_case_t  rewrite_cases[] = {
    { "{\"model\":\"openai/gpt-4o-mini\",\"messages\":[]}", "gpt-4o-mini", 0,
      "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", 0 },
    { "{ \"messages\":[{\"model\":\"keep\"}], \"model\" : \"pub\" }", "up", 0,
      "{ \"messages\":[{\"model\":\"keep\"}], \"model\" : \"up\" }", 0 },
    { "{\"model\":\"a\\\"b\\\\\"}", "z", 0,
      "{\"model\":\"z\"}", 0 },
    { "{\"model\":\"x\"}", "we\"ird\\\n", 0,
      "{\"model\":\"we\\\"ird\\\\\\u000a\"}", 0 },
    { " {\"model\":\"x\",\"stream\":true}", "y", 1,
      " {\"stream_options\":{\"include_usage\":true},\"model\":\"y\","
      "\"stream\":true}", 0 },
    { "{\"stream\":true,\"stream_options\":{},\"model\":\"x\"}", "y", 1,
      "{\"stream\":true,\"stream_options\":{\"include_usage\":true},"
      "\"model\":\"y\"}", 0 },
    { "{\"model\":\"x\",\"stream_options\": { \"include_usage\" : false } }",
      "y", 1,
      "{\"model\":\"y\",\"stream_options\": { \"include_usage\" : false "
      ",\"include_usage\":true} }", 0 },
    { "{\"model\":\"x\",\"stream_options\":{\"include_usage\":true}}",
      "y", 1,
      "{\"model\":\"y\",\"stream_options\":{\"include_usage\":true}}", 0 },
    { "{\"stream_options\":null,\"model\":\"x\"}", "y", 1,
      "{\"stream_options\":{\"include_usage\":true},\"model\":\"y\"}", 0 },
    { "{\"model\":\"x\",\"stream_options\":{\"a\":{\"b\":1}}}", "y", 1,
      "{\"model\":\"y\",\"stream_options\":{\"a\":{\"b\":1},"
      "\"include_usage\":true}}", 0 },
    { "{\"model\":\"x\",\"models\":[\"a\",\"b\"],\"n\":1}", "y", 0,
      "{\"model\":\"y\",\"n\":1}", 1 },
    { "{\"models\" : [\"a\"] , \"model\":\"x\"}", "y", 0,
      "{ \"model\":\"y\"}", 1 },
    { "{\"model\":\"x\", \"models\":[]}", "y", 0,
      "{\"model\":\"y\"}", 1 },
    { "{\"model\":\"x\",\"models\":null,\"stream\":true}", "y", 1,
      "{\"stream_options\":{\"include_usage\":true},\"model\":\"y\","
      "\"stream\":true}", 1 },
    { "{\"model\":\"x\",\"models\":[\"a\"]}", "y", 0,
      "{\"model\":\"y\",\"models\":[\"a\"]}", 0 },
    { NULL, NULL, 0, NULL, 0 }
};


int
main(void)
{
    size_t                        len, n;
    unsigned char                *out;
    scan_case_t                  *sc;
    rewrite_case_t               *rc;
    tokenroute_rewrite_t          rw;
    tokenroute_request_t          req;
    tokenroute_request_status_e   st;

    for (sc = scan_cases; sc->body; sc++) {
        st = tokenroute_request_scan((const unsigned char *) sc->body,
                                     strlen(sc->body), &req);

        ok(st == sc->status, "scan status %d (want %d): %s", (int) st,
           (int) sc->status, sc->body);

        if (sc->status == TOKENROUTE_REQUEST_OK) {
            ok(strcmp(req.model, sc->model) == 0
               && req.model_len == strlen(sc->model),
               "model \"%s\" (want \"%s\")", req.model, sc->model);
            ok(req.stream == sc->stream, "stream %d", req.stream);
            ok(req.max_tokens == sc->max_tokens, "max_tokens %lld",
               (long long) req.max_tokens);
            ok(req.nmodels == 0 || strstr(sc->body, "\"models\"") != NULL,
               "models only when sent");
            ok(sc->body[req.model_start] == '"'
               && sc->body[req.model_end - 1] == '"',
               "model token span [%zu, %zu) is a JSON string",
               req.model_start, req.model_end);
        }

        if (sc->bad_field) {
            ok(req.bad_field && strcmp(req.bad_field, sc->bad_field) == 0,
               "bad field names \"%s\"", sc->bad_field);
        }
    }

    for (rc = rewrite_cases; rc->body; rc++) {
        len = strlen(rc->body);

        st = tokenroute_request_scan((const unsigned char *) rc->body, len,
                                     &req);
        ok(st == TOKENROUTE_REQUEST_OK, "rewrite input scans: %s", rc->body);

        rw.model = rc->model;
        rw.model_len = strlen(rc->model);
        rw.include_usage = rc->include_usage;
        rw.drop_models = rc->drop_models;

        n = tokenroute_request_rewrite_size(len, &req, &rw);

        out = malloc(n);
        if (out == NULL) {
            return 2;
        }

        len = tokenroute_request_rewrite((const unsigned char *) rc->body,
                                         len, &req, &rw, out);

        ok(len <= n && len == strlen(rc->expect)
           && memcmp(out, rc->expect, len) == 0,
           "rewrite gives %.*s", (int) len, out);

        free(out);
    }

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}


static void
ok(int cond, const char *fmt, ...)
{
    va_list  ap;

    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %d - ", cond ? "" : "not ", tests);

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);

    printf("\n");
}
