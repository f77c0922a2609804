
/*
 * Copyright (C) tokenroute authors
 *
 * OpenAI messages to Anthropic ones: system and developer messages
 * hoisted into "system", the others read by role into turns that
 * alternate as Anthropic wants, then written; their content parts are
 * tokenroute_translate_oa_content.c's.
 */


#include <string.h>

#include "tokenroute_translate_int.h"


static int tr_oa_text_parts(tr_ctx_t *ctx, tr_val_t *content, size_t i,
    const char *where, tr_text_t *text);
static int tr_oa_user(tr_ctx_t *ctx, tr_val_t *msg, size_t i, tr_msg_t *m);
static int tr_oa_assistant(tr_ctx_t *ctx, tr_val_t *msg, size_t i,
    tr_msg_t *m);
static int tr_oa_tool(tr_ctx_t *ctx, tr_val_t *msg, size_t i, tr_msg_t *m);
static int tr_oa_merge(tr_ctx_t *ctx, tr_msg_t *prev, tr_msg_t *m);
static void tr_oa_gen_message(tr_ctx_t *ctx, tr_msg_t *m);


/*
 * System and developer messages, wherever they are, become the one
 * "system" string: a lone string as it is, several texts joined (see
 * tr_text_add()).
 */

int
tr_oa_system(tr_ctx_t *ctx, tr_val_t *messages)
{
    int         rc;
    size_t      i;
    tr_val_t   *m, *role;
    tr_text_t   text;

    memset(&text, 0, sizeof(tr_text_t));

    for (m = messages->first, i = 0; m != NULL; m = m->next, i++) {
        role = tr_get(m, "role");

        if (!tr_is(role, "system") && !tr_is(role, "developer")) {
            continue;
        }

        rc = tr_oa_text_parts(ctx, tr_get(m, "content"), i,
                              " in a system message", &text);
        if (rc != 0) {
            return rc;
        }
    }

    if (text.n == 0) {
        return 0;
    }

    tr_gen_key(ctx, "system");

    return tr_gen_text(ctx, &text, NULL);
}


/* content that may hold only text: a string or text parts */

static int
tr_oa_text_parts(tr_ctx_t *ctx, tr_val_t *content, size_t i,
    const char *where, tr_text_t *text)
{
    int        rc;
    size_t     j;
    tr_val_t  *part, *type, *s;

    if (content == NULL) {
        return 0;
    }

    if (content->type == yajl_t_string) {
        return (text != NULL) ? tr_text_add(ctx, text, content->str,
                                            content->len)
                              : 0;
    }

    if (content->type != yajl_t_array) {
        return tr_error(ctx, "messages[%zu].content must be a string or an "
                        "array", i);
    }

    for (part = content->first, j = 0; part != NULL; part = part->next, j++) {
        type = tr_get(part, "type");

        if (!tr_is(type, "text")) {
            return tr_error(ctx, "messages[%zu].content[%zu]: unsupported "
                            "content part type \"%s\"%s", i, j,
                            tr_name(ctx, type), where);
        }

        s = tr_get(part, "text");

        if (s == NULL || s->type != yajl_t_string) {
            return tr_error(ctx, "messages[%zu].content[%zu].text must be a "
                            "string", i, j);
        }

        if (text != NULL) {
            rc = tr_text_add(ctx, text, s->str, s->len);
            if (rc != 0) {
                return rc;
            }
        }
    }

    return 0;
}


/*
 * Anthropic wants user and assistant turns to alternate, so consecutive
 * turns of one role, tool results counting as user turns, are merged into
 * one message with their blocks in order.
 */

int
tr_oa_messages(tr_ctx_t *ctx, tr_val_t *messages)
{
    int        rc;
    size_t     i;
    tr_msg_t  *first, *last, *m;
    tr_val_t  *v, *role;

    first = NULL;
    last = NULL;

    for (v = messages->first, i = 0; v != NULL; v = v->next, i++) {

        if (v->type != yajl_t_object) {
            return tr_error(ctx, "messages[%zu] must be an object", i);
        }

        role = tr_get(v, "role");

        if (role == NULL || role->type != yajl_t_string) {
            return tr_error(ctx, "messages[%zu].role must be a string", i);
        }

        if (tr_is(role, "system") || tr_is(role, "developer")) {
            continue;
        }

        m = tr_calloc(ctx, sizeof(tr_msg_t));
        if (m == NULL) {
            return TR_NOMEM;
        }

        if (tr_is(role, "user")) {
            rc = tr_oa_user(ctx, v, i, m);

        } else if (tr_is(role, "assistant")) {
            m->assistant = 1;
            rc = tr_oa_assistant(ctx, v, i, m);

        } else if (tr_is(role, "tool")) {
            rc = tr_oa_tool(ctx, v, i, m);

        } else if (tr_is(role, "function")) {
            rc = tr_error(ctx, "messages[%zu]: role \"function\" is not "
                          "supported; use \"tool\"", i);

        } else {
            rc = tr_error(ctx, "messages[%zu]: role \"%s\" is not supported",
                          i, tr_name(ctx, role));
        }

        if (rc != 0) {
            return rc;
        }

        if (last != NULL && last->assistant == m->assistant) {
            rc = tr_oa_merge(ctx, last, m);
            if (rc != 0) {
                return rc;
            }

            continue;
        }

        if (last == NULL) {
            first = m;

        } else {
            last->next = m;
        }

        last = m;
    }

    if (first == NULL) {
        return tr_error(ctx, "\"messages\" must hold a user message for "
                        "Anthropic models");
    }

    if (first->assistant) {
        return tr_error(ctx, "messages must start with a user message for "
                        "Anthropic models");
    }

    tr_gen_key(ctx, "messages");
    tr_gen_array(ctx);

    for (m = first; m != NULL; m = m->next) {
        tr_oa_gen_message(ctx, m);
    }

    tr_gen_array_end(ctx);

    return 0;
}


static int
tr_oa_user(tr_ctx_t *ctx, tr_val_t *msg, size_t i, tr_msg_t *m)
{
    int        rc;
    size_t     j;
    tr_val_t  *content, *part;

    content = tr_get(msg, "content");

    if (content != NULL && content->type == yajl_t_string) {
        m->text = content;
        return 0;
    }

    if (content == NULL || content->type != yajl_t_array) {
        return tr_error(ctx, "messages[%zu].content must be a string or an "
                        "array", i);
    }

    for (part = content->first, j = 0; part != NULL; part = part->next, j++) {
        rc = tr_oa_part(ctx, part, i, j, m);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


static int
tr_oa_assistant(tr_ctx_t *ctx, tr_val_t *msg, size_t i, tr_msg_t *m)
{
    int        rc;
    size_t     j;
    tr_val_t  *content, *calls, *v;

    if (tr_get(msg, "function_call") != NULL) {
        return tr_error(ctx, "messages[%zu].function_call is not supported; "
                        "use \"tool_calls\"", i);
    }

    content = tr_get(msg, "content");
    calls = tr_get(msg, "tool_calls");

    if (calls != NULL && calls->type != yajl_t_array) {
        return tr_error(ctx, "messages[%zu].tool_calls must be an array", i);
    }

    if (content != NULL && content->type == yajl_t_string
        && (calls == NULL || calls->len == 0))
    {
        m->text = content;
        return 0;
    }

    if (content != NULL && content->type == yajl_t_string) {
        rc = tr_oa_text_block(ctx, m, content);
        if (rc != 0) {
            return rc;
        }

    } else if (content != NULL && content->type == yajl_t_array) {

        for (v = content->first, j = 0; v != NULL; v = v->next, j++) {
            rc = tr_oa_part(ctx, v, i, j, m);
            if (rc != 0) {
                return rc;
            }
        }

    } else if (content != NULL) {
        return tr_error(ctx, "messages[%zu].content must be a string or an "
                        "array", i);
    }

    if (calls == NULL) {
        return 0;
    }

    for (v = calls->first, j = 0; v != NULL; v = v->next, j++) {
        rc = tr_oa_tool_call(ctx, v, i, j, m);
        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


static int
tr_oa_tool(tr_ctx_t *ctx, tr_val_t *msg, size_t i, tr_msg_t *m)
{
    int          rc;
    tr_val_t    *id, *content;
    tr_block_t  *b;

    id = tr_get(msg, "tool_call_id");

    if (id == NULL || id->type != yajl_t_string) {
        return tr_error(ctx, "messages[%zu].tool_call_id must be a string",
                        i);
    }

    content = tr_get(msg, "content");

    rc = tr_oa_text_parts(ctx, content, i, " in a tool message", NULL);
    if (rc != 0) {
        return rc;
    }

    b = tr_oa_block(ctx, m, TR_BLOCK_TOOL_RESULT);
    if (b == NULL) {
        return TR_NOMEM;
    }

    b->a = id->str;
    b->a_len = id->len;
    b->value = content;

    return 0;
}


static int
tr_oa_merge(tr_ctx_t *ctx, tr_msg_t *prev, tr_msg_t *m)
{
    tr_val_t  *text;

    if (prev->text != NULL) {
        text = prev->text;
        prev->text = NULL;

        if (tr_oa_text_block(ctx, prev, text) != 0) {
            return TR_NOMEM;
        }
    }

    if (m->text != NULL) {
        text = m->text;
        m->text = NULL;

        if (tr_oa_text_block(ctx, m, text) != 0) {
            return TR_NOMEM;
        }
    }

    if (m->first == NULL) {
        return 0;
    }

    if (prev->last == NULL) {
        prev->first = m->first;

    } else {
        prev->last->next = m->first;
    }

    prev->last = m->last;

    return 0;
}


/* Anthropic wants a user turn's tool results before its other blocks */

static void
tr_oa_gen_message(tr_ctx_t *ctx, tr_msg_t *m)
{
    tr_block_t  *b;

    tr_gen_map(ctx);
    tr_gen_pair(ctx, "role", m->assistant ? "assistant" : "user");
    tr_gen_key(ctx, "content");

    if (m->text != NULL) {
        tr_gen_value(ctx, m->text);
        tr_gen_map_end(ctx);
        return;
    }

    tr_gen_array(ctx);

    for (b = m->first; b != NULL; b = b->next) {
        if (b->type == TR_BLOCK_TOOL_RESULT) {
            tr_oa_gen_block(ctx, b);
        }
    }

    for (b = m->first; b != NULL; b = b->next) {
        if (b->type != TR_BLOCK_TOOL_RESULT) {
            tr_oa_gen_block(ctx, b);
        }
    }

    tr_gen_array_end(ctx);
    tr_gen_map_end(ctx);
}
