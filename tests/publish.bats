#!/usr/bin/env bats
# POST /publish through nginx: fan-out, topics, auth, and every refusal.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse
load test_helper/hub

TOKEN=test-token-0123456789

export SSE_PUBLISH_TOKEN=$TOKEN
stack_for_file --tick-ms 0 --public-topics chat,lobby

# post [curl args...]: POST to /publish (with ?QUERY if PUBLISH_QUERY is
# set); the response head goes to $BATS_TEST_TMPDIR/post.head, the body to
# stdout.
post() {
    curl -sS --max-time 10 -D "$BATS_TEST_TMPDIR/post.head" "$@" \
        "$BASE_URL/publish${PUBLISH_QUERY:+?$PUBLISH_QUERY}"
}

auth() {
    echo "Authorization: Bearer $TOKEN"
}

@test "one publish reaches each of 50 subscribers exactly once, with the same id" {
    local i
    for i in $(seq 1 50); do
        sse_client "$BATS_TEST_TMPDIR/s$i" "$BASE_URL/events?topic=fanout"
    done
    wait_until 20 streams_open 50

    run post -H "$(auth)" -d topic=fanout -d type=note -d 'data=hello, fifty'
    assert_success
    local id=$output
    [[ $id =~ ^${EVENT_ID_RE}$ ]]

    for i in $(seq 1 50); do
        wait_until 10 sse_has "$BATS_TEST_TMPDIR/s$i.out" 1
    done
    # A second publish proves nothing else (no duplicate) was in flight.
    post -H "$(auth)" -d topic=fanout -d data=end >/dev/null
    for i in $(seq 1 50); do
        wait_until 10 sse_has "$BATS_TEST_TMPDIR/s$i.out" 2
        run sse_parse "$BATS_TEST_TMPDIR/s$i.out"
        assert_equal "${#lines[@]}" 2
        assert_line --index 0 "$(printf 'note\t%s\thello, fifty' "$id")"
    done
}

@test "streams get only the topics they subscribed to, in publish order" {
    sse_client "$BATS_TEST_TMPDIR/a" "$BASE_URL/events?topic=t-a"
    sse_client "$BATS_TEST_TMPDIR/b" "$BASE_URL/events?topic=t-b"
    sse_client "$BATS_TEST_TMPDIR/ab" "$BASE_URL/events?topic=t-a&topic=t-b"
    wait_until 20 streams_open 3
    post -H "$(auth)" -d topic=t-a -d data=a1 >/dev/null
    post -H "$(auth)" -d topic=t-b -d data=b1 >/dev/null
    post -H "$(auth)" -d topic=t-c -d data=c1 >/dev/null
    post -H "$(auth)" -d topic=t-a -d topic=t-b -d data=both >/dev/null
    post -H "$(auth)" -d topic=t-a -d data=a2 >/dev/null
    wait_until 10 sse_has "$BATS_TEST_TMPDIR/ab.out" 4

    run data_of "$BATS_TEST_TMPDIR/a.out"
    assert_output "$(printf 'message\t%s\n' a1 both a2)"
    run data_of "$BATS_TEST_TMPDIR/b.out"
    assert_output "$(printf 'message\t%s\n' b1 both)"
    # An event for two of a stream's topics still arrives once.
    run data_of "$BATS_TEST_TMPDIR/ab.out"
    assert_output "$(printf 'message\t%s\n' a1 b1 both a2)"
}

@test "the answer is the event's id as text/plain, and the frame carries that id, the type and the data as published" {
    sse_client "$BATS_TEST_TMPDIR/s" "$BASE_URL/events?topic=shape"
    wait_until 20 streams_open 1
    run post -H "$(auth)" -d topic=shape -d type=order-created --data-urlencode $'data=line one\nline two' -d retry=5000
    assert_success
    local id=$output
    run http_status "$BATS_TEST_TMPDIR/post.head"
    assert_output 200
    run http_header "$BATS_TEST_TMPDIR/post.head" Content-Type
    assert_output --regexp '^text/plain'
    wait_until 10 sse_has "$BATS_TEST_TMPDIR/s.out" 1
    grep -qF -- "$(printf 'event: order-created\nid: %s\nretry: 5000\ndata: line one\ndata: line two\n\n' "$id")" \
        "$BATS_TEST_TMPDIR/s.out"
}

@test "a raw JSON body is the data, with the fields in the query string; a publisher's own id is kept" {
    sse_client "$BATS_TEST_TMPDIR/s" "$BASE_URL/events?topic=raw"
    wait_until 20 streams_open 1
    PUBLISH_QUERY='topic=raw&type=json&id=order-17' \
        run post -H "$(auth)" -H 'Content-Type: application/json' --data-binary '{"n": 1}'
    assert_success
    assert_output order-17
    wait_until 10 sse_has "$BATS_TEST_TMPDIR/s.out" 1
    run sse_parse "$BATS_TEST_TMPDIR/s.out"
    assert_output "$(printf 'json\torder-17\t{"n": 1}')"
}

@test "publishing needs the bearer token, except anonymously to a public topic" {
    run post -d topic=private -d data=x
    assert_output --partial 'bearer token'
    run http_status "$BATS_TEST_TMPDIR/post.head"
    assert_output 401
    run http_header "$BATS_TEST_TMPDIR/post.head" WWW-Authenticate
    assert_output Bearer

    run post -H 'Authorization: Bearer wrong-token-0123456789' -d topic=private -d data=x
    run http_status "$BATS_TEST_TMPDIR/post.head"
    assert_output 401
    # A wrong token is refused even where no token is needed.
    run post -H 'Authorization: Bearer wrong' -d topic=chat -d data=x
    run http_status "$BATS_TEST_TMPDIR/post.head"
    assert_output 401
    run post -H 'Authorization: Basic dXNlcjpwYXNz' -d topic=private -d data=x
    run http_status "$BATS_TEST_TMPDIR/post.head"
    assert_output 401

    run post -H "$(auth)" -d topic=private -d data=x
    assert_success
    run http_status "$BATS_TEST_TMPDIR/post.head"
    assert_output 200
    run post -d topic=chat -d data=anonymous
    run http_status "$BATS_TEST_TMPDIR/post.head"
    assert_output 200
    # Every topic of an anonymous publish must be public.
    run post -d topic=chat -d topic=private -d data=x
    run http_status "$BATS_TEST_TMPDIR/post.head"
    assert_output 401
    # The smaller body limit for anonymous publishes.
    run post -d topic=chat --data-urlencode "data=$(head -c 1500 /dev/zero | tr '\0' x)"
    run http_status "$BATS_TEST_TMPDIR/post.head"
    assert_output 413
    run post -H "$(auth)" -d topic=chat --data-urlencode "data=$(head -c 1500 /dev/zero | tr '\0' x)"
    run http_status "$BATS_TEST_TMPDIR/post.head"
    assert_output 200
}

# refused STATUS CURL-ARGS...: the publish gets STATUS and a one-line body.
refused() {
    local want=$1
    shift
    run post -H "$(auth)" "$@"
    local got
    got=$(http_status "$BATS_TEST_TMPDIR/post.head")
    if [[ $got != "$want" || ${#lines[@]} -ne 1 || -z $output ]]; then
        echo "publish $* answered $got (want $want): $output" >&2
        return 1
    fi
}

@test "every bad publish gets its 4xx with a one-line reason and changes nothing" {
    sse_client "$BATS_TEST_TMPDIR/s" "$BASE_URL/events?topic=bad&topic=chat"
    wait_until 20 streams_open 1
    local published rejected
    published=$(stats_value .published)
    rejected=$(stats_value .publish_rejected)

    refused 400 -d topic=bad -d data=x --data-urlencode $'type=a\nb'
    refused 400 -d topic=bad -d data=x --data-urlencode $'type=a\rb'
    refused 400 -d topic=bad -d data=x -d 'type=a%00b'
    refused 400 -d topic=bad -d data=x --data-urlencode $'id=1\nevent: x'
    refused 400 -d topic=bad -d data=x -d 'id=1%0D'
    refused 400 -d topic=bad -d data=x -d 'id=1%00'
    refused 400 -d topic=bad -d data=x -d id=
    refused 400 -d topic=bad -d data=x -d retry=3s
    refused 400 -d topic=bad -d data=x -d retry=-1
    refused 400 -d topic=bad -d 'data=%FF%FE'
    refused 400 -d topic=bad -d 'data=%C0%AF'
    refused 400 -d topic=bad -d 'type=%E9t%E9' -d data=x
    refused 400 -d topic= -d data=x
    refused 400 -d 'topic=a%20b' -d data=x
    refused 400 -d 'topic=<script>' -d data=x
    refused 400 -d data=no-topic
    refused 400 -d topic=bad -d data=x -d colour=red
    refused 400 -d topic=bad -d data=x -d data=y
    refused 400 -d topic=bad -d 'data=%zz'
    refused 400 -d topic=bad -d type=gap -d data=x
    local -a many=()
    local i
    for i in $(seq 1 17); do
        many+=(-d "topic=t$i")
    done
    refused 400 "${many[@]}" -d data=x
    refused 413 -d topic=bad --data-urlencode "data=$(head -c 70000 /dev/zero | tr '\0' x)"
    PUBLISH_QUERY=topic=bad refused 415 -H 'Content-Type: text/xml' --data-binary '<x/>'
    refused 415 -F topic=bad -F data=x
    run curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$BASE_URL/publish"
    assert_output 405

    # Nothing was published, nothing reached the stream, and all were counted.
    assert_equal "$(stats_value .published)" "$published"
    assert_equal "$(stats_value .publish_rejected)" "$((rejected + 25))"
    run sse_count "$BATS_TEST_TMPDIR/s.out"
    assert_output 0
    # The hub still serves.
    run post -d topic=chat -d data=still-fine
    assert_success
    wait_until 10 sse_has "$BATS_TEST_TMPDIR/s.out" 1
    run sse_parse "$BATS_TEST_TMPDIR/s.out"
    assert_output --partial still-fine
}

@test "scripts/publish publishes with the token from the environment and reports refusals" {
    sse_client "$BATS_TEST_TMPDIR/s" "$BASE_URL/events?topic=script"
    wait_until 20 streams_open 1
    run env SSE_URL="$BASE_URL" SSE_PUBLISH_TOKEN="$TOKEN" "$ROOT/scripts/publish" -t greeting script 'hello from the script'
    assert_success
    local id=$output
    wait_until 10 sse_has "$BATS_TEST_TMPDIR/s.out" 1
    run sse_parse "$BATS_TEST_TMPDIR/s.out"
    assert_output "$(printf 'greeting\t%s\thello from the script' "$id")"

    run env SSE_URL="$BASE_URL" SSE_PUBLISH_TOKEN= "$ROOT/scripts/publish" script x
    assert_failure
    assert_output --partial 'needs a bearer token'
}

@test "only a publisher with the token may set id or retry: an anonymous one gets 403 with a reason, and nothing is published" {
    sse_client "$BATS_TEST_TMPDIR/s" "$BASE_URL/events?topic=lobby"
    wait_until 20 streams_open 1
    local published
    published=$(stats_value .published)

    run post -d topic=lobby -d data=x -d id=forged-1
    assert_equal "$(http_status "$BATS_TEST_TMPDIR/post.head")" 403
    assert_equal "${#lines[@]}" 1
    assert_output --partial 'bearer token'
    run post -d topic=lobby -d data=x -d retry=0
    assert_equal "$(http_status "$BATS_TEST_TMPDIR/post.head")" 403
    PUBLISH_QUERY='topic=lobby&retry=86400000' run post -H 'Content-Type: text/plain' --data-binary x
    assert_equal "$(http_status "$BATS_TEST_TMPDIR/post.head")" 403
    assert_equal "$(stats_value .published)" "$published"

    # The same fields with the token are fine, and so is an anonymous event
    # without them.
    run post -H "$(auth)" -d topic=lobby -d data=own -d id=lobby-own-1 -d retry=4000
    assert_equal "$(http_status "$BATS_TEST_TMPDIR/post.head")" 200
    run post -d topic=lobby -d data=plain
    assert_equal "$(http_status "$BATS_TEST_TMPDIR/post.head")" 200
    wait_until 10 sse_has "$BATS_TEST_TMPDIR/s.out" 2
    run data_of "$BATS_TEST_TMPDIR/s.out"
    assert_output "$(printf 'message\town\nmessage\tplain')"
}

@test "a publisher's id already in the history gets 409, so a reconnect can never resume at the wrong event" {
    run post -H "$(auth)" -d topic=dup -d data=first -d id=dup-1
    assert_equal "$(http_status "$BATS_TEST_TMPDIR/post.head")" 200
    local generated
    generated=$(post -H "$(auth)" -d topic=dup -d data=second)
    local published
    published=$(stats_value .published)

    run post -H "$(auth)" -d topic=dup -d data=again -d id=dup-1
    assert_equal "$(http_status "$BATS_TEST_TMPDIR/post.head")" 409
    assert_equal "${#lines[@]}" 1
    assert_output --partial dup-1
    # Ids of digits only are the hub's own: one could equal an id the hub
    # hands out later, so a publisher's id needs a non-digit.
    run post -H "$(auth)" -d topic=dup -d data=x -d "id=$generated"
    assert_equal "$(http_status "$BATS_TEST_TMPDIR/post.head")" 400
    assert_output --partial 'digits'
    run post -H "$(auth)" -d topic=dup -d data=x -d "id=$((generated + 1000))"
    assert_equal "$(http_status "$BATS_TEST_TMPDIR/post.head")" 400
    assert_equal "$(stats_value .published)" "$published"

    # Resuming after dup-1 gives exactly what followed it.
    sse_client "$BATS_TEST_TMPDIR/r" "$BASE_URL/events?topic=dup" -H 'Last-Event-ID: dup-1'
    wait_until 10 sse_has "$BATS_TEST_TMPDIR/r.out" 1
    run data_of "$BATS_TEST_TMPDIR/r.out"
    assert_output "$(printf 'message\tsecond')"
}

@test "a POST with an empty body takes its fields from the query string, whatever its Content-Type" {
    sse_client "$BATS_TEST_TMPDIR/s" "$BASE_URL/events?topic=chat"
    wait_until 20 streams_open 1
    # curl -X POST without data sends no Content-Type; nginx still passes
    # CONTENT_TYPE, empty.
    PUBLISH_QUERY='topic=chat&data=hi' run post -X POST
    assert_success
    assert_equal "$(http_status "$BATS_TEST_TMPDIR/post.head")" 200
    PUBLISH_QUERY='topic=chat&data=typed' run post -X POST -H 'Content-Type: text/xml'
    assert_equal "$(http_status "$BATS_TEST_TMPDIR/post.head")" 200
    PUBLISH_QUERY='topic=chat&data=form' run post -H "$(auth)" \
        -H 'Content-Type: application/x-www-form-urlencoded' --data-binary ''
    assert_equal "$(http_status "$BATS_TEST_TMPDIR/post.head")" 200
    wait_until 10 sse_has "$BATS_TEST_TMPDIR/s.out" 3
    run data_of "$BATS_TEST_TMPDIR/s.out"
    assert_output "$(printf 'message\thi\nmessage\ttyped\nmessage\tform')"
}
