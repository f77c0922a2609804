
/*
 * Copyright (C) tokenroute authors
 *
 * The Bedrock layer of the event-stream decoder: what a message of
 * InvokeModelWithResponseStream means, as the SSE text of Anthropic's
 * own stream.
 *
 *   :message-type event, :event-type chunk, payload {"bytes":"BASE64"}
 *       (Bedrock adds a "p" of padding): the base64 decodes to an
 *       Anthropic event, JSON with a "type": "event: TYPE\ndata: JSON";
 *   :message-type exception, :exception-type NAME, payload
 *       {"message":"..."}: Anthropic's "event: error" with the error type
 *       the exception means (tokenroute_es_errors below);
 *   :message-type error, :error-code, :error-message: the same;
 *   another event type: skipped (nothing the client's shape has).
 *
 * A chunk that is not that (not JSON, no "bytes", bad base64, an event
 * that is not a JSON object with a plain "type") makes the stream
 * malformed.
 *
 * Fast paths (t/unit/eventstream_diff.c holds them to the former code,
 * t/unit/ref/eventstream_ref.c): the payload in Bedrock's exact form is
 * read without a JSON scan, anything else is scanned as before; base64
 * is decoded four characters at a time through a table.
 */


#include <string.h>

#include "tokenroute_eventstream.h"
#include "tokenroute_json_scan.h"


typedef struct {
    const char  *exception;
    const char  *type;
} tokenroute_es_error_t;


typedef struct {
    const u_char  *p;
    size_t         len;
} tr_es_str_t;


static int tokenroute_es_chunk(tokenroute_eventstream_t *es,
    const u_char *payload, size_t len);
static int tokenroute_es_error(tokenroute_eventstream_t *es,
    tr_es_str_t *name, tr_es_str_t *message, const u_char *payload,
    size_t len);
static int tokenroute_es_find(const u_char *json, size_t len,
    const char *key, unsigned escaped, tr_es_str_t *value);
static int tokenroute_es_bytes(const u_char *json, size_t len,
    tr_es_str_t *value);
static size_t tokenroute_es_base64(const u_char *p, size_t n, u_char *out);
static void tr_es_tables_init(void);


/*
 * base64's alphabet: tr_es_b64[k][c] is character c's six bits placed
 * for the k-th character of four (so a group is four lookups ORed), or
 * TR_ES_B64_BAD, which no OR of valid ones has.
 */
#define TR_ES_B64_BAD  0x80000000u

static uint32_t  tr_es_b64[4][256];
static int       tr_es_b64_ready;

/* what a name may hold (an event type: letters, digits, "_.-") */
#define TR_ES_ALNUM    1
#define TR_ES_NAME     2

static u_char    tr_es_class[256];


/* Bedrock's stream exceptions, as Anthropic's error types */
static tokenroute_es_error_t  tokenroute_es_errors[] = {
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
tr_es_is(tr_es_str_t *s, const char *lit)
{
    size_t  n = strlen(lit);

    return s->len == n && memcmp(s->p, lit, n) == 0;
}


int
tokenroute_eventstream_bedrock(tokenroute_eventstream_t *es,
    const u_char *headers, size_t headers_len, const u_char *payload,
    size_t payload_len)
{
    tr_es_str_t                      mtype, etype, xtype, code, message;
    const u_char                    *p, *end;
    tr_es_str_t                     *s;
    tokenroute_eventstream_header_t  h;

    if (es->last_headers_same && es->last_headers_chunk) {
        /* the headers of the chunk before, byte for byte */
        return tokenroute_es_chunk(es, payload, payload_len);
    }

    memset(&mtype, 0, sizeof(tr_es_str_t));
    memset(&etype, 0, sizeof(tr_es_str_t));
    memset(&xtype, 0, sizeof(tr_es_str_t));
    memset(&code, 0, sizeof(tr_es_str_t));
    memset(&message, 0, sizeof(tr_es_str_t));

    p = headers;
    end = headers + headers_len;

    /* the framing checked the headers: the walk cannot fail */

    while (tokenroute_eventstream_header_next(&p, end, &h) == 1) {
        if (h.type != TOKENROUTE_ES_STRING) {
            continue;
        }

#define tr_es_name(lit)                                                       \
        (h.name_len == sizeof(lit) - 1                                        \
         && memcmp(h.name, lit, sizeof(lit) - 1) == 0)

        if (tr_es_name(":message-type")) {
            s = &mtype;

        } else if (tr_es_name(":event-type")) {
            s = &etype;

        } else if (tr_es_name(":exception-type")) {
            s = &xtype;

        } else if (tr_es_name(":error-code")) {
            s = &code;

        } else if (tr_es_name(":error-message")) {
            s = &message;

        } else {
            continue;
        }

#undef tr_es_name

        s->p = h.value;
        s->len = h.value_len;
    }

    if (tr_es_is(&mtype, "event")) {
        if (!tr_es_is(&etype, "chunk")) {
            return 0;
        }

        /* remembered only if the framing remembered these headers */
        es->last_headers_chunk = (es->last_headers_len == headers_len);

        return tokenroute_es_chunk(es, payload, payload_len);
    }

    if (tr_es_is(&mtype, "exception")) {
        return tokenroute_es_error(es, &xtype, NULL, payload, payload_len);
    }

    if (tr_es_is(&mtype, "error")) {
        return tokenroute_es_error(es, &code, &message, NULL, 0);
    }

    es->error = "a message neither event, exception nor error";

    return -1;
}


static int
tokenroute_es_chunk(tokenroute_eventstream_t *es, const u_char *payload,
    size_t len)
{
    u_char                   *d, *p;
    size_t                    n, tlen, toff, pre, i;
    tr_es_str_t               b64, type;
    tokenroute_json_buf_t    *b;

    if (!tr_es_b64_ready) {
        tr_es_tables_init();
    }

    b = &es->out;

    if (tokenroute_es_bytes(payload, len, &b64) != 0
        && tokenroute_es_find(payload, len, "bytes", 0, &b64) != 0)
    {
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

    n = tokenroute_es_base64(b64.p, b64.len, d);
    if (n == (size_t) -1) {
        /*
         * the fast form's string may hold what a JSON string may not
         * (a control character, a bad escape): the scan's verdict first
         */

        if (tokenroute_es_find(payload, len, "bytes", 0, &b64) != 0) {
            es->error = "a chunk without its \"bytes\"";
            return -1;
        }

        es->error = "a chunk's \"bytes\" is not base64";
        return -1;
    }

    if (tokenroute_es_find(d, n, "type", 0, &type) != 0) {
        es->error = "a chunk that is not an event with a \"type\"";
        return -1;
    }

    tlen = type.len;
    toff = type.p - d;

    for (i = 0; i < tlen; i++) {
        if (!(tr_es_class[type.p[i]] & TR_ES_NAME)) {
            es->error = "an event type that is not a name";
            return -1;
        }
    }

    /*
     * A valid JSON text has CR and LF only as whitespace: spaces keep
     * its meaning and the SSE line whole.
     */

    for (p = d; (p = memchr(p, '\n', d + n - p)) != NULL; p++) {
        *p = ' ';
    }

    for (p = d; (p = memchr(p, '\r', d + n - p)) != NULL; p++) {
        *p = ' ';
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
tokenroute_es_error(tokenroute_eventstream_t *es, tr_es_str_t *name,
    tr_es_str_t *message, const u_char *payload, size_t len)
{
    tr_es_str_t              raw;
    tokenroute_es_error_t   *e;
    tokenroute_json_buf_t   *b;

    for (e = tokenroute_es_errors; e->exception; e++) {
        if (tr_es_is(name, e->exception)) {
            break;
        }
    }

    b = &es->out;
    b->len = 0;

    tokenroute_json_add_lit(b, "event: error\ndata: {\"type\":\"error\","
                               "\"error\":{\"type\":\"");
    tokenroute_json_add(b, e->type, strlen(e->type));
    tokenroute_json_add_lit(b, "\",\"message\":");

    if (payload && tokenroute_es_find(payload, len, "message", 1, &raw) == 0) {
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
tokenroute_es_find(const u_char *json, size_t len, const char *key,
    unsigned escaped, tr_es_str_t *value)
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


/*
 * Bedrock's own payload, {"bytes":"B64"} or {"bytes":"B64","p":"PAD"}
 * with PAD letters and digits, exactly so: 0 and the string's inside (its
 * characters unchecked here: base64's decoding checks them), or -1 if
 * the payload is in another form (the JSON scan then decides).
 */

static int
tokenroute_es_bytes(const u_char *json, size_t len, tr_es_str_t *value)
{
    const u_char  *p, *q, *end;

    static const char  head[] = "{\"bytes\":\"";
    static const char  pad[] = ",\"p\":\"";

    if (len < sizeof(head) || memcmp(json, head, sizeof(head) - 1) != 0) {
        return -1;
    }

    p = json + sizeof(head) - 1;
    end = json + len;

    q = memchr(p, '"', end - p);
    if (q == NULL) {
        return -1;
    }

    value->p = p;
    value->len = q - p;

    q++;

    if (end - q == 1 && *q == '}') {
        return 0;
    }

    if ((size_t) (end - q) < sizeof(pad) + 1
        || memcmp(q, pad, sizeof(pad) - 1) != 0)
    {
        return -1;
    }

    for (q += sizeof(pad) - 1; q < end; q++) {
        if (!(tr_es_class[*q] & TR_ES_ALNUM)) {
            break;
        }
    }

    return (end - q == 2 && q[0] == '"' && q[1] == '}') ? 0 : -1;
}


static void
tr_es_tables_init(void)
{
    unsigned    i, k;

    static const char  alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "abcdefghijklmnopqrstuvwxyz0123456789+/";

    /* the same tables every time: a race between threads is harmless */

    for (k = 0; k < 4; k++) {
        for (i = 0; i < 256; i++) {
            tr_es_b64[k][i] = TR_ES_B64_BAD;
        }

        for (i = 0; i < 64; i++) {
            tr_es_b64[k][(u_char) alphabet[i]] = (uint32_t) i << (18 - 6 * k);
        }
    }

    for (i = 0; i < 62; i++) {
        tr_es_class[(u_char) alphabet[i]] = TR_ES_ALNUM | TR_ES_NAME;
    }

    tr_es_class['_'] = TR_ES_NAME;
    tr_es_class['.'] = TR_ES_NAME;
    tr_es_class['-'] = TR_ES_NAME;

    tr_es_b64_ready = 1;
}


/* standard base64, padded or not; (size_t) -1 if it is not that */

static size_t
tokenroute_es_base64(const u_char *p, size_t n, u_char *out)
{
    u_char    *o;
    size_t     i, pad;
    uint32_t   v;

    pad = 0;

    while (n && p[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }

    if ((pad && (n + pad) % 4) || n % 4 == 1) {
        return (size_t) -1;
    }

    o = out;

    for (i = 0; i + 4 <= n; i += 4) {
        v = tr_es_b64[0][p[i]] | tr_es_b64[1][p[i + 1]]
            | tr_es_b64[2][p[i + 2]] | tr_es_b64[3][p[i + 3]];

        if (v & TR_ES_B64_BAD) {
            return (size_t) -1;
        }

        o[0] = (u_char) (v >> 16);
        o[1] = (u_char) (v >> 8);
        o[2] = (u_char) v;
        o += 3;
    }

    /* two or three left: the bits left over must be zero (one encoding) */

    if (n - i == 2) {
        v = tr_es_b64[0][p[i]] | tr_es_b64[1][p[i + 1]];

        if ((v & TR_ES_B64_BAD) || (v & 0xffff)) {
            return (size_t) -1;
        }

        *o++ = (u_char) (v >> 16);

    } else if (n - i == 3) {
        v = tr_es_b64[0][p[i]] | tr_es_b64[1][p[i + 1]]
            | tr_es_b64[2][p[i + 2]];

        if ((v & TR_ES_B64_BAD) || (v & 0xff)) {
            return (size_t) -1;
        }

        *o++ = (u_char) (v >> 16);
        *o++ = (u_char) (v >> 8);
    }

    return o - out;
}
