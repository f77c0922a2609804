
/*
 * Copyright (C) tokenroute authors
 *
 * The event-stream code as it was before its fast paths, renamed and
 * static, for t/unit/eventstream_diff.c and t/fuzz/eventstream.c only,
 * which include this file: the CRC-32 bit by bit (the definition) and
 * byte by byte (the former table), and the Bedrock layer with its former
 * base64 decoder and its JSON scans of every chunk
 * (src/tokenroute_eventstream_bedrock.c).  Set es->message to
 * ref_es_bedrock for the slow layer.
 */


#include <string.h>

#include "tokenroute_eventstream.h"
#include "tokenroute_json_scan.h"


/* CRC-32 (ISO-HDLC) by its definition: one bit at a time */

static uint32_t
ref_es_crc32_bitwise(uint32_t crc, const u_char *p, size_t n)
{
    unsigned  k;

    crc = ~crc;

    while (n--) {
        crc ^= *p++;

        for (k = 0; k < 8; k++) {
            crc = (crc & 1) ? 0xedb88320 ^ (crc >> 1) : crc >> 1;
        }
    }

    return ~crc;
}


typedef struct {
    const char  *exception;
    const char  *type;
} ref_es_error_t;


typedef struct {
    const u_char  *p;
    size_t         len;
} ref_es_str_t;


static int ref_es_chunk(tokenroute_eventstream_t *es,
    const u_char *payload, size_t len);
static int ref_es_error(tokenroute_eventstream_t *es,
    ref_es_str_t *name, ref_es_str_t *message, const u_char *payload,
    size_t len);
static int ref_es_find(const u_char *json, size_t len,
    const char *key, unsigned escaped, ref_es_str_t *value);
static size_t ref_es_base64(const u_char *p, size_t n, u_char *out);


/* Bedrock's stream exceptions, as Anthropic's error types */
static ref_es_error_t  ref_es_errors[] = {
    { "throttlingException",          "rate_limit_error" },
    { "serviceUnavailableException",  "overloaded_error" },
    { "modelStreamErrorException",    "api_error" },
    { "internalServerException",      "api_error" },
    { "modelTimeoutException",        "api_error" },
    { "validationException",          "invalid_request_error" },
    { "accessDeniedException",        "permission_error" },
    { "resourceNotFoundException",    "not_found_error" },
    { NULL,                           "api_error" }
};


static int
ref_es_is(ref_es_str_t *s, const char *lit)
{
    size_t  n = strlen(lit);

    return s->len == n && memcmp(s->p, lit, n) == 0;
}


static int
ref_es_bedrock(tokenroute_eventstream_t *es,
    const u_char *headers, size_t headers_len, const u_char *payload,
    size_t payload_len)
{
    ref_es_str_t                      mtype, etype, xtype, code, message;
    const u_char                    *p, *end;
    ref_es_str_t                     *s;
    tokenroute_eventstream_header_t  h;

    memset(&mtype, 0, sizeof(ref_es_str_t));
    memset(&etype, 0, sizeof(ref_es_str_t));
    memset(&xtype, 0, sizeof(ref_es_str_t));
    memset(&code, 0, sizeof(ref_es_str_t));
    memset(&message, 0, sizeof(ref_es_str_t));

    p = headers;
    end = headers + headers_len;

    /* the framing checked the headers: the walk cannot fail */

    while (tokenroute_eventstream_header_next(&p, end, &h) == 1) {
        if (h.type != TOKENROUTE_ES_STRING) {
            continue;
        }

#define ref_es_name(lit)                                                       \
        (h.name_len == sizeof(lit) - 1                                        \
         && memcmp(h.name, lit, sizeof(lit) - 1) == 0)

        if (ref_es_name(":message-type")) {
            s = &mtype;

        } else if (ref_es_name(":event-type")) {
            s = &etype;

        } else if (ref_es_name(":exception-type")) {
            s = &xtype;

        } else if (ref_es_name(":error-code")) {
            s = &code;

        } else if (ref_es_name(":error-message")) {
            s = &message;

        } else {
            continue;
        }

#undef ref_es_name

        s->p = h.value;
        s->len = h.value_len;
    }

    if (ref_es_is(&mtype, "event")) {
        if (!ref_es_is(&etype, "chunk")) {
            return 0;
        }

        return ref_es_chunk(es, payload, payload_len);
    }

    if (ref_es_is(&mtype, "exception")) {
        return ref_es_error(es, &xtype, NULL, payload, payload_len);
    }

    if (ref_es_is(&mtype, "error")) {
        return ref_es_error(es, &code, &message, NULL, 0);
    }

    es->error = "a message neither event, exception nor error";

    return -1;
}


static int
ref_es_chunk(tokenroute_eventstream_t *es, const u_char *payload,
    size_t len)
{
    u_char                   *d;
    size_t                    n, tlen, toff, pre, i;
    ref_es_str_t               b64, type;
    tokenroute_json_buf_t    *b;

    b = &es->out;

    if (ref_es_find(payload, len, "bytes", 0, &b64) != 0) {
        es->error = "a chunk without its \"bytes\"";
        return -1;
    }

    /* the event decoded at the start of the buffer, then moved up */

    b->len = 0;

    if (tokenroute_json_reserve(b, b64.len / 4 * 3 + 3) != 0) {
        es->error = "out of memory";
        return -1;
    }

    d = (u_char *) b->data;

    n = ref_es_base64(b64.p, b64.len, d);
    if (n == (size_t) -1) {
        es->error = "a chunk's \"bytes\" is not base64";
        return -1;
    }

    if (ref_es_find(d, n, "type", 0, &type) != 0) {
        es->error = "a chunk that is not an event with a \"type\"";
        return -1;
    }

    tlen = type.len;
    toff = type.p - d;

    for (i = 0; i < tlen; i++) {
        if (!((type.p[i] >= 'a' && type.p[i] <= 'z')
              || (type.p[i] >= 'A' && type.p[i] <= 'Z')
              || (type.p[i] >= '0' && type.p[i] <= '9')
              || type.p[i] == '_' || type.p[i] == '.' || type.p[i] == '-'))
        {
            es->error = "an event type that is not a name";
            return -1;
        }
    }

    /*
     * A valid JSON text has CR and LF only as whitespace: spaces keep
     * its meaning and the SSE line whole.
     */

    for (i = 0; i < n; i++) {
        if (d[i] == '\r' || d[i] == '\n') {
            d[i] = ' ';
        }
    }

    pre = sizeof("event: ") - 1 + tlen + sizeof("\ndata: ") - 1;

    b->len = n;

    if (tokenroute_json_reserve(b, pre + 2) != 0) {
        es->error = "out of memory";
        return -1;
    }

    d = (u_char *) b->data;

    memmove(d + pre, d, n);

    memcpy(d, "event: ", sizeof("event: ") - 1);
    memcpy(d + sizeof("event: ") - 1, d + pre + toff, tlen);
    memcpy(d + pre - (sizeof("\ndata: ") - 1), "\ndata: ",
           sizeof("\ndata: ") - 1);
    memcpy(d + pre + n, "\n\n", 2);

    b->len = pre + n + 2;

    return es->emit(es->data, b->data, b->len);
}


static int
ref_es_error(tokenroute_eventstream_t *es, ref_es_str_t *name,
    ref_es_str_t *message, const u_char *payload, size_t len)
{
    ref_es_str_t              raw;
    ref_es_error_t   *e;
    tokenroute_json_buf_t   *b;

    for (e = ref_es_errors; e->exception; e++) {
        if (ref_es_is(name, e->exception)) {
            break;
        }
    }

    b = &es->out;
    b->len = 0;

    tokenroute_json_add_lit(b, "event: error\ndata: {\"type\":\"error\","
                               "\"error\":{\"type\":\"");
    tokenroute_json_add(b, e->type, strlen(e->type));
    tokenroute_json_add_lit(b, "\",\"message\":");

    if (payload && ref_es_find(payload, len, "message", 1, &raw) == 0) {
        /* the string as Bedrock escaped it, which the scan found valid */
        tokenroute_json_add(b, (const char *) raw.p - 1, raw.len + 2);

    } else if (message && message->len) {
        tokenroute_json_add_str(b, (const char *) message->p, message->len);

    } else {
        tokenroute_json_add_lit(b, "\"Bedrock: ");
        tokenroute_json_add_escaped(b, (const char *) name->p, name->len);
        tokenroute_json_add_lit(b, "\"");
    }

    tokenroute_json_add_lit(b, "}}\n\n");

    if (b->failed) {
        es->error = "out of memory";
        return -1;
    }

    return es->emit(es->data, b->data, b->len);
}


/*
 * In a JSON object text, the string value of a top-level key (its inside,
 * as written, between the quotes; a key that comes again: the last),
 * with backslashes only if escaped allows them.
 * 0, or -1 if the text is not a valid JSON object or has no such string.
 */

static int
ref_es_find(const u_char *json, size_t len, const char *key,
    unsigned escaped, ref_es_str_t *value)
{
    size_t                    klen;
    unsigned                  found, want;
    tokenroute_json_token_e   t;
    tokenroute_json_scan_t    js;

    klen = strlen(key);
    found = 0;

    tokenroute_json_scan_init(&js, json, len);

    if (tokenroute_json_scan_next(&js) != TOKENROUTE_JSON_OBJECT) {
        return -1;
    }

    for ( ;; ) {
        t = tokenroute_json_scan_next(&js);

        if (t == TOKENROUTE_JSON_OBJECT_END) {
            break;
        }

        if (t != TOKENROUTE_JSON_KEY) {
            return -1;
        }

        want = (size_t) (js.end - js.token) == klen + 2
               && memcmp(js.token + 1, key, klen) == 0;

        t = tokenroute_json_scan_next(&js);

        switch (t) {

        case TOKENROUTE_JSON_OBJECT:
        case TOKENROUTE_JSON_ARRAY:
            if (tokenroute_json_scan_skip(&js) == TOKENROUTE_JSON_ERROR) {
                return -1;
            }

            want = 0;
            break;

        case TOKENROUTE_JSON_ERROR:
        case TOKENROUTE_JSON_END:
            return -1;

        default:
            break;
        }

        if (want) {
            if (t != TOKENROUTE_JSON_STRING || (js.escaped && !escaped)) {
                return -1;
            }

            value->p = js.token + 1;
            value->len = js.end - js.token - 2;
            found = 1;
        }
    }

    if (tokenroute_json_scan_next(&js) != TOKENROUTE_JSON_END || !found) {
        return -1;
    }

    return 0;
}


/* standard base64, padded or not; (size_t) -1 if it is not that */

static size_t
ref_es_base64(const u_char *p, size_t n, u_char *out)
{
    u_char    c, *o;
    size_t    i, pad;
    uint32_t  acc;
    unsigned  bits, v;

    pad = 0;

    while (n && p[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }

    if ((pad && (n + pad) % 4) || n % 4 == 1) {
        return (size_t) -1;
    }

    o = out;
    acc = 0;
    bits = 0;

    for (i = 0; i < n; i++) {
        c = p[i];

        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';

        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;

        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;

        } else if (c == '+') {
            v = 62;

        } else if (c == '/') {
            v = 63;

        } else {
            return (size_t) -1;
        }

        acc = (acc << 6) | v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            *o++ = (u_char) (acc >> bits);
        }
    }

    /* the bits left over must be zero: one encoding per text */

    if (acc & ((1u << bits) - 1)) {
        return (size_t) -1;
    }

    return o - out;
}
