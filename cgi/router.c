#include "router.h"

#include <string.h>

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

static void serve_stats(FCGX_Request *req, const struct app *app, int prometheus)
{
    const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
    if (!method || strcmp(method, "GET") != 0) {
        response_line(req->out, "405 Method Not Allowed", "Allow: GET\r\n",
                      "method not allowed: only GET");
        return;
    }
    struct strbuf body = STRBUF_INIT;
    int rc = prometheus ? stats_prometheus(&body, app->stats, app->hub)
                        : stats_json(&body, app->stats, app->hub);
    if (rc != 0)
        response_line(req->out, "500 Internal Server Error", NULL, "out of memory");
    else if (prometheus)
        response_body(req->out, "text/plain; version=0.0.4; charset=utf-8", body.ptr, body.len);
    else
        response_body(req->out, "application/json", body.ptr, body.len);
    strbuf_free(&body);
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

int router_is_quick(FCGX_Request *req)
{
    char buf[256];
    const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
    return method && strcmp(method, "GET") == 0 &&
           strcmp(request_path(req, buf, sizeof buf), "/events") == 0;
}

int router_serve(FCGX_Request *req, const struct app *app, unsigned long no)
{
    char buf[256];
    const char *path = request_path(req, buf, sizeof buf);
    if (serve_cors(req, app, path, no))
        return 0;
    if (strcmp(path, "/events") == 0)
        return stream_serve(req, app, no);
    if (strcmp(path, "/publish") == 0) {
        publish_serve(req, app, no);
    } else if (strcmp(path, "/stats") == 0 || strcmp(path, "/metrics") == 0) {
        serve_stats(req, app, path[1] == 'm');
    } else {
        log_info("request %lu: 404 for %.200s", no, path);
        response_line(req->out, "404 Not Found", NULL,
                      "not found: this worker serves /events, /publish, /stats, /metrics");
    }
    return 0;
}
