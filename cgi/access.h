/*
 * access: who may subscribe to private topics (--private-topics), and the
 * JWT side of publishing. A subscriber shows a token (jwt_auth.h) as
 * "Authorization: Bearer <jwt>" (fetch-based clients) or in a cookie
 * (EventSource, which cannot set headers; --auth-cookie, by default
 * mercureAuthorization like Mercure's hub). Public topics need nothing.
 */
#ifndef SSE_ACCESS_H
#define SSE_ACCESS_H

#include <stddef.h>

#include <fcgiapp.h>

#include "config.h"
#include "form.h"
#include "jwt_auth.h"

struct access {
    unsigned char *key;         /* the HS256 key; NULL: JWTs are not accepted */
    size_t key_len;
    const char *private_topics; /* comma-separated names, "prefix*" or "*" */
    const char *cookie;         /* the cookie that may carry the token */
};

/*
 * The key from SSE_JWT_KEY, else --jwt-key-file. Fails (after logging why)
 * when the key cannot be read, or private topics are set without a key.
 */
int access_init(struct access *a, const struct config *cfg);
void access_fini(struct access *a);

/* Does topic (NUL-terminated) need a token to subscribe to? */
int access_topic_private(const struct access *a, const char *topic);

/*
 * GET /events: may this request subscribe to the topics of its query
 * (?topic=..., or default_topic)? Returns 0 if so; otherwise answers 401
 * (no token, or an invalid one) or 403 (a token that does not grant a
 * topic) with a one-line reason and returns -1.
 */
int access_check_subscribe(FCGX_Request *req, const struct access *a, const struct form *query,
                           const char *default_topic, unsigned long no);

/*
 * The JWT in an "Authorization: Bearer" header value, for /publish: fills
 * grants when it is valid. A worker without a key answers JWT_MALFORMED.
 */
enum jwt_status access_bearer_jwt(const struct access *a, const char *authorization,
                                  struct jwt_grants *grants);

/* The value of cookie name in a Cookie header (NULL if absent), copied into
 * buf (n bytes); NULL as well when it does not fit. */
const char *access_cookie(const char *header, const char *name, char *buf, size_t n);

#endif
