#!/usr/bin/env bats
# docker-compose.yml for real: both images build from debian:bookworm-slim,
# both services turn healthy, and the page, a live stream and a publish work
# through the published port. Slow (image builds), so not part of `make
# test`: run by scripts/test-docker (`make test-docker`), which provides the
# engine, the base image and these variables, and removes what was built.

bats_require_minimum_version 1.5.0

load ../test_helper/common

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

both_healthy() {
    [[ $(health worker) == healthy && $(health nginx) == healthy ]]
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
    # The worker's check runs every 5 s, nginx starts once it passed, then
    # nginx's own check: healthy within a minute or something is wrong.
    if ! wait_until 90 both_healthy; then
        compose ps >&2
        compose logs --tail 20 >&2
        return 1
    fi
    echo "# both services healthy after $((SECONDS - t)) s" >&3
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
}

@test "both services build from debian:bookworm-slim and report healthy" {
    run health worker
    assert_output healthy
    run health nginx
    assert_output healthy
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
    assert_output --regexp '^[0-9]+$'
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

@test "the worker runs as an unprivileged user" {
    run compose exec -T worker id -u
    assert_success
    refute_output 0
}

@test "neither image carries the publish token" {
    local service id
    for service in worker nginx; do
        id=$(compose images -q "$service")
        [[ -n $id ]]
        run docker image inspect "$id"
        assert_success
        refute_output --partial "$SSE_PUBLISH_TOKEN"
    done
}

# Before the stop test below, which ends the worker.
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

@test "docker stop ends the worker cleanly with status 0" {
    local id
    id=$(compose ps -q worker)
    run compose stop -t 15 worker
    assert_success
    run docker inspect -f '{{.State.ExitCode}}' "$id"
    assert_output 0
}
