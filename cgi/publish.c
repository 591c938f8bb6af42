#include "publish.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "form.h"
#include "log.h"
#include "response.h"
#include "utf8.h"

static struct sse_str field_str(const struct form_field *f)
{
    return f ? (struct sse_str){ f->value, f->value_len } : SSE_NONE;
}

/* One publish request on its way through the checks. */
struct publish {
    FCGX_Request *req;
    const struct app *app;
    unsigned long no;
    int authenticated;
    struct form fields;
    char *body;
    size_t body_len;
    int body_is_data;  /* a raw body: the body is the event's data */
};

/* Answers a 4xx (or 5xx) with a one-line reason; always returns -1. */
static int reject(struct publish *p, const char *status, const char *extra, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int reject(struct publish *p, const char *status, const char *extra, const char *fmt, ...)
{
    char reason[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (status[0] == '4')
        atomic_fetch_add(&p->app->stats->publish_rejected, 1);
    log_info("publish %lu: %.3s %s", p->no, status, reason);
    response_line(p->req->out, status, extra, reason);
    return -1;
}

static const char *param(const struct publish *p, const char *name)
{
    return FCGX_GetParam(name, p->req->envp);
}

/* A wrong token is refused outright; no token at all means "anonymous". */
static int check_token(struct publish *p)
{
    const char *header = param(p, "HTTP_AUTHORIZATION");
    if (!header)
        return 0;
    if (!auth_bearer_ok(header, p->app->publish_token))
        return reject(p, "401 Unauthorized", "WWW-Authenticate: Bearer\r\n",
                      "unauthorized: wrong or malformed bearer token");
    p->authenticated = 1;
    return 0;
}

static int media_type_is(const char *content_type, const char *want)
{
    size_t n = strcspn(content_type, "; \t");
    return n == strlen(want) && strncasecmp(content_type, want, n) == 0;
}

/* Form bodies carry fields; text, JSON and binary bodies are the data itself. */
static int classify_body(struct publish *p, const char *content_type, int *is_form)
{
    *is_form = 0;
    if (p->body_len == 0 && !content_type)
        return 0;
    if (content_type && media_type_is(content_type, "application/x-www-form-urlencoded")) {
        *is_form = 1;
        return 0;
    }
    if (content_type && (media_type_is(content_type, "text/plain") ||
                         media_type_is(content_type, "application/json") ||
                         media_type_is(content_type, "application/octet-stream"))) {
        p->body_is_data = 1;
        return 0;
    }
    return reject(p, "415 Unsupported Media Type", NULL,
                  "unsupported content type '%s': send application/x-www-form-urlencoded, "
                  "or the data itself as text/plain, application/json or "
                  "application/octet-stream", content_type ? content_type : "(none)");
}

static int read_body(struct publish *p)
{
    const char *length = param(p, "CONTENT_LENGTH");
    unsigned long limit = p->authenticated ? p->app->cfg->max_body : p->app->cfg->public_max_body;
    char *end = NULL;
    unsigned long n = length && *length ? strtoul(length, &end, 10) : 0;
    if (end && *end)
        return reject(p, "400 Bad Request", NULL, "bad request: invalid Content-Length");
    if (n > limit)
        return reject(p, "413 Content Too Large", NULL,
                      "body too large: %lu bytes, the limit is %lu%s", n, limit,
                      p->authenticated ? "" : " without a token");
    p->body = malloc(n + 1);
    if (!p->body)
        return reject(p, "500 Internal Server Error", NULL, "out of memory");
    while (p->body_len < n) {
        int got = FCGX_GetStr(p->body + p->body_len, (int)(n - p->body_len), p->req->in);
        if (got <= 0)
            return reject(p, "400 Bad Request", NULL, "body shorter than its Content-Length");
        p->body_len += (size_t)got;
    }
    p->body[n] = '\0';
    return 0;
}

static int parse_fields(struct publish *p, const char *text, size_t n, const char *where)
{
    enum form_status st = form_parse(&p->fields, text, n);
    if (st == FORM_OK)
        return 0;
    if (st == FORM_NO_MEMORY)
        return reject(p, "500 Internal Server Error", NULL, "out of memory");
    return reject(p, "400 Bad Request", NULL, "malformed %s: %s", where,
                  st == FORM_BAD_ESCAPE ? "broken %-escape" : "empty or NUL field name");
}

static int check_field_names(struct publish *p)
{
    static const char *const singles[] = { "data", "type", "id", "retry" };
    for (size_t i = 0; i < p->fields.count; i++) {
        const char *name = p->fields.fields[i].name;
        int known = strcmp(name, "topic") == 0;
        for (size_t k = 0; k < 4; k++)
            known |= strcmp(name, singles[k]) == 0;
        if (!known)
            return reject(p, "400 Bad Request", NULL,
                          "unknown field '%.64s': use topic, data, type, id, retry", name);
    }
    for (size_t k = 0; k < 4; k++)
        if (form_count(&p->fields, singles[k]) > 1)
            return reject(p, "400 Bad Request", NULL, "field '%s' given more than once",
                          singles[k]);
    if (p->body_is_data && form_get(&p->fields, "data", 0))
        return reject(p, "400 Bad Request", NULL,
                      "data given twice: in the body and in the query string");
    return 0;
}

static int collect_fields(struct publish *p)
{
    int is_form;
    if (classify_body(p, param(p, "CONTENT_TYPE"), &is_form) != 0 || read_body(p) != 0)
        return -1;
    const char *query = param(p, "QUERY_STRING");
    if (query && parse_fields(p, query, strlen(query), "query string") != 0)
        return -1;
    if (is_form && parse_fields(p, p->body, p->body_len, "form body") != 0)
        return -1;
    return check_field_names(p);
}

static int is_public(const char *list, const char *topic)
{
    size_t n = strlen(topic);
    for (const char *s = list; *s;) {
        size_t len = strcspn(s, ",");
        if (len == n && strncmp(s, topic, n) == 0)
            return 1;
        s += len + (s[len] == ',');
    }
    return 0;
}

/* Anonymous publishes may only go to public topics. */
static int check_permission(struct publish *p, const struct sse_str *topics, size_t n)
{
    if (p->authenticated)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_public(p->app->cfg->public_topics, topics[i].ptr))
            return reject(p, "401 Unauthorized", "WWW-Authenticate: Bearer\r\n",
                          "unauthorized: topic '%s' needs a bearer token", topics[i].ptr);
    return 0;
}


/* The event stream is UTF-8: anything else would be garbled in browsers. */
static int check_utf8(struct publish *p, const struct sse_event *ev)
{
    const struct { const char *name; struct sse_str s; } text[] = {
        { "data", ev->data }, { "type", ev->type }, { "id", ev->id },
    };
    for (size_t i = 0; i < 3; i++)
        if (text[i].s.ptr && !utf8_valid(text[i].s.ptr, text[i].s.len))
            return reject(p, "400 Bad Request", NULL, "%s is not valid UTF-8", text[i].name);
    if (ev->id.ptr && ev->id.len == 0)
        return reject(p, "400 Bad Request", NULL, "id must not be empty: leave it out instead");
    return 0;
}

static int publish_event(struct publish *p, const struct sse_str *topics, size_t ntopics)
{
    struct hub_message msg = {
        .topics = topics,
        .ntopics = ntopics,
        .event = {
            .type = field_str(form_get(&p->fields, "type", 0)),
            .id = field_str(form_get(&p->fields, "id", 0)),
            .retry = field_str(form_get(&p->fields, "retry", 0)),
            .data = p->body_is_data ? (struct sse_str){ p->body, p->body_len }
                                    : field_str(form_get(&p->fields, "data", 0)),
        },
    };
    if (check_utf8(p, &msg.event) != 0)
        return -1;
    struct strbuf id = STRBUF_INIT;
    enum frame_status fst;
    enum hub_status st = hub_publish(p->app->hub, &msg, &id, &fst);
    int rc = 0;
    if (st == HUB_OK) {
        log_info("publish %lu: id %s, %zu bytes of data", p->no, id.ptr, msg.event.data.len);
        strbuf_append(&id, "\n", 1);
        response_body(p->req->out, "text/plain; charset=utf-8", id.ptr, id.len);
    } else if (st == HUB_BEHIND) { /* accepted, it would be lost: the publisher retries */
        rc = reject(p, "503 Service Unavailable", "Retry-After: 1\r\n", "%s", hub_status_str(st));
    } else if (st == HUB_TOO_LARGE) {
        rc = reject(p, "413 Content Too Large", NULL, "%s", hub_status_str(st));
    } else if (st == HUB_CLOSED || st == HUB_NO_MEMORY) {
        rc = reject(p, "503 Service Unavailable", NULL, "%s", hub_status_str(st));
    } else {
        rc = reject(p, "400 Bad Request", NULL, "%s",
                    st == HUB_BAD_EVENT ? frame_status_str(fst) : hub_status_str(st));
    }
    strbuf_free(&id);
    return rc;
}

static void publish_fields(struct publish *p)
{
    size_t ntopics = form_count(&p->fields, "topic");
    struct sse_str *topics = calloc(ntopics ? ntopics : 1, sizeof *topics);
    if (!topics) {
        reject(p, "500 Internal Server Error", NULL, "out of memory");
        return;
    }
    for (size_t i = 0; i < ntopics; i++)
        topics[i] = field_str(form_get(&p->fields, "topic", i));
    enum hub_status st = hub_check_topics(p->app->hub, topics, ntopics);
    if (st != HUB_OK)
        reject(p, "400 Bad Request", NULL, "%s", hub_status_str(st));
    else if (check_permission(p, topics, ntopics) == 0)
        publish_event(p, topics, ntopics);
    free(topics);
}

void publish_serve(FCGX_Request *req, const struct app *app, unsigned long no)
{
    struct publish p = { .req = req, .app = app, .no = no, .fields = FORM_INIT };
    const char *method = param(&p, "REQUEST_METHOD");
    if (!method || strcmp(method, "POST") != 0)
        reject(&p, "405 Method Not Allowed", "Allow: POST\r\n",
               "method not allowed: /publish only answers POST");
    else if (check_token(&p) == 0 && collect_fields(&p) == 0)
        publish_fields(&p);
    form_free(&p.fields);
    free(p.body);
}
