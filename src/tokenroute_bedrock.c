
/*
 * Copyright (C) tokenroute authors
 *
 * The Bedrock InvokeModel body: the top-level members of the Anthropic
 * body copied as they are written, but for those Bedrock refuses or takes
 * from elsewhere ("model" is in the path, "stream" is the path's choice,
 * "anthropic_version" is Bedrock's own), which are dropped.
 */


#include <string.h>

#include "tokenroute_bedrock.h"
#include "tokenroute_json_scan.h"
#include "tokenroute_sigv4.h"


static void tokenroute_bedrock_trim(const char **p, const char **end);
static int tokenroute_bedrock_dropped(const unsigned char *key, size_t len);
static unsigned char *tokenroute_bedrock_beta(const char *beta, size_t len,
    unsigned char *o);


size_t
tokenroute_bedrock_body_size(size_t len, size_t beta_len)
{
    /* each beta byte at worst \u00XX, plus quotes and commas per item */
    return len + sizeof(",\"anthropic_version\":\"\"")
           + sizeof(TOKENROUTE_BEDROCK_VERSION)
           + sizeof(",\"anthropic_beta\":[]") + 9 * beta_len + 8;
}


size_t
tokenroute_bedrock_body(const unsigned char *body, size_t len,
    const char *beta, size_t beta_len, unsigned char *out)
{
    size_t                    n;
    unsigned char            *o;
    const unsigned char      *key, *member;
    tokenroute_json_scan_t    js;
    tokenroute_json_token_e   t;

    tokenroute_json_scan_init(&js, body, len);

    if (tokenroute_json_scan_next(&js) != TOKENROUTE_JSON_OBJECT) {
        return 0;
    }

    o = out;
    n = sizeof("{\"anthropic_version\":\"" TOKENROUTE_BEDROCK_VERSION "\"")
        - 1;
    memcpy(o, "{\"anthropic_version\":\"" TOKENROUTE_BEDROCK_VERSION "\"", n);
    o += n;

    if (beta_len) {
        o = tokenroute_bedrock_beta(beta, beta_len, o);
    }

    for ( ;; ) {
        t = tokenroute_json_scan_next(&js);

        if (t == TOKENROUTE_JSON_OBJECT_END) {
            break;
        }

        if (t != TOKENROUTE_JSON_KEY) {
            return 0;
        }

        member = js.token;
        key = js.token + 1;
        n = js.end - js.token - 2;

        t = tokenroute_json_scan_next(&js);

        if (t == TOKENROUTE_JSON_OBJECT || t == TOKENROUTE_JSON_ARRAY) {
            t = tokenroute_json_scan_skip(&js);
        }

        if (t == TOKENROUTE_JSON_ERROR || t == TOKENROUTE_JSON_END) {
            return 0;
        }

        if (tokenroute_bedrock_dropped(key, n)) {
            continue;
        }

        *o++ = ',';
        memcpy(o, member, js.end - member);
        o += js.end - member;
    }

    if (tokenroute_json_scan_next(&js) != TOKENROUTE_JSON_END) {
        return 0;
    }

    *o++ = '}';

    return o - out;
}


static int
tokenroute_bedrock_dropped(const unsigned char *key, size_t len)
{
    static const char  *names[] = {
        "model", "stream", "anthropic_version", "anthropic_beta", NULL
    };

    const char  **name;

    for (name = names; *name; name++) {
        if (strlen(*name) == len && memcmp(*name, key, len) == 0) {
            return 1;
        }
    }

    return 0;
}


/* "a, b,c" as ,"anthropic_beta":["a","b","c"]; empty items dropped */

static unsigned char *
tokenroute_bedrock_beta(const char *beta, size_t len, unsigned char *o)
{
    size_t         i, j, n;
    unsigned char  c, *start;

    static const char  hex[] = "0123456789abcdef";

    start = o;
    n = sizeof(",\"anthropic_beta\":[") - 1;
    memcpy(o, ",\"anthropic_beta\":[", n);
    o += n;
    n = 0;

    i = 0;

    while (i < len) {
        while (i < len && (beta[i] == ' ' || beta[i] == '\t'
                           || beta[i] == ','))
        {
            i++;
        }

        if (i == len) {
            break;
        }

        if (n++) {
            *o++ = ',';
        }

        *o++ = '"';

        while (i < len && beta[i] != ',') {
            c = (unsigned char) beta[i++];

            if (c == ' ' || c == '\t') {
                /* trailing blanks of an item are not part of it */
                j = i;

                while (j < len && (beta[j] == ' ' || beta[j] == '\t')) {
                    j++;
                }

                if (j == len || beta[j] == ',') {
                    i = j;
                    break;
                }
            }

            if (c == '"' || c == '\\') {
                *o++ = '\\';
                *o++ = c;

            } else if (c < 0x20) {
                memcpy(o, "\\u00", 4);
                o[4] = hex[c >> 4];
                o[5] = hex[c & 0xf];
                o += 6;

            } else {
                *o++ = c;
            }
        }

        *o++ = '"';
    }

    if (n == 0) {
        return start;
    }

    *o++ = ']';

    return o;
}


size_t
tokenroute_bedrock_model_segment(const char *model, size_t len, char *out)
{
    return tokenroute_sigv4_uri_encode((const unsigned char *) model, len,
                                       out, 0);
}


/* a line's span without the blanks around it */

static void
tokenroute_bedrock_trim(const char **p, const char **end)
{
    while (*p < *end && (**p == ' ' || **p == '\t')) {
        (*p)++;
    }

    while (*end > *p && ((*end)[-1] == ' ' || (*end)[-1] == '\t'
                         || (*end)[-1] == '\r'))
    {
        (*end)--;
    }
}


int
tokenroute_aws_credentials_parse(const char *text, size_t len,
    const char *profile, size_t profile_len,
    tokenroute_aws_credentials_t *cred)
{
    int          in, found;
    size_t       n;
    const char  *p, *end, *line, *eol, *eq, *k, *kend, *v, *vend;

    memset(cred, 0, sizeof(tokenroute_aws_credentials_t));

    in = 0;
    found = 0;
    p = text;
    end = text + len;

    while (p < end) {
        line = p;
        eol = memchr(p, '\n', end - p);
        eol = eol ? eol : end;
        p = (eol < end) ? eol + 1 : end;

        tokenroute_bedrock_trim(&line, &eol);

        if (line == eol || *line == '#' || *line == ';') {
            continue;
        }

        if (*line == '[') {
            if (eol[-1] != ']') {
                in = 0;
                continue;
            }

            k = line + 1;
            kend = eol - 1;
            tokenroute_bedrock_trim(&k, &kend);

            if (kend - k > 8 && memcmp(k, "profile ", 8) == 0) {
                k += 8;
                tokenroute_bedrock_trim(&k, &kend);
            }

            n = kend - k;
            in = (n == profile_len && memcmp(k, profile, n) == 0);
            found |= in;
            continue;
        }

        if (!in) {
            continue;
        }

        eq = memchr(line, '=', eol - line);
        if (eq == NULL) {
            continue;
        }

        k = line;
        kend = eq;
        v = eq + 1;
        vend = eol;
        tokenroute_bedrock_trim(&k, &kend);
        tokenroute_bedrock_trim(&v, &vend);
        n = kend - k;

        if (n == 17 && memcmp(k, "aws_access_key_id", 17) == 0) {
            cred->access_key = v;
            cred->access_key_len = vend - v;

        } else if (n == 21 && memcmp(k, "aws_secret_access_key", 21) == 0) {
            cred->secret_key = v;
            cred->secret_key_len = vend - v;

        } else if ((n == 17 && memcmp(k, "aws_session_token", 17) == 0)
                   || (n == 18 && memcmp(k, "aws_security_token", 18) == 0))
        {
            cred->session_token = v;
            cred->session_token_len = vend - v;
        }
    }

    if (!found) {
        return -1;
    }

    if (cred->access_key_len == 0 || cred->secret_key_len == 0) {
        return -2;
    }

    if (cred->session_token_len == 0) {
        cred->session_token = NULL;
    }

    return 0;
}
