
/*
 * Copyright (C) tokenroute authors
 *
 * The content of OpenAI messages as Anthropic content blocks: text and
 * image parts, tool calls with their JSON arguments parsed, and the
 * blocks written out.
 */


#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tokenroute_translate_int.h"


static int tr_oa_image(tr_ctx_t *ctx, tr_val_t *part, size_t i, size_t j,
    tr_msg_t *m);


int
tr_oa_part(tr_ctx_t *ctx, tr_val_t *part, size_t i, size_t j, tr_msg_t *m)
{
    tr_val_t  *type, *text;

    if (part->type != yajl_t_object) {
        return tr_error(ctx, "messages[%zu].content[%zu] must be an object",
                        i, j);
    }

    type = tr_get(part, "type");

    if (tr_is(type, "text")) {
        text = tr_get(part, "text");

        if (text == NULL || text->type != yajl_t_string) {
            return tr_error(ctx, "messages[%zu].content[%zu].text must be a "
                            "string", i, j);
        }

        return tr_oa_text_block(ctx, m, text);
    }

    if (tr_is(type, "image_url") && !m->assistant) {
        return tr_oa_image(ctx, part, i, j, m);
    }

    return tr_error(ctx, "messages[%zu].content[%zu]: unsupported content "
                    "part type \"%s\"", i, j, tr_name(ctx, type));
}


static int
tr_oa_image(tr_ctx_t *ctx, tr_val_t *part, size_t i, size_t j, tr_msg_t *m)
{
    size_t       n;
    tr_val_t    *url;
    const char  *p, *comma, *semi;
    tr_block_t  *b;

    url = tr_get(part, "image_url");

    /* some clients send the URL itself rather than {"url": ...} */
    if (url != NULL && url->type != yajl_t_string) {
        url = tr_get(url, "url");
    }

    if (url == NULL || url->type != yajl_t_string) {
        return tr_error(ctx, "messages[%zu].content[%zu].image_url.url must "
                        "be a string", i, j);
    }

    p = url->str;

    if ((url->len > 7 && strncasecmp(p, "http://", 7) == 0)
        || (url->len > 8 && strncasecmp(p, "https://", 8) == 0))
    {
        b = tr_oa_block(ctx, m, TR_BLOCK_IMAGE_URL);
        if (b == NULL) {
            return TR_NOMEM;
        }

        b->a = p;
        b->a_len = url->len;

        return 0;
    }

    /* data:<media type>[;<parameter>...];base64,<data> */

    comma = (url->len > 5 && strncasecmp(p, "data:", 5) == 0)
            ? memchr(p, ',', url->len) : NULL;

    if (comma == NULL || comma - p < 5 + 7
        || strncasecmp(comma - 7, ";base64", 7) != 0)
    {
        return tr_error(ctx, "messages[%zu].content[%zu].image_url.url: only "
                        "http, https and base64 data: URLs are supported",
                        i, j);
    }

    semi = memchr(p + 5, ';', comma - p - 5);
    n = semi - (p + 5);

    if (n == 0) {
        return tr_error(ctx, "messages[%zu].content[%zu].image_url.url: the "
                        "data: URL has no media type", i, j);
    }

    b = tr_oa_block(ctx, m, TR_BLOCK_IMAGE_BASE64);
    if (b == NULL) {
        return TR_NOMEM;
    }

    b->a = p + 5;
    b->a_len = n;
    b->b = comma + 1;
    b->b_len = url->len - (comma + 1 - p);

    return 0;
}


int
tr_oa_tool_call(tr_ctx_t *ctx, tr_val_t *tc, size_t i, size_t k,
    tr_msg_t *m)
{
    int          rc;
    char         what[96];
    size_t       n;
    tr_val_t    *type, *id, *fn, *name, *args, *input;
    tr_block_t  *b;

    if (tc->type != yajl_t_object) {
        return tr_error(ctx, "messages[%zu].tool_calls[%zu] must be an "
                        "object", i, k);
    }

    type = tr_get(tc, "type");

    if (type != NULL && !tr_is(type, "function")) {
        return tr_error(ctx, "messages[%zu].tool_calls[%zu]: unsupported "
                        "tool call type \"%s\"", i, k, tr_name(ctx, type));
    }

    id = tr_get(tc, "id");

    if (id == NULL || id->type != yajl_t_string) {
        return tr_error(ctx, "messages[%zu].tool_calls[%zu].id must be a "
                        "string", i, k);
    }

    fn = tr_get(tc, "function");
    name = tr_get(fn, "name");

    if (name == NULL || name->type != yajl_t_string) {
        return tr_error(ctx, "messages[%zu].tool_calls[%zu].function.name "
                        "must be a string", i, k);
    }

    snprintf(what, sizeof(what), "messages[%zu].tool_calls[%zu].function."
             "arguments", i, k);

    args = tr_get(fn, "arguments");
    input = NULL;

    if (args != NULL && args->type == yajl_t_string) {

        /* "" (some models call argument-less tools so) is {} */
        n = strspn(args->str, " \t\r\n");

        if (n < args->len) {
            rc = tr_parse(ctx, args->str, args->len, &input, what);
            if (rc != 0) {
                return rc;
            }
        }

    } else {
        /* some clients send the arguments object itself */
        input = args;
    }

    if (input != NULL && input->type != yajl_t_object) {
        return tr_error(ctx, "%s must be a JSON object", what);
    }

    b = tr_oa_block(ctx, m, TR_BLOCK_TOOL_USE);
    if (b == NULL) {
        return TR_NOMEM;
    }

    b->a = id->str;
    b->a_len = id->len;
    b->b = name->str;
    b->b_len = name->len;
    b->value = input;

    return 0;
}


tr_block_t *
tr_oa_block(tr_ctx_t *ctx, tr_msg_t *m, unsigned type)
{
    tr_block_t  *b;

    b = tr_calloc(ctx, sizeof(tr_block_t));
    if (b == NULL) {
        return NULL;
    }

    b->type = type;

    if (m->last == NULL) {
        m->first = b;

    } else {
        m->last->next = b;
    }

    m->last = b;

    return b;
}


/* Anthropic rejects empty text blocks: they are left out */

int
tr_oa_text_block(tr_ctx_t *ctx, tr_msg_t *m, tr_val_t *text)
{
    tr_block_t  *b;

    if (text->len == 0) {
        return 0;
    }

    b = tr_oa_block(ctx, m, TR_BLOCK_TEXT);
    if (b == NULL) {
        return TR_NOMEM;
    }

    b->a = text->str;
    b->a_len = text->len;

    return 0;
}


void
tr_oa_gen_block(tr_ctx_t *ctx, tr_block_t *b)
{
    tr_val_t  *e, *text;

    tr_gen_map(ctx);

    switch (b->type) {

    case TR_BLOCK_TEXT:
        tr_gen_pair(ctx, "type", "text");
        tr_gen_key(ctx, "text");
        tr_gen_string(ctx, b->a, b->a_len);
        break;

    case TR_BLOCK_IMAGE_BASE64:
        tr_gen_pair(ctx, "type", "image");
        tr_gen_key(ctx, "source");
        tr_gen_map(ctx);
        tr_gen_pair(ctx, "type", "base64");
        tr_gen_key(ctx, "media_type");
        tr_gen_string(ctx, b->a, b->a_len);
        tr_gen_key(ctx, "data");
        tr_gen_string(ctx, b->b, b->b_len);
        tr_gen_map_end(ctx);
        break;

    case TR_BLOCK_IMAGE_URL:
        tr_gen_pair(ctx, "type", "image");
        tr_gen_key(ctx, "source");
        tr_gen_map(ctx);
        tr_gen_pair(ctx, "type", "url");
        tr_gen_key(ctx, "url");
        tr_gen_string(ctx, b->a, b->a_len);
        tr_gen_map_end(ctx);
        break;

    case TR_BLOCK_TOOL_USE:
        tr_gen_pair(ctx, "type", "tool_use");
        tr_gen_key(ctx, "id");
        tr_gen_string(ctx, b->a, b->a_len);
        tr_gen_key(ctx, "name");
        tr_gen_string(ctx, b->b, b->b_len);
        tr_gen_key(ctx, "input");

        if (b->value != NULL) {
            tr_gen_value(ctx, b->value);

        } else {
            tr_gen_map(ctx);
            tr_gen_map_end(ctx);
        }

        break;

    default: /* TR_BLOCK_TOOL_RESULT */
        tr_gen_pair(ctx, "type", "tool_result");
        tr_gen_key(ctx, "tool_use_id");
        tr_gen_string(ctx, b->a, b->a_len);

        if (b->value == NULL) {
            break;
        }

        tr_gen_key(ctx, "content");

        if (b->value->type == yajl_t_string) {
            tr_gen_value(ctx, b->value);
            break;
        }

        tr_gen_array(ctx);

        for (e = b->value->first; e != NULL; e = e->next) {
            text = tr_get(e, "text");

            if (text->len > 0) {
                tr_gen_map(ctx);
                tr_gen_pair(ctx, "type", "text");
                tr_gen_key(ctx, "text");
                tr_gen_value(ctx, text);
                tr_gen_map_end(ctx);
            }
        }

        tr_gen_array_end(ctx);
        break;
    }

    tr_gen_map_end(ctx);
}
