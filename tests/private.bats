#!/usr/bin/env bats
# Private topics (--private-topics) and JSON Web Tokens, as Mercure uses them:
# HS256, claims mercure.subscribe / mercure.publish. The tokens are made by
# scripts/make-jwt with openssl, not by the worker's code.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse
load test_helper/hub

TOKEN=private-token-0123456789
KEY=private-topics-test-key-0123456789abcdef

export SSE_PUBLISH_TOKEN=$TOKEN SSE_JWT_KEY=$KEY
stack_for_file --tick-ms 0 --heartbeat 3600 --private-topics 'orders,user/*'

# jwt CLAIMS [HEADER] [KEY]: a token for CLAIMS (JSON), signed with the key
# of this stack unless KEY is given.
jwt() {
    "$ROOT/scripts/make-jwt" "${3:-$KEY}" "$1" "${2:-{\"alg\":\"HS256\",\"typ\":\"JWT\"\}}"
}

# A token that may subscribe to TOPICS (a JSON list) for ten minutes.
sub_token() {
    jwt "{\"mercure\":{\"subscribe\":$1},\"exp\":$((EPOCHSECONDS + 600))}"
}

# refusal PATH [curl args...]: "STATUS<LF>WWW-Authenticate<LF>BODY" of a
# refused subscription.
refusal() {
    local path=$1 head=$BATS_TEST_TMPDIR/refusal.head body
    shift
    body=$(curl -sS -D "$head" --max-time 5 "$@" "$BASE_URL$path")
    http_status "$head"
    http_header "$head" www-authenticate || echo "(no WWW-Authenticate)"
    echo "$body"
}

@test "a private topic without a token is refused 401, with WWW-Authenticate and the reason" {
    run refusal "/events?topic=orders"
    assert_line --index 0 401
    assert_line --index 1 Bearer
    assert_line --index 2 "unauthorized: a private topic needs a token (Authorization: Bearer, or the cookie mercureAuthorization) (topic 'orders')"
}

@test "a topic under a private prefix (user/*) needs a token too, and the first private one is named" {
    run refusal "/events?topic=chat&topic=user/42"
    assert_line --index 0 401
    assert_line --index 2 --partial "(topic 'user/42')"
}

# stream_status PATH [curl args...]: the HTTP status of a subscription (the
# stream itself is cut after 2 s).
stream_status() {
    local path=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$BASE_URL$path" || true
}

@test "a valid token that does not grant the topic is refused 403" {
    run refusal "/events?topic=orders&topic=user/42" -H "Authorization: Bearer $(sub_token '["orders"]')"
    assert_line --index 0 403
    assert_line --index 1 "(no WWW-Authenticate)"
    assert_line --index 2 "forbidden: the token does not grant subscribing to this topic (topic 'user/42')"
}

@test "an expired token is refused 401 as expired" {
    local t
    t=$(jwt "{\"mercure\":{\"subscribe\":[\"orders\"]},\"exp\":$((EPOCHSECONDS - 5))}")
    run refusal "/events?topic=orders" -H "Authorization: Bearer $t"
    assert_line --index 0 401
    assert_line --index 1 'Bearer error="invalid_token"'
    assert_line --index 2 --partial "expired (exp)"
}

@test "a token not valid yet (nbf) is refused 401" {
    local t
    t=$(jwt "{\"mercure\":{\"subscribe\":[\"orders\"]},\"nbf\":$((EPOCHSECONDS + 600))}")
    run refusal "/events?topic=orders" -H "Authorization: Bearer $t"
    assert_line --index 0 401
    assert_line --index 2 --partial "not valid yet (nbf)"
}

@test "a token signed with another key, or with HS512, or not at all is refused 401" {
    local claims='{"mercure":{"subscribe":["*"]}}'
    run refusal "/events?topic=orders" -H "Authorization: Bearer $(jwt "$claims" '' other-key-0123456789abcdefghijklmnop)"
    assert_line --index 0 401
    assert_line --index 2 --partial "malformed or badly signed"
    run refusal "/events?topic=orders" -H "Authorization: Bearer $(jwt "$claims" '{"alg":"HS512","typ":"JWT"}')"
    assert_line --index 0 401
    assert_line --index 2 --partial "must be signed with HS256"
    run refusal "/events?topic=orders" -H "Authorization: Bearer $(jwt "$claims" '{"alg":"none","typ":"JWT"}')"
    assert_line --index 0 401
}

@test "a valid token streams exactly its topics: the granted private one and public ones, not another private one" {
    local c=$BATS_TEST_TMPDIR/c id1 id2
    sse_client "$c" "$BASE_URL/events?topic=orders&topic=news" \
        -H "Authorization: Bearer $(sub_token '["orders"]')"
    wait_until 10 streams_open 1
    run http_status "$c.head"
    assert_output 200
    publish user/42 "not for this stream" >/dev/null
    id1=$(publish orders "order 1")
    id2=$(publish news "public news")
    wait_until 10 sse_has "$c.out" 2
    run sse_parse "$c.out"
    assert_output "$(printf 'message\t%s\torder 1\nmessage\t%s\tpublic news' "$id1" "$id2")"
}

@test "the token in the mercureAuthorization cookie works as well (EventSource cannot set headers)" {
    local c=$BATS_TEST_TMPDIR/c id
    sse_client "$c" "$BASE_URL/events?topic=user/7" -b "theme=dark; mercureAuthorization=$(sub_token '["user/7"]')"
    wait_until 10 streams_open 1
    id=$(publish user/7 "for user 7")
    wait_until 10 sse_has "$c.out" 1
    run sse_parse "$c.out"
    assert_output "$(printf 'message\t%s\tfor user 7' "$id")"
}

@test "a token granting * subscribes to any private topic; public topics need no token at all" {
    run stream_status "/events?topic=user/9&topic=orders" -H "Authorization: Bearer $(sub_token '["*"]')"
    assert_output 200
    run stream_status "/events?topic=news"
    assert_output 200
}

@test "a replay after Last-Event-ID also needs the token" {
    local first
    first=$(publish orders "replayed")
    run refusal "/events?topic=orders" -H "Last-Event-ID: $first"
    assert_line --index 0 401
}

@test "a JWT publishes to the topics of its mercure.publish, and is refused 403 for others" {
    local t
    t=$(jwt "{\"mercure\":{\"publish\":[\"orders\"]},\"exp\":$((EPOCHSECONDS + 600))}")
    run curl -sS --fail-with-body --max-time 5 -H "Authorization: Bearer $t" \
        -d topic=orders -d data=x "$BASE_URL/publish"
    assert_success
    assert_output --regexp "^${EVENT_ID_RE}\$"
    run curl -sS -w '\n%{http_code}' --max-time 5 -H "Authorization: Bearer $t" \
        -d topic=news -d data=x "$BASE_URL/publish"
    assert_line --index 0 "forbidden: the token does not grant publishing to topic 'news'"
    assert_line --index 1 403
}

@test "an expired JWT on /publish is refused 401 with the reason; the static token still works" {
    local t
    t=$(jwt "{\"mercure\":{\"publish\":[\"*\"]},\"exp\":$((EPOCHSECONDS - 5))}")
    run curl -sS -w '\n%{http_code}' --max-time 5 -H "Authorization: Bearer $t" \
        -d topic=orders -d data=x "$BASE_URL/publish"
    assert_line --index 0 --partial "expired (exp)"
    assert_line --index 1 401
    run publish orders "with the static token"
    assert_success
}

@test "--private-topics without a JWT key: the worker does not start, and says why" {
    run env -u SSE_JWT_KEY "$SSE_WORKER" --listen 127.0.0.1:1 --private-topics orders
    assert_equal "$status" 1
    assert_output --partial "--private-topics needs a JWT key"
}

@test "the key can come from --jwt-key-file" {
    local keyfile=$BATS_TEST_TMPDIR/key
    printf '%s\n' "$KEY" >"$keyfile"
    # Only the file: the environment's key must not be what makes it work.
    SSE_JWT_KEY='' stack_worker_restart --tick-ms 0 --private-topics orders --jwt-key-file "$keyfile"
    run stream_status "/events?topic=orders" -H "Authorization: Bearer $(sub_token '["orders"]')"
    assert_output 200
    run stream_status "/events?topic=orders" -H "Authorization: Bearer $(jwt '{"mercure":{"subscribe":["*"]}}' '' wrong-key-0123456789abcdefghijklmnop)"
    assert_output 401
}

@test "the worker reported no memory error during the private topic tests" {
    stop_worker "$STACK_DIR"
    worker_log_clean "$STACK_DIR"
}
