/*
 * Unit tests for cgi/jwt_auth.c, cgi/access.c and cgi/cors.c. The tokens
 * were made with scripts/make-jwt (openssl), never with the code under
 * test, from the claims in each comment; the verifier gets a fixed "now".
 */
#include "access.h"
#include "cors.h"
#include "jwt_auth.h"
#include "tap.h"

#define KEY "unit-test-key-0123456789abcdefghij"
#define HDR_HS256 "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."

/* {"mercure":{"subscribe":["orders","news"],"publish":["*"]},
 *  "exp":2000000000,"nbf":1000000000} */
#define CLAIMS_GOOD "eyJtZXJjdXJlIjp7InN1YnNjcmliZSI6WyJvcmRlcnMiLCJuZXdzIl0sInB1Ymxpc2giOlsiKiJdfSwiZXhwIjoyMDAwMDAwMDAwLCJuYmYiOjEwMDAwMDAwMDB9"
static const char good[] = HDR_HS256 CLAIMS_GOOD ".bqsrdG3Hc_dA5bpgk5jbqGt4TzjndqRWM6fDj9e35zI";
/* The same, signed with another key. */
static const char other_key[] = HDR_HS256 CLAIMS_GOOD ".P-KS4kjbn8l0BFenIFt3WvSBbdBx-1ws1sAOJlpkMZk";
/* {"mercure":{"subscribe":["*"]}}, header {"alg":"HS512"} signed with KEY. */
static const char hs512[] = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJtZXJjdXJlIjp7InN1YnNjcmliZSI6WyIqIl19fQ.gMVhKidy4h3KyLhhKkV34Ueq9wa_yHYEwXAiibjAtDPbXSegkGEMEvFsOURjXRUWFWfu4P0ASlibViewWJT38Q";
/* The same claims, {"alg":"none"}, no signature. */
static const char alg_none[] = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJtZXJjdXJlIjp7InN1YnNjcmliZSI6WyIqIl19fQ.";
/* {"mercure":{"subscribe":"orders"}}: a string, not a list. */
static const char not_array[] = HDR_HS256 "eyJtZXJjdXJlIjp7InN1YnNjcmliZSI6Im9yZGVycyJ9fQ.GGqJppqVlgsnaU1ZWs4FAMqHCRbwjABR8f8Fx07sx4A";
/* {"exp":"soon","mercure":{"subscribe":["*"]}} */
static const char exp_string[] = HDR_HS256 "eyJleHAiOiJzb29uIiwibWVyY3VyZSI6eyJzdWJzY3JpYmUiOlsiKiJdfX0.NJHRzZpqTsZFb8BY8PHnfyjpLPxj_zMjXvbBjpJBmas";
/* {"sub":"x"}: valid, grants nothing. */
static const char no_mercure[] = HDR_HS256 "eyJzdWIiOiJ4In0.DDMRA7l4wGoCW00Z94bjW099pm5QfxVB-q6whqDF2Jw";

static enum jwt_status verify(const char *token, time_t now, struct jwt_grants *g)
{
    return jwt_auth_verify((const unsigned char *)KEY, sizeof KEY - 1, token, now, g);
}

static void tokens(void)
{
    struct jwt_grants g = JWT_GRANTS_INIT;
    tap_ok(verify(good, 1500000000, &g) == JWT_VALID, "a token signed with the key is valid");
    tap_ok(g.nsubscribe == 2 && jwt_grants_allow(g.subscribe, g.nsubscribe, "orders") &&
           jwt_grants_allow(g.subscribe, g.nsubscribe, "news"),
           "mercure.subscribe grants exactly its topics");
    tap_ok(!jwt_grants_allow(g.subscribe, g.nsubscribe, "order") &&
           !jwt_grants_allow(g.subscribe, g.nsubscribe, "orders2"),
           "a topic not in the list is not granted, not even a prefix");
    tap_ok(jwt_grants_allow(g.publish, g.npublish, "anything"), "\"*\" grants every topic");
    jwt_grants_free(&g);
    tap_ok(verify(good, 2000000000, &g) == JWT_EXPIRED && g.nsubscribe == 0,
           "at exp the token is expired and grants nothing");
    tap_ok(verify(good, 999999999, &g) == JWT_NOT_YET, "before nbf the token is not valid yet");
    tap_ok(verify(other_key, 1500000000, &g) == JWT_MALFORMED, "another key's signature is refused");
    tap_ok(verify(hs512, 1500000000, &g) == JWT_WRONG_ALG,
           "HS512, even signed with the key, is refused: HS256 only");
    tap_ok(verify(alg_none, 1500000000, &g) != JWT_VALID, "an unsigned token (alg none) is refused");
    tap_ok(verify(not_array, 1500000000, &g) == JWT_BAD_CLAIMS, "mercure.subscribe must be a list");
    tap_ok(verify(exp_string, 1500000000, &g) == JWT_BAD_CLAIMS, "exp must be a number");
    tap_ok(verify("abc.def", 1500000000, &g) == JWT_MALFORMED, "garbage is malformed");
    tap_ok(verify(no_mercure, 1500000000, &g) == JWT_VALID && g.nsubscribe == 0 &&
           g.npublish == 0, "a token without the mercure claim grants nothing");
    jwt_grants_free(&g);
    char tampered[sizeof good];
    memcpy(tampered, good, sizeof good);
    tampered[sizeof HDR_HS256 + 3] ^= 1; /* one bit of the claims */
    tap_ok(verify(tampered, 1500000000, &g) != JWT_VALID, "a changed claim breaks the signature");
}

static void private_topics(void)
{
    struct access a = { .private_topics = "orders,user/*", .cookie = "mercureAuthorization" };
    tap_ok(access_topic_private(&a, "orders"), "a listed topic is private");
    tap_ok(!access_topic_private(&a, "orders2") && !access_topic_private(&a, "order"),
           "a name listed exactly covers only itself");
    tap_ok(access_topic_private(&a, "user/42") && access_topic_private(&a, "user/"),
           "name* covers every topic starting with name");
    tap_ok(!access_topic_private(&a, "users") && !access_topic_private(&a, "chat"),
           "other topics stay public");
    a.private_topics = "*";
    tap_ok(access_topic_private(&a, "chat"), "* makes every topic private");
    a.private_topics = "";
    tap_ok(!access_topic_private(&a, "chat"), "none is private by default");
}

static void cookies(void)
{
    char buf[64];
    const char *c = access_cookie("a=1; mercureAuthorization=tok.en; b=2", "mercureAuthorization",
                                  buf, sizeof buf);
    tap_ok(c && strcmp(c, "tok.en") == 0, "the named cookie is found among others");
    tap_ok(!access_cookie("xmercureAuthorization=t", "mercureAuthorization", buf, sizeof buf),
           "a cookie whose name only ends with it is not it");
    tap_ok(!access_cookie(NULL, "m", buf, sizeof buf), "no Cookie header, no token");
    tap_ok(!access_cookie("m=0123456789", "m", buf, 8), "a value too long for the buffer is refused");
}

static void cors(void)
{
    tap_ok(cors_origins_valid("") && cors_origins_valid("*") &&
           cors_origins_valid("http://a.example,https://b.example:8443"),
           "empty, * and exact origins are valid lists");
    tap_ok(!cors_origins_valid("a.example") && !cors_origins_valid("http://a/path") &&
           !cors_origins_valid("http://a,*") && !cors_origins_valid("http://a,"),
           "a host without scheme, a path, * among origins, an empty item are not");
    struct strbuf sb = STRBUF_INIT;
    const char *list = "http://a.example,https://b.example:8443";
    cors_response_headers(&sb, list, "https://b.example:8443");
    tap_bytes("an exact origin is echoed with credentials and Vary", sb.ptr, sb.len,
              "Vary: Origin\r\nAccess-Control-Allow-Origin: https://b.example:8443\r\n"
              "Access-Control-Allow-Credentials: true\r\n");
    strbuf_reset(&sb);
    cors_response_headers(&sb, list, "https://b.example");
    tap_bytes("an origin not listed gets Vary only", sb.ptr, sb.len, "Vary: Origin\r\n");
    strbuf_reset(&sb);
    cors_response_headers(&sb, "*", "http://c.example");
    tap_bytes("* allows any origin, without credentials", sb.ptr, sb.len,
              "Access-Control-Allow-Origin: *\r\n");
    strbuf_reset(&sb);
    cors_response_headers(&sb, "", "http://c.example");
    tap_ok(sb.len == 0, "no list, no CORS headers");
    strbuf_free(&sb);
}

int main(void)
{
    tokens();
    private_topics();
    cookies();
    cors();
    return tap_done();
}
