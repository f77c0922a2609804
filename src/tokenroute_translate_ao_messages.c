
/*
 * Copyright (C) tokenroute authors
 *
 * Anthropic messages to OpenAI ones: user turns (their tool results as
 * tool messages), image blocks as image_url parts, assistant turns with
 * their tool_use blocks as tool_calls.
 */


#include <string.h>

#include "tokenroute_translate_int.h"


static int tr_ao_user(tr_ctx_t *ctx, tr_val_t *content, size_t i);
static int tr_ao_image(tr_ctx_t *ctx, tr_val_t *block, size_t i, size_t j,
    int gen);
static int tr_ao_tool_result(tr_ctx_t *ctx, tr_val_t *block, size_t i,
    size_t j);
static int tr_ao_assistant(tr_ctx_t *ctx, tr_val_t *content, size_t i);


int
tr_ao_message(tr_ctx_t *ctx, tr_val_t *msg, size_t i)
{
    tr_val_t  *role, *content;

    if (msg->type != yajl_t_object) {
        return tr_error(ctx, "messages[%zu] must be an object", i);
    }

    role = tr_get(msg, "role");
    content = tr_get(msg, "content");

    if (!tr_is(role, "user") && !tr_is(role, "assistant")) {
        return tr_error(ctx, "messages[%zu]: role \"%s\" is not supported",
                        i, tr_name(ctx, role));
    }

    if (content != NULL && content->type == yajl_t_string) {
        tr_gen_map(ctx);
        tr_gen_key(ctx, "role");
        tr_gen_value(ctx, role);
        tr_gen_key(ctx, "content");
        tr_gen_value(ctx, content);
        tr_gen_map_end(ctx);

        return 0;
    }

    if (content == NULL || content->type != yajl_t_array) {
        return tr_error(ctx, "messages[%zu].content must be a string or an "
                        "array", i);
    }

    if (tr_is(role, "user")) {
        return tr_ao_user(ctx, content, i);
    }

    return tr_ao_assistant(ctx, content, i);
}


/*
 * A user turn's tool results become tool messages, placed before a user
 * message with the rest: its text as one string, or text and image parts
 * if there are images.
 */

static int
tr_ao_user(tr_ctx_t *ctx, tr_val_t *content, size_t i)
{
    int         rc;
    size_t      j, images, results;
    tr_val_t   *b, *type, *text;
    tr_text_t   all;

    memset(&all, 0, sizeof(tr_text_t));
    images = 0;
    results = 0;

    for (b = content->first, j = 0; b != NULL; b = b->next, j++) {
        type = tr_get(b, "type");

        if (tr_is(type, "tool_result")) {
            rc = tr_ao_tool_result(ctx, b, i, j);
            if (rc != 0) {
                return rc;
            }

            results++;

        } else if (tr_is(type, "text")) {
            text = tr_get(b, "text");

            if (text == NULL || text->type != yajl_t_string) {
                return tr_error(ctx, "messages[%zu].content[%zu].text must "
                                "be a string", i, j);
            }

            rc = tr_text_add(ctx, &all, text->str, text->len);
            if (rc != 0) {
                return rc;
            }

        } else if (tr_is(type, "image")) {
            rc = tr_ao_image(ctx, b, i, j, 0);
            if (rc != 0) {
                return rc;
            }

            images++;

        } else if (!tr_is(type, "thinking")
                   && !tr_is(type, "redacted_thinking"))
        {
            return tr_error(ctx, "messages[%zu].content[%zu]: unsupported "
                            "content block type \"%s\"", i, j,
                            tr_name(ctx, type));
        }
    }

    if (images == 0 && all.n == 0 && results > 0) {
        return 0;
    }

    tr_gen_map(ctx);
    tr_gen_pair(ctx, "role", "user");
    tr_gen_key(ctx, "content");

    if (images == 0) {
        rc = tr_gen_text(ctx, &all, NULL);
        if (rc != 0) {
            return rc;
        }

        tr_gen_map_end(ctx);

        return 0;
    }

    tr_gen_array(ctx);

    for (b = content->first, j = 0; b != NULL; b = b->next, j++) {
        type = tr_get(b, "type");

        if (tr_is(type, "image")) {
            rc = tr_ao_image(ctx, b, i, j, 1);
            if (rc != 0) {
                return rc;
            }

            continue;
        }

        text = tr_get(b, "text");

        if (tr_is(type, "text") && text->len > 0) {
            tr_gen_map(ctx);
            tr_gen_pair(ctx, "type", "text");
            tr_gen_key(ctx, "text");
            tr_gen_value(ctx, text);
            tr_gen_map_end(ctx);
        }
    }

    tr_gen_array_end(ctx);
    tr_gen_map_end(ctx);

    return 0;
}


/* checks an image block, and with gen writes it as an image_url part */

static int
tr_ao_image(tr_ctx_t *ctx, tr_val_t *block, size_t i, size_t j, int gen)
{
    char      *p, *url;
    size_t     n;
    tr_val_t  *src, *type, *media, *data;

    src = tr_get(block, "source");
    type = tr_get(src, "type");

    if (tr_is(type, "url")) {
        data = tr_get(src, "url");

        if (data == NULL || data->type != yajl_t_string) {
            return tr_error(ctx, "messages[%zu].content[%zu].source.url must "
                            "be a string", i, j);
        }

        if (gen) {
            tr_gen_map(ctx);
            tr_gen_pair(ctx, "type", "image_url");
            tr_gen_key(ctx, "image_url");
            tr_gen_map(ctx);
            tr_gen_key(ctx, "url");
            tr_gen_value(ctx, data);
            tr_gen_map_end(ctx);
            tr_gen_map_end(ctx);
        }

        return 0;
    }

    if (!tr_is(type, "base64")) {
        return tr_error(ctx, "messages[%zu].content[%zu]: unsupported image "
                        "source type \"%s\"", i, j, tr_name(ctx, type));
    }

    media = tr_get(src, "media_type");
    data = tr_get(src, "data");

    if (media == NULL || media->type != yajl_t_string
        || data == NULL || data->type != yajl_t_string)
    {
        return tr_error(ctx, "messages[%zu].content[%zu].source needs "
                        "\"media_type\" and \"data\" strings", i, j);
    }

    if (!gen) {
        return 0;
    }

    n = sizeof("data:;base64,") - 1 + media->len + data->len;

    url = tr_alloc(ctx, n);
    if (url == NULL) {
        return TR_NOMEM;
    }

    p = url;
    memcpy(p, "data:", 5);
    p += 5;
    memcpy(p, media->str, media->len);
    p += media->len;
    memcpy(p, ";base64,", 8);
    p += 8;
    memcpy(p, data->str, data->len);

    tr_gen_map(ctx);
    tr_gen_pair(ctx, "type", "image_url");
    tr_gen_key(ctx, "image_url");
    tr_gen_map(ctx);
    tr_gen_key(ctx, "url");
    tr_gen_string(ctx, url, n);
    tr_gen_map_end(ctx);
    tr_gen_map_end(ctx);

    return 0;
}


/* OpenAI tool messages hold text only; errors are marked "Error: " */

static int
tr_ao_tool_result(tr_ctx_t *ctx, tr_val_t *block, size_t i, size_t j)
{
    int          rc;
    size_t       k;
    tr_val_t    *id, *content, *b, *text, *type;
    tr_text_t    all;
    const char  *prefix;

    id = tr_get(block, "tool_use_id");

    if (id == NULL || id->type != yajl_t_string) {
        return tr_error(ctx, "messages[%zu].content[%zu].tool_use_id must "
                        "be a string", i, j);
    }

    memset(&all, 0, sizeof(tr_text_t));
    content = tr_get(block, "content");

    if (content != NULL && content->type == yajl_t_string) {
        rc = tr_text_add(ctx, &all, content->str, content->len);
        if (rc != 0) {
            return rc;
        }

    } else if (content != NULL && content->type == yajl_t_array) {

        for (b = content->first, k = 0; b != NULL; b = b->next, k++) {
            type = tr_get(b, "type");
            text = tr_get(b, "text");

            if (!tr_is(type, "text")) {
                return tr_error(ctx, "messages[%zu].content[%zu].content"
                                "[%zu]: OpenAI tool messages hold text only, "
                                "not \"%s\"", i, j, k, tr_name(ctx, type));
            }

            if (text == NULL || text->type != yajl_t_string) {
                return tr_error(ctx, "messages[%zu].content[%zu].content"
                                "[%zu].text must be a string", i, j, k);
            }

            rc = tr_text_add(ctx, &all, text->str, text->len);
            if (rc != 0) {
                return rc;
            }
        }

    } else if (content != NULL) {
        return tr_error(ctx, "messages[%zu].content[%zu].content must be a "
                        "string or an array", i, j);
    }

    prefix = (tr_get(block, "is_error") != NULL
              && tr_get(block, "is_error")->type == yajl_t_true)
             ? "Error: " : NULL;

    tr_gen_map(ctx);
    tr_gen_pair(ctx, "role", "tool");
    tr_gen_key(ctx, "tool_call_id");
    tr_gen_value(ctx, id);
    tr_gen_key(ctx, "content");

    rc = tr_gen_text(ctx, &all, prefix);
    if (rc != 0) {
        return rc;
    }

    tr_gen_map_end(ctx);

    return 0;
}


/*
 * Text becomes the content string (null beside tool calls when there is
 * no text), tool_use blocks become tool_calls with the input as JSON text.
 */

static int
tr_ao_assistant(tr_ctx_t *ctx, tr_val_t *content, size_t i)
{
    int         rc;
    size_t      j, calls;
    tr_val_t   *b, *type, *text, *id, *name, *input;
    tr_text_t   all;

    memset(&all, 0, sizeof(tr_text_t));
    calls = 0;

    for (b = content->first, j = 0; b != NULL; b = b->next, j++) {
        type = tr_get(b, "type");

        if (tr_is(type, "text")) {
            text = tr_get(b, "text");

            if (text == NULL || text->type != yajl_t_string) {
                return tr_error(ctx, "messages[%zu].content[%zu].text must "
                                "be a string", i, j);
            }

            rc = tr_text_add(ctx, &all, text->str, text->len);
            if (rc != 0) {
                return rc;
            }

        } else if (tr_is(type, "tool_use")) {
            id = tr_get(b, "id");
            name = tr_get(b, "name");
            input = tr_get(b, "input");

            if (id == NULL || id->type != yajl_t_string
                || name == NULL || name->type != yajl_t_string)
            {
                return tr_error(ctx, "messages[%zu].content[%zu] needs "
                                "\"id\" and \"name\" strings", i, j);
            }

            if (input != NULL && input->type != yajl_t_object) {
                return tr_error(ctx, "messages[%zu].content[%zu].input must "
                                "be an object", i, j);
            }

            calls++;

        } else if (!tr_is(type, "thinking")
                   && !tr_is(type, "redacted_thinking"))
        {
            return tr_error(ctx, "messages[%zu].content[%zu]: unsupported "
                            "content block type \"%s\"", i, j,
                            tr_name(ctx, type));
        }
    }

    tr_gen_map(ctx);
    tr_gen_pair(ctx, "role", "assistant");
    tr_gen_key(ctx, "content");

    if (all.n == 0 && calls > 0) {
        tr_gen_null(ctx);

    } else {
        rc = tr_gen_text(ctx, &all, NULL);
        if (rc != 0) {
            return rc;
        }
    }

    if (calls > 0) {
        tr_gen_key(ctx, "tool_calls");
        tr_gen_array(ctx);

        for (b = content->first; b != NULL; b = b->next) {

            if (!tr_is(tr_get(b, "type"), "tool_use")) {
                continue;
            }

            tr_gen_map(ctx);
            tr_gen_key(ctx, "id");
            tr_gen_value(ctx, tr_get(b, "id"));
            tr_gen_pair(ctx, "type", "function");
            tr_gen_key(ctx, "function");
            tr_gen_map(ctx);
            tr_gen_key(ctx, "name");
            tr_gen_value(ctx, tr_get(b, "name"));
            tr_gen_key(ctx, "arguments");

            rc = tr_gen_json(ctx, tr_get(b, "input"));
            if (rc != 0) {
                return rc;
            }

            tr_gen_map_end(ctx);
            tr_gen_map_end(ctx);
        }

        tr_gen_array_end(ctx);
    }

    tr_gen_map_end(ctx);

    return 0;
}
