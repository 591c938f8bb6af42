/* Unit tests for cgi/auth.c: the publish bearer token. */
#include "auth.h"
#include "tap.h"

static void bearer(void)
{
    tap_ok(auth_bearer_ok("Bearer s3cret", "s3cret"), "the right bearer token is accepted");
    tap_ok(auth_bearer_ok("bearer s3cret", "s3cret"), "the scheme is case-insensitive");
    tap_ok(!auth_bearer_ok("Bearer s3cre", "s3cret"), "a prefix of the token is refused");
    tap_ok(!auth_bearer_ok("Bearer s3cretX", "s3cret"), "a longer token is refused");
    tap_ok(!auth_bearer_ok("Basic s3cret", "s3cret"), "another scheme is refused");
    tap_ok(!auth_bearer_ok("Bearer ", ""), "an empty configured token matches nothing");
    tap_ok(!auth_bearer_ok("Bearer x", NULL), "no configured token matches nothing");
}

int main(void)
{
    bearer();
    return tap_done();
}
