
/*
 * Copyright (C) tokenroute authors
 *
 * Provider errors in the client's shape: the error read from a body or
 * an event, its type mapped from the status, and its message with keys
 * and URLs redacted, or a generic text for the status.
 */


#include <string.h>

#include "tokenroute_translate_response_int.h"


#define tr_is_alnum(c)                                                        \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')                 \
     || ((c) >= '0' && (c) <= '9'))

#define tr_is_key(c)                                                          \
    (tr_is_alnum(c) || (c) == '-' || (c) == '_' || (c) == '*')

#define tr_lower(c)  (((c) >= 'A' && (c) <= 'Z') ? (c) | 0x20 : (c))


static void tokenroute_resp_add_sanitized(tokenroute_json_buf_t *b,
    const char *p, size_t n);
static void tokenroute_resp_add_utf8(tokenroute_json_buf_t *b,
    const char *p, size_t n);
static size_t tokenroute_resp_secret(const char *p, size_t n, size_t i,
    const char **repl);

static size_t tokenroute_utf8_len(const unsigned char *p, size_t n);

static int tokenroute_resp_is_slug(const char *s, size_t len);
static int tokenroute_resp_type_status(const char *s, size_t len);
static const char *tokenroute_resp_status_text(int status);


int
tokenroute_translate_error(int from, int to, int status,
    const unsigned char *body, size_t len, unsigned char **out,
    size_t *out_len)
{
    int                      rc, code;
    tokenroute_json_buf_t    b;
    tokenroute_json_node_t  *root, *n;
    tokenroute_json_tree_t   j;
    tokenroute_resp_error_t  e;

    memset(&j, 0, sizeof(tokenroute_json_tree_t));
    memset(&b, 0, sizeof(tokenroute_json_buf_t));
    memset(&e, 0, sizeof(tokenroute_resp_error_t));

    rc = tokenroute_json_tree_parse(&j, (const char *) body, len, NULL);

    if (rc == -2) {
        tokenroute_json_tree_free(&j);
        return -2;
    }

    if (rc == 0) {
        root = j.root;

        /* Gemini's OpenAI endpoint wraps its error in an array */

        if (root->type == TR_J_ARRAY && root->first != NULL) {
            root = root->first;
        }

        n = tokenroute_json_get(root, "error");

        if (n != NULL
            && (n->type == TR_J_MAP || n->type == TR_J_STRING))
        {
            code = 0;
            tokenroute_resp_error_read(n, &e, &code);

        } else if (!tokenroute_json_str(tokenroute_json_get(root, "message"),
                                        &e.message, &e.message_len))
        {
            (void) tokenroute_json_str(tokenroute_json_get(root, "detail"),
                                       &e.message, &e.message_len);
        }
    }

    tokenroute_resp_error_write(&b, from, to, status, &e);
    tokenroute_json_add(&b, "", 1);

    tokenroute_json_tree_free(&j);

    if (b.failed) {
        tokenroute_json_buf_free(&b);
        return -2;
    }

    *out = (unsigned char *) b.data;
    *out_len = b.len - 1;

    return 0;
}


void
tokenroute_resp_error_read(tokenroute_json_node_t *n,
    tokenroute_resp_error_t *e, int *status)
{
    int64_t                  code;
    tokenroute_json_node_t  *c;

    if (tokenroute_json_str(n, &e->message, &e->message_len)) {
        return;
    }

    (void) tokenroute_json_str(tokenroute_json_get(n, "message"),
                               &e->message, &e->message_len);
    (void) tokenroute_json_str(tokenroute_json_get(n, "type"),
                               &e->type, &e->type_len);

    c = tokenroute_json_get(n, "code");

    if (!tokenroute_json_str(c, &e->code, &e->code_len)) {

        /* OpenRouter's and Gemini's codes are HTTP statuses */

        code = tokenroute_json_int(c, 0);

        if (code >= 400 && code <= 599) {
            *status = (int) code;
        }
    }
}


void
tokenroute_resp_error_write(tokenroute_json_buf_t *b, int from, int to,
    int status, tokenroute_resp_error_t *e)
{
    int          slug;
    size_t       type_len;
    const char  *type, *text;

    slug = tokenroute_resp_is_slug(e->type, e->type_len);

    if (status == 0) {
        /* an error event in a stream: its type tells the status */
        status = slug ? tokenroute_resp_type_status(e->type, e->type_len)
                      : 500;
    }

    if (to == TOKENROUTE_SHAPE_ANTHROPIC) {

        if (from == to && slug) {
            type = e->type;
            type_len = e->type_len;

        } else {
            type = tokenroute_error_anthropic_type(status);

            if (status == 429
                && (tr_str_is(e->type, e->type_len, "insufficient_quota")
                    || tr_str_is(e->code, e->code_len, "insufficient_quota")))
            {
                type = "billing_error";
            }

            type_len = strlen(type);
        }

        tr_add_lit(b, "{\"type\":\"error\",\"error\":{\"type\":");
        tokenroute_json_add_str(b, type, type_len);
        tr_add_lit(b, ",\"message\":\"");

    } else {

        if (status == 529) {
            /* sent as a 503 (see tokenroute_error_client_status()) */
            type = "server_error";

        } else if (from == to && slug) {
            type = e->type;

        } else if (status == 429) {
            type = "rate_limit_error";

        } else if (status >= 500 || status == 424) {
            type = "server_error";

        } else {
            type = "invalid_request_error";
        }

        type_len = (type == e->type) ? e->type_len : strlen(type);

        tr_add_lit(b, "{\"error\":{\"message\":\"");
    }

    if (e->message_len > 0) {
        tokenroute_resp_add_sanitized(b, e->message, e->message_len);

    } else {
        text = tokenroute_resp_status_text(status);
        tokenroute_json_add_escaped(b, text, strlen(text));
    }

    if (to == TOKENROUTE_SHAPE_ANTHROPIC) {
        tr_add_lit(b, "\"}}");
        return;
    }

    tr_add_lit(b, "\",\"type\":");
    tokenroute_json_add_str(b, type, type_len);
    tr_add_lit(b, ",\"param\":null,\"code\":\"");

    if (e->code_len > 0) {
        tokenroute_resp_add_sanitized(b, e->code, e->code_len);

    } else if (slug) {
        tokenroute_json_add(b, e->type, e->type_len);

    } else if (from == TOKENROUTE_SHAPE_ANTHROPIC) {
        type = tokenroute_error_anthropic_type(status);
        tokenroute_json_add(b, type, strlen(type));

    } else {
        tokenroute_json_add(b, type, type_len);
    }

    tr_add_lit(b, "\"}}");
}


static int
tokenroute_resp_is_slug(const char *s, size_t len)
{
    size_t  i;

    if (s == NULL || len == 0 || len > 64) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/* the status of an Anthropic or OpenAI error type */

static int
tokenroute_resp_type_status(const char *s, size_t len)
{
    if (tr_str_is(s, len, "invalid_request_error")) {
        return 400;
    }

    if (tr_str_is(s, len, "authentication_error")) {
        return 401;
    }

    if (tr_str_is(s, len, "billing_error")) {
        return 402;
    }

    if (tr_str_is(s, len, "permission_error")) {
        return 403;
    }

    if (tr_str_is(s, len, "not_found_error")) {
        return 404;
    }

    if (tr_str_is(s, len, "request_too_large")) {
        return 413;
    }

    if (tr_str_is(s, len, "rate_limit_error")
        || tr_str_is(s, len, "insufficient_quota"))
    {
        return 429;
    }

    if (tr_str_is(s, len, "overloaded_error")) {
        return 529;
    }

    return 500;
}


const char *
tokenroute_error_anthropic_type(int status)
{
    switch (status) {

    case 400:
        return "invalid_request_error";

    case 401:
        return "authentication_error";

    case 402:
        return "billing_error";

    case 403:
        return "permission_error";

    case 404:
        return "not_found_error";

    case 413:
        return "request_too_large";

    case 424:
        /* Bedrock's ModelErrorException: the model failed, not the request */
        return "api_error";

    case 429:
        return "rate_limit_error";

    case 529:
        return "overloaded_error";
    }

    if (status >= 400 && status < 500) {
        return "invalid_request_error";
    }

    return "api_error";
}


int
tokenroute_error_client_status(int to, int status)
{
    return (to == TOKENROUTE_SHAPE_OPENAI && status == 529) ? 503 : status;
}


size_t
tokenroute_json_escape_utf8(unsigned char *dst, const unsigned char *p,
    size_t n)
{
    size_t          i, m, len;
    unsigned char   c;

    static const unsigned char  hex[] = "0123456789abcdef";

    len = 0;

    for (i = 0; i < n; i += m) {
        c = p[i];

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            m = 1;

            if (dst) {
                dst[len] = c;
            }

            len++;
            continue;
        }

        if (c >= 0x80) {
            m = tokenroute_utf8_len(p + i, n - i);

            if (m == 0) {
                /* U+FFFD for the byte; the next one starts afresh */
                m = 1;

                if (dst) {
                    memcpy(dst + len, "\xef\xbf\xbd", 3);
                }

                len += 3;
                continue;
            }

            if (dst) {
                memcpy(dst + len, p + i, m);
            }

            len += m;
            continue;
        }

        m = 1;

        if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t') {
            if (dst) {
                dst[len] = '\\';
                dst[len + 1] = (c == '\n') ? 'n' : (c == '\r') ? 'r'
                               : (c == '\t') ? 't' : c;
            }

            len += 2;
            continue;
        }

        if (dst) {
            memcpy(dst + len, "\\u00", 4);
            dst[len + 4] = hex[c >> 4];
            dst[len + 5] = hex[c & 0xf];
        }

        len += 6;
    }

    return len;
}


/* the length of the valid UTF-8 sequence at p (RFC 3629), or 0 */

static size_t
tokenroute_utf8_len(const unsigned char *p, size_t n)
{
    size_t         len, i;
    unsigned char  c, lo, hi;

    c = p[0];
    lo = 0x80;
    hi = 0xbf;

    if (c < 0x80) {
        return 1;

    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;

        if (c == 0xe0) {
            lo = 0xa0;        /* overlong */

        } else if (c == 0xed) {
            hi = 0x9f;        /* surrogates */
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;

        if (c == 0xf0) {
            lo = 0x90;        /* overlong */

        } else if (c == 0xf4) {
            hi = 0x8f;        /* above U+10FFFF */
        }

    } else {
        return 0;
    }

    if (n < len || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
    }

    return len;
}


static const char *
tokenroute_resp_status_text(int status)
{
    switch (status) {

    case 400:
        return "The provider rejected the request as invalid";

    case 401:
        return "The provider rejected the credentials";

    case 402:
        return "The provider requires payment";

    case 403:
        return "The provider denied permission";

    case 404:
        return "The provider did not find the requested resource";

    case 408:
    case 504:
        return "The provider timed out";

    case 413:
        return "The request is too large for the provider";

    case 429:
        return "The provider's rate limit was exceeded";

    case 500:
        return "The provider had an internal error";

    case 502:
        return "The provider's gateway failed";

    case 503:
        return "The provider is unavailable";

    case 529:
        return "The provider is overloaded";
    }

    if (status >= 400 && status < 500) {
        return "The provider rejected the request";
    }

    return "The provider failed";
}


/* a provider's text, escaped, with its keys and URLs replaced */

static void
tokenroute_resp_add_sanitized(tokenroute_json_buf_t *b, const char *p,
    size_t n)
{
    size_t       i, m, start;
    const char  *repl;

    start = 0;

    for (i = 0; i < n; /* void */) {
        m = tokenroute_resp_secret(p, n, i, &repl);

        if (m == 0) {
            i++;
            continue;
        }

        tokenroute_resp_add_utf8(b, p + start, i - start);
        tokenroute_json_add(b, repl, strlen(repl));

        i += m;
        start = i;
    }

    tokenroute_resp_add_utf8(b, p + start, n - start);
}


/* escaped, with invalid UTF-8 replaced, in pieces of a stack buffer */

static void
tokenroute_resp_add_utf8(tokenroute_json_buf_t *b, const char *p, size_t n)
{
    size_t          m;
    unsigned char   buf[6 * 256];

    while (n > 0) {
        m = (n > 256) ? 256 : n;

        /* a UTF-8 sequence is not split between two pieces */

        while (m < n && m > 252
               && ((unsigned char) p[m] & 0xc0) == 0x80)
        {
            m--;
        }

        tokenroute_json_add(b, (const char *) buf,
                            tokenroute_json_escape_utf8(buf,
                                (const unsigned char *) p, m));
        p += m;
        n -= m;
    }
}


static int
tokenroute_resp_prefix_ci(const char *p, size_t n, const char *lit)
{
    size_t  i;

    for (i = 0; lit[i] != '\0'; i++) {
        if (i == n || tr_lower((unsigned char) p[i]) != lit[i]) {
            return 0;
        }
    }

    return 1;
}


/*
 * The length of the key or URL starting at p[i], or 0; *repl is its
 * replacement.  Keys must start a word ("task-force" is not one).
 */

static size_t
tokenroute_resp_secret(const char *p, size_t n, size_t i, const char **repl)
{
    size_t         j, k, min;
    unsigned char  c;

    c = p[i];

    if (c == 'h' || c == 'H') {

        if (tokenroute_resp_prefix_ci(p + i, n - i, "http://")) {
            k = i + 7;

        } else if (tokenroute_resp_prefix_ci(p + i, n - i, "https://")) {
            k = i + 8;

        } else {
            return 0;
        }

        for (j = k; j < n; j++) {
            c = p[j];

            if (c <= 0x20 || c == 0x7f || c == '"' || c == '\'' || c == '<'
                || c == '>' || c == '`')
            {
                break;
            }
        }

        /* punctuation after a URL ends the sentence */

        while (j > k && strchr(".,;:!?)]}", p[j - 1]) != NULL) {
            j--;
        }

        *repl = "[url]";
        return j - i;
    }

    if (i > 0 && (tr_is_alnum((unsigned char) p[i - 1]) || p[i - 1] == '_'
                  || p[i - 1] == '-'))
    {
        return 0;
    }

    *repl = "[redacted]";

    if (c == 's' && n - i > 3 && memcmp(p + i, "sk-", 3) == 0) {
        k = i + 3;
        min = 4;

    } else if (c == 'A' && n - i > 4 && memcmp(p + i, "AIza", 4) == 0) {
        k = i + 4;
        min = 10;

    } else if ((c == 'b' || c == 'B')
               && tokenroute_resp_prefix_ci(p + i, n - i, "bearer"))
    {
        for (k = i + 6; k < n && (p[k] == ' ' || p[k] == '\t'); k++) {
            /* void */
        }

        if (k == i + 6) {
            return 0;
        }

        for (j = k; j < n; j++) {
            c = p[j];

            if (c <= 0x20 || c == '"' || c == '\'' || c == ',' || c == ';') {
                break;
            }
        }

        return (j > k) ? j - i : 0;

    } else {
        return 0;
    }

    for (j = k; j < n && tr_is_key((unsigned char) p[j]); j++) {
        /* void */
    }

    return (j - k >= min) ? j - i : 0;
}
