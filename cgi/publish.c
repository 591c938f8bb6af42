#include "publish.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "array_len.h"
#include "access.h"
#include "auth.h"
#include "broker.h"
#include "form.h"
#include "log.h"
#include "response.h"
#include "topic_list.h"
#include "utf8.h"

static struct sse_str field_str(const struct form_field *f)
{
    return f ? (struct sse_str){ f->value, f->value_len } : SSE_NONE;
}

/* The fields a publish may give once each; "topic" may come several times. */
static const char *const single_fields[] = { "data", "type", "id", "retry" };

/* One publish request on its way through the checks. */
struct publish {
    FCGX_Request *req;
    const struct app *app;
    unsigned long no;
    int authenticated;
    int by_jwt;               /* authenticated by a JWT: only its topics */
    struct jwt_grants grants; /* what that JWT grants */
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

/* Not the static token: a JWT (access.h), which grants its mercure.publish
 * topics only; checked with the topics in check_jwt_topics. */
static int check_jwt(struct publish *p, const char *header)
{
    if (!p->app->access->key)
        return reject(p, "401 Unauthorized", "WWW-Authenticate: Bearer\r\n",
                      "unauthorized: wrong or malformed bearer token");
    enum jwt_status st = access_bearer_jwt(p->app->access, header, &p->grants);
    if (st == JWT_NO_MEMORY)
        return reject(p, "503 Service Unavailable", "Retry-After: 5\r\n", "out of memory");
    if (st != JWT_VALID)
        return reject(p, "401 Unauthorized", "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n",
                      "unauthorized: not the publish token, and %s", jwt_status_str(st));
    p->by_jwt = 1;
    return 0;
}

static int check_jwt_topics(struct publish *p, const struct sse_str *topics, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!jwt_grants_allow(p->grants.publish, p->grants.npublish, topics[i].ptr))
            return reject(p, "403 Forbidden", NULL,
                          "forbidden: the token does not grant publishing to topic '%s'",
                          topics[i].ptr);
    return 0;
}

/* A wrong token is refused outright; no token at all means "anonymous". */
static int check_token(struct publish *p)
{
    const char *header = param(p, "HTTP_AUTHORIZATION");
    if (!header)
        return 0;
    p->authenticated = 1;
    if (auth_bearer_ok(header, p->app->publish_token))
        return 0;
    return check_jwt(p, header);
}

static int media_type_is(const char *content_type, const char *want)
{
    size_t n = strcspn(content_type, "; \t");
    return n == strlen(want) && strncasecmp(content_type, want, n) == 0;
}

/* No Content-Length, or one of only zeros: nothing to read. */
static int body_is_empty(const struct publish *p)
{
    const char *length = param(p, "CONTENT_LENGTH");
    return !length || strspn(length, "0") == strlen(length);
}

/*
 * Form bodies carry fields; text, JSON and binary bodies are the data itself.
 * An empty body carries neither, whatever its Content-Type says (nginx passes
 * CONTENT_TYPE, empty, even when the client sent none): the fields then come
 * from the query string alone.
 */
static int classify_body(struct publish *p, const char *content_type, int *is_form)
{
    *is_form = 0;
    if (body_is_empty(p))
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
    for (size_t i = 0; i < p->fields.count; i++) {
        const char *name = p->fields.fields[i].name;
        int known = strcmp(name, "topic") == 0;
        for (size_t k = 0; k < ARRAY_LEN(single_fields); k++)
            known |= strcmp(name, single_fields[k]) == 0;
        if (!known)
            return reject(p, "400 Bad Request", NULL,
                          "unknown field '%.64s': use topic, data, type, id, retry", name);
    }
    for (size_t k = 0; k < ARRAY_LEN(single_fields); k++)
        if (form_count(&p->fields, single_fields[k]) > 1)
            return reject(p, "400 Bad Request", NULL, "field '%s' given more than once",
                          single_fields[k]);
    if (p->body_is_data && form_get(&p->fields, "data", 0))
        return reject(p, "400 Bad Request", NULL,
                      "data given twice: in the body and in the query string");
    return 0;
}

/*
 * Measured before parsing, so that a form of 100,000 fields is refused
 * without decoding one of them: besides its topics a publish has at most
 * data, type, id and retry.
 */
static int check_field_count(struct publish *p, const char *query, int is_form)
{
    struct form_tally q = query ? form_tally(query, strlen(query), "topic")
                                : (struct form_tally){ 0, 0 };
    struct form_tally b = is_form ? form_tally(p->body, p->body_len, "topic")
                                  : (struct form_tally){ 0, 0 };
    size_t max_topics = p->app->cfg->max_topics;
    if (q.named + b.named > max_topics)
        return reject(p, "400 Bad Request", NULL, "%s", hub_status_str(HUB_TOO_MANY_TOPICS));
    if (q.fields + b.fields > max_topics + ARRAY_LEN(single_fields))
        return reject(p, "400 Bad Request", NULL,
                      "too many fields: use topic (at most %zu), data, type, id, retry",
                      max_topics);
    return 0;
}

static int collect_fields(struct publish *p)
{
    int is_form;
    if (classify_body(p, param(p, "CONTENT_TYPE"), &is_form) != 0 || read_body(p) != 0)
        return -1;
    const char *query = param(p, "QUERY_STRING");
    if (check_field_count(p, query, is_form) != 0)
        return -1;
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
        return p->by_jwt ? check_jwt_topics(p, topics, n) : 0;
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

/*
 * id and retry steer every client of a topic (where it resumes, how soon it
 * reconnects): only a publisher with the token may set them. Ids of digits
 * only are the hub's own: one could equal an id the hub hands out later, so
 * a publisher's id needs a non-digit.
 */
static int check_id_and_retry(struct publish *p, const struct sse_event *ev)
{
    if (!p->authenticated && (ev->id.ptr || ev->retry.ptr))
        return reject(p, "403 Forbidden", NULL,
                      "id and retry need the bearer token: leave them out of an "
                      "anonymous publish");
    if (ev->id.ptr && strspn(ev->id.ptr, "0123456789") == ev->id.len)
        return reject(p, "400 Bad Request", NULL,
                      "an id of digits only is reserved for the ids the hub hands out: "
                      "give yours a non-digit, e.g. order-17");
    if (ev->id.ptr && p->app->broker && broker_id_reserved(ev->id.ptr, ev->id.len))
        return reject(p, "400 Bad Request", NULL,
                      "an id of the form digits-digits is reserved for the event log's ids: "
                      "give yours another form, e.g. order-17");
    return 0;
}

/* The answer to a publish the hub took (the event's id) or refused. */
static int answer(struct publish *p, enum hub_status st, enum frame_status fst,
                  struct strbuf *id, size_t data_len)
{
    if (st == HUB_OK) {
        log_info("publish %lu: id %s, %zu bytes of data", p->no, id->ptr, data_len);
        strbuf_append(id, "\n", 1);
        response_body(p->req->out, "text/plain; charset=utf-8", id->ptr, id->len);
        return 0;
    }
    if (st == HUB_BEHIND) /* refused before it would be lost: the publisher retries */
        return reject(p, "503 Service Unavailable", "Retry-After: 1\r\n", "%s", hub_status_str(st));
    if (st == HUB_BROKER_DOWN) /* not stored anywhere: the publisher retries */
        return reject(p, "503 Service Unavailable", "Retry-After: 2\r\n", "%s", hub_status_str(st));
    if (st == HUB_TOO_LARGE)
        return reject(p, "413 Content Too Large", NULL, "%s", hub_status_str(st));
    if (st == HUB_CLOSED || st == HUB_NO_MEMORY)
        return reject(p, "503 Service Unavailable", NULL, "%s", hub_status_str(st));
    return reject(p, "400 Bad Request", NULL, "%s",
                  st == HUB_BAD_EVENT ? frame_status_str(fst) : hub_status_str(st));
}

/*
 * Held from the look-up of a publisher's own id to its publish, so two
 * publishes with the same new id cannot both pass. The hub's own ids are
 * digits only, which a publisher's never are: those publishes skip it.
 */
static pthread_mutex_t own_id_lock = PTHREAD_MUTEX_INITIALIZER;

/* broker_publish(), but 409 for an own id already in the history. With
 * several workers (--redis) only this worker's history is looked at. */
static int publish_unique(struct publish *p, const struct hub_message *msg, struct strbuf *id,
                          enum frame_status *fst, enum hub_status *st)
{
    const struct sse_str own = msg->event.id;
    int duplicate = 0;
    if (own.ptr) {
        pthread_mutex_lock(&own_id_lock);
        duplicate = hub_has_id(p->app->hub, own.ptr, own.len);
    }
    if (!duplicate)
        *st = broker_publish(p->app->broker, p->app->hub, msg, id, fst);
    if (own.ptr)
        pthread_mutex_unlock(&own_id_lock);
    if (duplicate)
        return reject(p, "409 Conflict", NULL,
                      "id '%.64s' is already in the history: each event needs an id of its own",
                      own.ptr);
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
    if (check_utf8(p, &msg.event) != 0 || check_id_and_retry(p, &msg.event) != 0)
        return -1;
    struct strbuf id = STRBUF_INIT;
    enum frame_status fst = FRAME_OK;
    enum hub_status st = HUB_OK;
    int rc = publish_unique(p, &msg, &id, &fst, &st);
    if (rc == 0)
        rc = answer(p, st, fst, &id, msg.event.data.len);
    strbuf_free(&id);
    return rc;
}

static void publish_fields(struct publish *p)
{
    size_t ntopics;
    struct sse_str *topics = topic_list_from_form(&p->fields, NULL, &ntopics);
    if (!topics) {
        reject(p, "500 Internal Server Error", NULL, "out of memory");
        return;
    }
    enum hub_status st = hub_check_topics(p->app->hub, topics, ntopics);
    if (st != HUB_OK)
        reject(p, "400 Bad Request", NULL, "%s", hub_status_str(st));
    else if (check_permission(p, topics, ntopics) == 0)
        publish_event(p, topics, ntopics);
    free(topics);
}

void publish_serve(FCGX_Request *req, const struct app *app, unsigned long no)
{
    struct publish p = { .req = req, .app = app, .no = no, .fields = FORM_INIT,
                         .grants = JWT_GRANTS_INIT };
    if (check_token(&p) == 0 && collect_fields(&p) == 0)
        publish_fields(&p);
    form_free(&p.fields);
    free(p.body);
    jwt_grants_free(&p.grants);
}
