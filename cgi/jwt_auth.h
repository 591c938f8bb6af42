/*
 * jwt_auth: JSON Web Tokens as Mercure uses them. A token is signed with
 * HS256 and a shared key; its claim "mercure" lists the topics it may
 * subscribe to and publish to ({"mercure": {"subscribe": ["a", "b"],
 * "publish": ["*"]}}, "*" meaning every topic). libjwt checks the format
 * and the signature, jansson reads the claims; this module adds the rules
 * libjwt 1.10 leaves to its caller: the algorithm, exp and nbf.
 */
#ifndef SSE_JWT_AUTH_H
#define SSE_JWT_AUTH_H

#include <stddef.h>
#include <time.h>

enum jwt_status {
    JWT_VALID = 0,
    JWT_MALFORMED,    /* not a JWT, or a bad signature */
    JWT_WRONG_ALG,    /* signed with anything but HS256 (or not at all) */
    JWT_BAD_CLAIMS,   /* exp, nbf or mercure of the wrong JSON type */
    JWT_EXPIRED,      /* now >= exp */
    JWT_NOT_YET,      /* now < nbf */
    JWT_NO_MEMORY,
};

/* The topics a valid token grants; owned, freed with jwt_grants_free. */
struct jwt_grants {
    char **subscribe;
    size_t nsubscribe;
    char **publish;
    size_t npublish;
};

#define JWT_GRANTS_INIT { NULL, 0, NULL, 0 }

/*
 * Verifies token (NUL-terminated) with key at time now. On JWT_VALID fills
 * grants (which must be empty); otherwise leaves them empty.
 */
enum jwt_status jwt_auth_verify(const unsigned char *key, size_t key_len, const char *token,
                                time_t now, struct jwt_grants *grants);

/* The one-line reason for a status, for 401 answers and logs. */
const char *jwt_status_str(enum jwt_status st);

/* Does a granted list (from jwt_grants) hold topic, or "*"? */
int jwt_grants_allow(char *const *list, size_t n, const char *topic);

void jwt_grants_free(struct jwt_grants *grants);

#endif
