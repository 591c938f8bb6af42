#include "router.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "array_len.h"
#include "cors.h"
#include "log.h"
#include "publish.h"
#include "response.h"
#include "stream.h"

/* nginx sends DOCUMENT_URI (the path, no query); plain CGI clients may not. */
static const char *request_path(FCGX_Request *req, char *buf, size_t n)
{
    const char *p = FCGX_GetParam("DOCUMENT_URI", req->envp);
    if (!p)
        p = FCGX_GetParam("SCRIPT_NAME", req->envp);
    if (p)
        return p;
    p = FCGX_GetParam("REQUEST_URI", req->envp);
    if (!p)
        return "";
    size_t len = strcspn(p, "?");
    if (len >= n)
        len = n - 1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    return buf;
}

static int serve_stats(FCGX_Request *req, const struct app *app, int prometheus)
{
    struct strbuf body = STRBUF_INIT;
    int rc = prometheus ? stats_prometheus(&body, app->stats, app->hub, app->broker)
                        : stats_json(&body, app->stats, app->hub, app->broker);
    if (rc != 0)
        response_line(req->out, "500 Internal Server Error", NULL, "out of memory");
    else if (prometheus)
        response_body(req->out, "text/plain; version=0.0.4; charset=utf-8", body.ptr, body.len);
    else
        response_body(req->out, "application/json", body.ptr, body.len);
    strbuf_free(&body);
    return 0;
}

/* Pages on other origins (cors.h): preflights are answered here; other
 * answers of /events and /publish get their CORS lines first. */
static int serve_cors(FCGX_Request *req, const struct app *app, const char *path,
                      unsigned long no)
{
    int events = strcmp(path, "/events") == 0;
    if (!events && strcmp(path, "/publish") != 0)
        return 0;
    if (cors_preflight(req, app->cfg->cors_origins, events ? "GET" : "POST", no))
        return 1;
    cors_write_headers(req, app->cfg->cors_origins);
    return 0;
}

static int serve_json_stats(FCGX_Request *req, const struct app *app, unsigned long no)
{
    (void)no;
    return serve_stats(req, app, 0);
}

static int serve_metrics(FCGX_Request *req, const struct app *app, unsigned long no)
{
    (void)no;
    return serve_stats(req, app, 1);
}

static int serve_publish(FCGX_Request *req, const struct app *app, unsigned long no)
{
    publish_serve(req, app, no);
    return 0;
}

/* A 405 on /publish is a refused publish, and /stats counts those. */
static atomic_ullong *publish_refusals(const struct app *app)
{
    return &app->stats->publish_rejected;
}

struct route {
    const char *path;
    const char *methods; /* the only ones answered, as the Allow header lists them */
    int (*serve)(FCGX_Request *req, const struct app *app, unsigned long no);
    atomic_ullong *(*refusals)(const struct app *app); /* what a 405 counts in, or NULL */
};

static const struct route routes[] = {
    { "/events", "GET, HEAD", stream_serve, NULL },
    { "/publish", "POST", serve_publish, publish_refusals },
    { "/stats", "GET", serve_json_stats, NULL },
    { "/metrics", "GET", serve_metrics, NULL },
};

/* Is method one of the comma-separated names in methods ("GET, HEAD")? */
static int method_allowed(const char *methods, const char *method)
{
    size_t len = strlen(method);
    for (const char *m = methods; *m; m += strspn(m, ", ")) {
        size_t n = strcspn(m, ",");
        if (n == len && strncmp(m, method, len) == 0)
            return 1;
        m += n;
    }
    return 0;
}

static const struct route *find_route(const char *path)
{
    for (size_t i = 0; i < ARRAY_LEN(routes); i++)
        if (strcmp(path, routes[i].path) == 0)
            return &routes[i];
    return NULL;
}

int router_serve(FCGX_Request *req, const struct app *app, unsigned long no)
{
    char buf[256];
    const char *path = request_path(req, buf, sizeof buf);
    if (serve_cors(req, app, path, no))
        return 0;
    const struct route *route = find_route(path);
    if (!route) {
        log_info("request %lu: 404 for %.200s", no, path);
        response_line(req->out, "404 Not Found", NULL,
                      "not found: this worker serves /events, /publish, /stats, /metrics");
        return 0;
    }
    const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
    if (!method || !method_allowed(route->methods, method)) {
        char allow[64], reason[128];
        log_info("request %lu: 405 for %.16s %s", no, method ? method : "?", route->path);
        if (route->refusals)
            atomic_fetch_add(route->refusals(app), 1);
        snprintf(allow, sizeof allow, "Allow: %s\r\n", route->methods);
        snprintf(reason, sizeof reason, "method not allowed: %s only answers %s", route->path,
                 route->methods);
        response_line(req->out, "405 Method Not Allowed", allow, reason);
        return 0;
    }
    return route->serve(req, app, no);
}
