#include "access.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "response.h"

/* Tokens are short (Mercure's are a few hundred bytes); a cookie value
 * longer than this is not one of ours. It is copied on the stack. */
#define TOKEN_MAX 4096

/* The whole file, less trailing line ends: keys may hold any other byte. */
static int read_key_file(const char *path, unsigned char **key, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        log_error("cannot read JWT key file %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    int too_long = n == sizeof buf && fgetc(f) != EOF;
    int failed = ferror(f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (failed || too_long || n == 0) {
        log_error("JWT key file %s: %s", path,
                  failed ? "read error" : too_long ? "longer than 4 KiB" : "empty");
        return -1;
    }
    if (!(*key = malloc(n))) {
        log_error("out of memory");
        return -1;
    }
    memcpy(*key, buf, n);
    *len = n;
    return 0;
}

int access_init(struct access *a, const struct config *cfg)
{
    *a = (struct access){ .private_topics = cfg->private_topics, .cookie = cfg->auth_cookie };
    const char *env = getenv("SSE_JWT_KEY");
    if (env && *env) {
        a->key_len = strlen(env);
        if (!(a->key = malloc(a->key_len))) {
            log_error("out of memory");
            return -1;
        }
        memcpy(a->key, env, a->key_len);
    } else if (cfg->jwt_key_file && read_key_file(cfg->jwt_key_file, &a->key, &a->key_len)) {
        return -1;
    }
    if (a->private_topics[0] && !a->key) {
        log_error("--private-topics needs a JWT key: --jwt-key-file or SSE_JWT_KEY");
        return -1;
    }
    if (a->key && a->key_len < 32)
        log_warn("the JWT key is %zu bytes: HS256 keys should have at least 32", a->key_len);
    return 0;
}

void access_fini(struct access *a)
{
    free(a->key);
    a->key = NULL;
}

int access_topic_private(const struct access *a, const char *topic)
{
    size_t n = strlen(topic);
    for (const char *s = a->private_topics; *s;) {
        size_t len = strcspn(s, ",");
        int prefix = len > 0 && s[len - 1] == '*';
        size_t cmp = prefix ? len - 1 : len;
        if (prefix ? n >= cmp && strncmp(s, topic, cmp) == 0
                   : len == n && strncmp(s, topic, n) == 0)
            return 1;
        s += len + (s[len] == ',');
    }
    return 0;
}

const char *access_cookie(const char *header, const char *name, char *buf, size_t n)
{
    size_t name_len = strlen(name);
    for (const char *s = header; s && *s;) {
        s += strspn(s, " \t");
        size_t len = strcspn(s, ";");
        if (len > name_len && s[name_len] == '=' && strncmp(s, name, name_len) == 0) {
            size_t vlen = len - name_len - 1;
            while (vlen > 0 && (s[name_len + 1 + vlen - 1] == ' '))
                vlen--;
            if (vlen >= n)
                return NULL;
            memcpy(buf, s + name_len + 1, vlen);
            buf[vlen] = '\0';
            return buf;
        }
        s += len + (s[len] == ';');
    }
    return NULL;
}

/* "Bearer <token>" (scheme case-insensitive): the token, else NULL. */
static const char *bearer(const char *authorization)
{
    static const char scheme[] = "Bearer ";
    if (!authorization || strncasecmp(authorization, scheme, sizeof scheme - 1) != 0)
        return NULL;
    return authorization + sizeof scheme - 1 + strspn(authorization + sizeof scheme - 1, " ");
}

enum jwt_status access_bearer_jwt(const struct access *a, const char *authorization,
                                  struct jwt_grants *grants)
{
    const char *token = bearer(authorization);
    if (!token || !a->key)
        return JWT_MALFORMED;
    return jwt_auth_verify(a->key, a->key_len, token, time(NULL), grants);
}

/* The i-th topic the stream asks for (the default one when it names none);
 * NULL past the last, or for a name with a NUL byte (refused later anyway). */
static const char *requested(const struct form *query, const char *default_topic, size_t i)
{
    size_t n = form_count(query, "topic");
    if (n == 0)
        return i == 0 ? default_topic : NULL;
    const struct form_field *f = form_get(query, "topic", i);
    if (!f)
        return NULL;
    return strlen(f->value) == f->value_len ? f->value : "";
}

static const char *first_private(const struct access *a, const struct form *query,
                                 const char *default_topic)
{
    const char *topic;
    for (size_t i = 0; (topic = requested(query, default_topic, i)); i++)
        if (access_topic_private(a, topic))
            return topic;
    return NULL;
}

static int refuse(FCGX_Request *req, unsigned long no, const char *status, const char *extra,
                  const char *reason, const char *topic)
{
    char line[300];
    snprintf(line, sizeof line, "%s (topic '%.128s')", reason, topic);
    log_info("stream %lu: %.3s %s", no, status, line);
    response_line(req->out, status, extra, line);
    return -1;
}

/* Every private topic requested must be granted by mercure.subscribe. */
static int check_grants(FCGX_Request *req, const struct access *a, const struct form *query,
                        const char *default_topic, const struct jwt_grants *g, unsigned long no)
{
    const char *topic;
    for (size_t i = 0; (topic = requested(query, default_topic, i)); i++)
        if (access_topic_private(a, topic) &&
            !jwt_grants_allow(g->subscribe, g->nsubscribe, topic))
            return refuse(req, no, "403 Forbidden", NULL,
                          "forbidden: the token does not grant subscribing to this topic",
                          topic);
    return 0;
}

int access_check_subscribe(FCGX_Request *req, const struct access *a, const struct form *query,
                           const char *default_topic, unsigned long no)
{
    const char *topic = first_private(a, query, default_topic);
    if (!topic)
        return 0;
    char buf[TOKEN_MAX];
    const char *token = bearer(FCGX_GetParam("HTTP_AUTHORIZATION", req->envp));
    if (!token)
        token = access_cookie(FCGX_GetParam("HTTP_COOKIE", req->envp), a->cookie, buf, sizeof buf);
    if (!token || !*token) {
        char reason[200];
        snprintf(reason, sizeof reason, "unauthorized: a private topic needs a token "
                 "(Authorization: Bearer, or the cookie %.64s)", a->cookie);
        return refuse(req, no, "401 Unauthorized", "WWW-Authenticate: Bearer\r\n", reason, topic);
    }
    struct jwt_grants g = JWT_GRANTS_INIT;
    enum jwt_status st = jwt_auth_verify(a->key, a->key_len, token, time(NULL), &g);
    int rc;
    if (st == JWT_NO_MEMORY)
        rc = refuse(req, no, "503 Service Unavailable", "Retry-After: 5\r\n",
                    jwt_status_str(st), topic);
    else if (st != JWT_VALID)
        rc = refuse(req, no, "401 Unauthorized",
                    "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n",
                    jwt_status_str(st), topic);
    else
        rc = check_grants(req, a, query, default_topic, &g, no);
    jwt_grants_free(&g);
    return rc;
}
