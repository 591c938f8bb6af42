#!/usr/bin/env bats
# docker-compose.yml for real: every image builds from debian:bookworm-slim,
# every service (redis, worker1, worker2, nginx) turns healthy, the page, a
# live stream and a publish work through the published port, an event
# published through nginx reaches the streams on both workers, and a client
# whose worker was killed resumes on the other with nothing lost. Slow
# (image builds), so not part of `make test`: run by scripts/test-docker
# (`make test-docker`), which provides the engine, the base image and these
# variables, and removes what was built.

bats_require_minimum_version 1.5.0

load ../test_helper/common
load ../test_helper/sse

# Every service of the file; the workers share the log in redis.
SERVICES=(redis worker1 worker2 nginx)

# compose ARGS...: the compose command on this repository's file, with the
# settings file scripts/test-docker wrote (so a user's .env is not read).
compose() {
    local cmd
    read -ra cmd <<<"$SSE_COMPOSE"
    "${cmd[@]}" --env-file "$SSE_COMPOSE_ENV_FILE" -f "$ROOT/docker-compose.yml" "$@"
}

# health SERVICE: the health status of the service's container.
health() {
    local id
    id=$(compose ps -q "$1")
    [[ -n $id ]] && docker inspect -f '{{.State.Health.Status}}' "$id"
}

all_healthy() {
    local service
    for service in "${SERVICES[@]}"; do
        [[ $(health "$service") == healthy ]] || return 1
    done
}

# worker_stats SERVICE: that worker's own /stats (JSON), asked over FastCGI
# inside its container: through nginx one cannot choose the worker.
worker_stats() {
    compose exec -T "$1" sh -c \
        'REQUEST_METHOD=GET DOCUMENT_URI=/stats cgi-fcgi -bind -connect 127.0.0.1:9000' |
        sed -n '/^{/p'
}

# stat_of SERVICE JQ-FILTER: one value of that worker's /stats.
stat_of() {
    worker_stats "$1" | jq -r "$2"
}

# streams_on SERVICE: how many streams that worker holds.
streams_on() {
    stat_of "$1" .streams
}

# streams_total N: the two workers hold N streams together (for wait_until).
streams_total() {
    (($(streams_on worker1) + $(streams_on worker2) == $1))
}

# publish_check TOPIC DATA: publishes an event of type `check` through
# nginx with the token; prints its id.
publish_check() {
    curl -sS --fail-with-body --max-time 30 -H "Authorization: Bearer $SSE_PUBLISH_TOKEN" \
        -d "topic=$1" -d type=check --data-urlencode "data=$2" "$BASE_URL/publish"
}

# checks_of PREFIX: "ID<TAB>DATA" of each `check` event a client got.
checks_of() {
    sse_parse "$1.out" | awk -F '\t' '$1 == "check" { print $2 "\t" $3 }'
}

# all_have N PREFIX...: each client got at least N `check` events.
all_have() {
    local n=$1 prefix
    shift
    for prefix; do
        sse_has "$prefix.out" "$n" check || return 1
    done
}

# open_clients TOPIC N: N streams of TOPIC through nginx, as clients
# $BATS_TEST_TMPDIR/c1..cN, each with its first bytes (retry) in.
open_clients() {
    local i
    for ((i = 1; i <= $2; i++)); do
        SSE_MAX_TIME=120 sse_client "$BATS_TEST_TMPDIR/c$i" "$BASE_URL/events?topic=$1"
    done
    for ((i = 1; i <= $2; i++)); do
        wait_until 10 grep -q '^retry:' "$BATS_TEST_TMPDIR/c$i.out"
    done
}

# Run directly (not by scripts/test-docker) every test is skipped.
by_test_docker() {
    [[ -n ${SSE_COMPOSE_ENV_FILE:-} && -n ${COMPOSE_PROJECT_NAME:-} ]]
}

setup() {
    by_test_docker || skip "needs the engine and settings of scripts/test-docker: run make test-docker"
}

setup_file() {
    by_test_docker || return 0
    BASE_URL=http://$SSE_HTTP_PORT
    export BASE_URL
    local t=$SECONDS
    if ! compose up -d --build >>"$SSE_COMPOSE_LOG" 2>&1; then
        tail -n 40 "$SSE_COMPOSE_LOG" >&2
        return 1
    fi
    echo "# compose up -d --build: $((SECONDS - t)) s" >&3
    t=$SECONDS
    # Redis' check runs every 5 s, the workers start once it passed, then
    # theirs, then nginx and its own: healthy within two minutes or
    # something is wrong.
    if ! wait_until 120 all_healthy; then
        compose ps >&2
        compose logs --tail 20 >&2
        return 1
    fi
    echo "# all services healthy after $((SECONDS - t)) s" >&3
}

teardown_file() {
    if [[ -n ${BG_PID:-} ]]; then
        kill "$BG_PID" 2>/dev/null || true
    fi
    if by_test_docker; then
        compose down --rmi local -v >>"$SSE_COMPOSE_LOG" 2>&1 || true
    fi
}

teardown() {
    if [[ -n ${BG_PID:-} ]]; then
        kill "$BG_PID" 2>/dev/null || true
        wait "$BG_PID" 2>/dev/null || true
        BG_PID=""
    fi
    by_test_docker || return 0
    bg_stop_all
}

@test "every service builds from debian:bookworm-slim and reports healthy" {
    local service
    for service in "${SERVICES[@]}"; do
        run health "$service"
        assert_output healthy
    done
}

@test "the published port serves the page" {
    run curl -sS --fail --max-time 5 "$BASE_URL/"
    assert_success
    assert_output --partial 'app.js'
    run curl -sS --fail --max-time 5 -o /dev/null -w '%{content_type}' "$BASE_URL/app.js"
    assert_output --partial 'javascript'
}

@test "a stream through the published port gets a tick event within a few seconds" {
    run curl -sSN --max-time 4 -D "$BATS_TEST_TMPDIR/head" "$BASE_URL/events"
    # curl ends the endless stream at --max-time: status 28 is expected.
    assert_equal "$status" 28
    assert_line 'event: tick'
    assert_line --regexp '^data: \{"time":"[^"]+","seq":[0-9]+'
    run grep -i '^content-type: text/event-stream' "$BATS_TEST_TMPDIR/head"
    assert_success
}

@test "a publish with the token from the environment reaches an open stream" {
    local out=$BATS_TEST_TMPDIR/stream
    curl -sSN --max-time 20 "$BASE_URL/events?topic=deploy-check" >"$out" 2>&1 3>&- &
    BG_PID=$!
    wait_until 10 grep -q '^retry:' "$out"
    run curl -sS --fail-with-body --max-time 5 \
        -H "Authorization: Bearer $SSE_PUBLISH_TOKEN" \
        -d topic=deploy-check -d type=greeting -d 'data=hello from compose' \
        "$BASE_URL/publish"
    assert_success
    # A Redis stream id (ms-seq): the event went through the shared log.
    assert_output --regexp '^[0-9]+-[0-9]+$'
    wait_until 5 grep -q '^data: hello from compose$' "$out"
    run grep -x 'event: greeting' "$out"
    assert_success
}

@test "a publish without the token is refused for a private topic and taken for the public one" {
    run curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
        -d topic=deploy-check -d data=x "$BASE_URL/publish"
    assert_output 401
    run curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
        -d topic=chat -d data=x "$BASE_URL/publish"
    assert_output 200
}

@test "/stats is refused through the published port" {
    run curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$BASE_URL/stats"
    assert_output 403
}

@test "the workers and redis run as unprivileged users" {
    local service
    for service in worker1 worker2 redis; do
        run compose exec -T "$service" id -u
        assert_success
        refute_output 0
    done
}

@test "no image carries the publish token" {
    local service id
    for service in "${SERVICES[@]}"; do
        id=$(compose images -q "$service")
        [[ -n $id ]]
        run docker image inspect "$id"
        assert_success
        refute_output --partial "$SSE_PUBLISH_TOKEN"
    done
}

# Before the kill and stop tests below, which end the workers.
@test "the HTTPS port serves the page and a stream over HTTP/2 with the certificate made at start" {
    local https=https://$SSE_HTTPS_PORT head=$BATS_TEST_TMPDIR/head
    # -k: the certificate is the self-signed one the image made; its name
    # is checked below instead.
    run curl -sS -k --http2 --fail --max-time 5 -D "$head" "$https/"
    assert_success
    assert_output --partial 'app.js'
    run head -n 1 "$head"
    assert_output --regexp '^HTTP/2 200'
    run curl -sSN -k --http2 --max-time 4 -D "$head" "$https/events"
    assert_equal "$status" 28
    assert_line 'event: tick'
    run grep -i '^connection:' "$head"
    assert_failure
    run compose exec -T nginx openssl x509 -in /etc/nginx/tls/localhost.crt -noout -ext subjectAltName
    assert_output --partial 'DNS:localhost'
}

@test "streams spread over both workers, and an event published through nginx reaches each with one id" {
    local i n=10 id
    # Streams of the earlier tests are gone (the workers see hang-ups at once).
    wait_until 15 streams_total 0
    open_clients spread-check "$n"
    wait_until 10 streams_total "$n"
    # nginx's upstream takes turns: neither worker is left out.
    (($(streams_on worker1) > 0))
    (($(streams_on worker2) > 0))
    id=$(publish_check spread-check 'to every worker')
    local clients=()
    for ((i = 1; i <= n; i++)); do
        clients+=("$BATS_TEST_TMPDIR/c$i")
    done
    wait_until 10 all_have 1 "${clients[@]}"
    for ((i = 1; i <= n; i++)); do
        run checks_of "$BATS_TEST_TMPDIR/c$i"
        assert_output "$id"$'\t''to every worker'
    done
}

@test "both workers follow the log in redis, which holds the published events" {
    local service
    for service in worker1 worker2; do
        run stat_of "$service" .broker.state
        assert_output connected
    done
    run compose exec -T redis redis-cli XLEN sse:events
    assert_success
    ((output > 0))
}

# Before the stop test below; after it worker1 is gone (restart
# unless-stopped does not bring back a killed container).
@test "killing a worker loses nothing for a client that resumes through nginx with Last-Event-ID" {
    local i n=8 on1 ended=() live=() id_a id_b id_c last prefix
    # The previous test's streams are gone (the workers see hang-ups at once).
    wait_until 15 streams_total 0
    open_clients resume-check "$n"
    wait_until 10 streams_total "$n"
    on1=$(streams_on worker1)
    # Some clients on each: some lose their worker, some keep theirs.
    ((on1 > 0 && on1 < n))
    id_a=$(publish_check resume-check A)
    for ((i = 1; i <= n; i++)); do
        wait_until 10 all_have 1 "$BATS_TEST_TMPDIR/c$i"
    done

    run compose kill worker1
    assert_success
    # nginx ends the responses of exactly the streams worker1 held.
    count_ended() {
        local k e=0
        for ((k = 1; k <= n; k++)); do
            bg_running "$BATS_TEST_TMPDIR/c$k" || e=$((e + 1))
        done
        ((e == on1))
    }
    wait_until 15 count_ended
    for ((i = 1; i <= n; i++)); do
        if bg_running "$BATS_TEST_TMPDIR/c$i"; then
            live+=("$BATS_TEST_TMPDIR/c$i")
        else
            ended+=("$BATS_TEST_TMPDIR/c$i")
        fi
    done

    # Published while those clients are away, through nginx to worker2.
    id_b=$(publish_check resume-check B)
    id_c=$(publish_check resume-check C)
    wait_until 10 all_have 3 "${live[@]}"

    # Each client that was cut off comes back as a browser would: through
    # nginx (now to worker2) with the id of the last event it got.
    local resumed=()
    for ((i = 0; i < ${#ended[@]}; i++)); do
        last=$(checks_of "${ended[i]}" | tail -n 1 | cut -f1)
        assert_equal "$last" "$id_a"
        SSE_MAX_TIME=60 sse_client "${ended[i]}-again" "$BASE_URL/events?topic=resume-check" \
            -H "Last-Event-ID: $last"
        resumed+=("${ended[i]}-again")
    done
    wait_until 15 all_have 2 "${resumed[@]}"

    # Every client ends with A, B, C exactly once, with the same ids, and
    # no gap event.
    local expected
    expected=$(printf '%s\tA\n%s\tB\n%s\tC' "$id_a" "$id_b" "$id_c")
    for prefix in "${live[@]}"; do
        run checks_of "$prefix"
        assert_output "$expected"
        assert_equal "$(sse_count "$prefix.out" gap)" 0
    done
    for prefix in "${ended[@]}"; do
        assert_equal "$( (checks_of "$prefix"; checks_of "$prefix-again") )" "$expected"
        assert_equal "$(sse_count "$prefix-again.out" gap)" 0
    done
}

@test "docker stop ends a worker cleanly with status 0" {
    local id
    id=$(compose ps -q worker2)
    run compose stop -t 15 worker2
    assert_success
    run docker inspect -f '{{.State.ExitCode}}' "$id"
    assert_output 0
}
