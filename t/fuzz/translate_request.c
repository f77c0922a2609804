
/*
 * Copyright (C) tokenroute authors
 *
 * libFuzzer target: the request translators (src/tokenroute_translate*.c),
 * OpenAI to Anthropic, Anthropic to OpenAI and the same-shape copies.
 * Input: a flags byte (the shapes, the options), then the body.  A body
 * that translates must give valid JSON (UTF-8 if the body was) that the
 * request scan reads with
 * the model asked for (when the request scan, which the gateway runs
 * first, took the body); one that does not must give a NUL-terminated
 * message that fits err.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokenroute_request.h>
#include <tokenroute_translate.h>

#include "fuzz.h"


static const char  *models[4] = {
    NULL, "claude-sonnet-4-5", "gpt/\"odd\"\\\x7f\xc3\xa9", ""
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                           rc, from, to, scanned;
    char                          err[TOKENROUTE_TRANSLATE_ERR_SIZE + 1];
    size_t                        out_len, err_size;
    unsigned                      flags;
    unsigned char                *out;
    tokenroute_translate_opts_t   opts;
    tokenroute_request_status_e   st;

    static tokenroute_request_t   req;

    if (size < 1) {
        return 0;
    }

    flags = data[0];
    data++;
    size--;

    from = (flags & 1) ? TOKENROUTE_SHAPE_ANTHROPIC : TOKENROUTE_SHAPE_OPENAI;
    to = (flags & 2) ? TOKENROUTE_SHAPE_ANTHROPIC : TOKENROUTE_SHAPE_OPENAI;

    opts.model = models[(flags >> 2) & 3];
    opts.model_len = opts.model ? strlen(opts.model) : 0;
    opts.default_max_tokens = (flags & 0x10) ? 0 : 4096;
    opts.include_usage = (flags >> 5) & 1;

    /* a short err buffer must be cut, not overrun */
    err_size = (flags & 0x40) ? 7 : TOKENROUTE_TRANSLATE_ERR_SIZE;
    err[err_size] = '#';

    scanned = tokenroute_request_scan(data, size, &req)
              == TOKENROUTE_REQUEST_OK;

    rc = tokenroute_translate_request(from, to, data, size, &opts, &out,
                                      &out_len, err, err_size);

    fuzz_check(err[err_size] == '#', "err is not overrun");
    fuzz_check(rc == 0 || rc == -1 || rc == -2 || rc == -3, "return code");

    if (rc != 0) {
        fuzz_check(out == NULL, "no body on failure");
        fuzz_check(rc == -2 || (memchr(err, '\0', err_size) != NULL
                                && err[0] != '\0'),
                   "a message on failure");
        return 0;
    }

    fuzz_check(out != NULL, "a body");
    fuzz_check(fuzz_json_valid(out, out_len, fuzz_utf8(data, size)),
               "the body is valid JSON");

    st = tokenroute_request_scan(out, out_len, &req);

    if (scanned && opts.model != NULL && opts.model_len > 0) {
        fuzz_check(st == TOKENROUTE_REQUEST_OK, "the body scans");
        fuzz_check(req.model_len == opts.model_len
                   && memcmp(req.model, opts.model, opts.model_len) == 0,
                   "the body has the model asked for");
    }

    free(out);

    return 0;
}
