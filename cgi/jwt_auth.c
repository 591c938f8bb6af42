#include "jwt_auth.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Longer "tokens" are refused before libjwt sees them: a header is not the
 * place for megabytes, and nginx caps headers far below this anyway. */
#define JWT_MAX_LEN 8192

const char *jwt_status_str(enum jwt_status st)
{
    switch (st) {
    case JWT_VALID: return "valid token";
    case JWT_MALFORMED: return "invalid token: malformed or badly signed";
    case JWT_WRONG_ALG: return "invalid token: it must be signed with HS256";
    case JWT_BAD_CLAIMS: return "invalid token: exp, nbf or mercure claim of the wrong type";
    case JWT_EXPIRED: return "invalid token: expired (exp)";
    case JWT_NOT_YET: return "invalid token: not valid yet (nbf)";
    case JWT_NO_MEMORY: return "out of memory";
    }
    return "?";
}

void jwt_grants_free(struct jwt_grants *g)
{
    for (size_t i = 0; i < g->nsubscribe; i++)
        free(g->subscribe[i]);
    for (size_t i = 0; i < g->npublish; i++)
        free(g->publish[i]);
    free(g->subscribe);
    free(g->publish);
    *g = (struct jwt_grants)JWT_GRANTS_INIT;
}

int jwt_grants_allow(char *const *list, size_t n, const char *topic)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], "*") == 0 || strcmp(list[i], topic) == 0)
            return 1;
    return 0;
}

/* A time claim: absent is fine, present it must be a number (RFC 7519). */
static int time_claim(json_t *claims, const char *name, double *out, int *present)
{
    json_t *v = json_object_get(claims, name);
    *present = v != NULL;
    if (!v)
        return 0;
    if (!json_is_number(v))
        return -1;
    *out = json_number_value(v);
    return 0;
}

static enum jwt_status check_times(json_t *claims, time_t now)
{
    double exp = 0, nbf = 0;
    int has_exp, has_nbf;
    if (time_claim(claims, "exp", &exp, &has_exp) != 0 ||
        time_claim(claims, "nbf", &nbf, &has_nbf) != 0)
        return JWT_BAD_CLAIMS;
    /* RFC 7519: not accepted on or after exp, nor before nbf. No leeway:
     * the worker and the token issuer are expected to keep time. */
    if (has_exp && (double)now >= exp)
        return JWT_EXPIRED;
    if (has_nbf && (double)now < nbf)
        return JWT_NOT_YET;
    return JWT_VALID;
}

/* mercure.<name>: absent means none; otherwise an array of strings. */
static enum jwt_status topic_list(json_t *mercure, const char *name, char ***out, size_t *n)
{
    json_t *list = mercure ? json_object_get(mercure, name) : NULL;
    if (!list)
        return JWT_VALID;
    if (!json_is_array(list))
        return JWT_BAD_CLAIMS;
    size_t count = json_array_size(list);
    *out = calloc(count ? count : 1, sizeof **out);
    if (!*out)
        return JWT_NO_MEMORY;
    for (size_t i = 0; i < count; i++) {
        const char *s = json_string_value(json_array_get(list, i));
        if (!s)
            return JWT_BAD_CLAIMS;
        if (!((*out)[i] = strdup(s)))
            return JWT_NO_MEMORY;
        *n = i + 1;
    }
    return JWT_VALID;
}

static enum jwt_status read_claims(jwt_t *jwt, time_t now, struct jwt_grants *g)
{
    char *text = jwt_get_grants_json(jwt, NULL);
    if (!text)
        return errno == ENOMEM ? JWT_NO_MEMORY : JWT_MALFORMED;
    json_t *claims = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_object(claims)) {
        json_decref(claims);
        return JWT_MALFORMED;
    }
    enum jwt_status st = check_times(claims, now);
    json_t *mercure = json_object_get(claims, "mercure");
    if (st == JWT_VALID && mercure && !json_is_object(mercure))
        st = JWT_BAD_CLAIMS;
    if (st == JWT_VALID)
        st = topic_list(mercure, "subscribe", &g->subscribe, &g->nsubscribe);
    if (st == JWT_VALID)
        st = topic_list(mercure, "publish", &g->publish, &g->npublish);
    json_decref(claims);
    if (st != JWT_VALID)
        jwt_grants_free(g);
    return st;
}

enum jwt_status jwt_auth_verify(const unsigned char *key, size_t key_len, const char *token,
                                time_t now, struct jwt_grants *grants)
{
    if (!key || key_len == 0 || key_len > INT_MAX || strlen(token) > JWT_MAX_LEN)
        return JWT_MALFORMED;
    jwt_t *jwt = NULL;
    /* With a key, libjwt only succeeds when the signature matches the
     * algorithm the token's header names; that must then be HS256 exactly,
     * or a token could pick "none" or another algorithm for itself. */
    int err = jwt_decode(&jwt, token, key, (int)key_len);
    if (err != 0)
        return err == ENOMEM ? JWT_NO_MEMORY : JWT_MALFORMED;
    enum jwt_status st = jwt_get_alg(jwt) == JWT_ALG_HS256 ? read_claims(jwt, now, grants)
                                                           : JWT_WRONG_ALG;
    jwt_free(jwt);
    return st;
}
