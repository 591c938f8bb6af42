# A real redis-server for the shared event log tests (--redis), on a free
# loopback port, its files under a test temp dir; and several workers on it
# behind one nginx. Load after common and sse.
# shellcheck shell=bash

# redis_available: redis-server is installed (the tests skip without it).
redis_available() {
    command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1
}

# redis_start DIR [redis-server args...]: Redis on REDIS_PORT (or a free
# port if that is unset, so a restart keeps the address); without snapshots
# or an append-only file unless the args ask for one. Sets REDIS_PORT and
# REDIS_URL. Not registered for bg_stop_all: redis_stop ends it.
redis_start() {
    local dir=$1
    shift
    mkdir -p "$dir"
    REDIS_PORT=${REDIS_PORT:-$("$ROOT/scripts/free-port")}
    REDIS_URL=redis://127.0.0.1:$REDIS_PORT
    export REDIS_PORT REDIS_URL
    BG_UNREGISTERED=1 bg_start "$dir/redis" redis-server --port "$REDIS_PORT" \
        --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" "$@"
    wait_until 10 redis_up
}

# redis_up: Redis answers PING (or asks for the password it was given).
redis_up() {
    [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) =~ ^(PONG|NOAUTH) ]]
}

# redis_stop DIR: SIGTERM (Redis writes its append-only file if it keeps
# one), a bounded wait, then SIGKILL. Safe to call twice.
redis_stop() {
    [[ -f $1/redis.pid ]] || return 0
    bg_stop "$1/redis"
}

# rcli ARGS...: redis-cli on the test's Redis.
rcli() {
    redis-cli -p "$REDIS_PORT" "$@"
}

# start_nginx_for DIR WORKER_ADDR...: nginx on a free port in front of every
# worker (one upstream, a server line each: render-upstream's list). Sets
# HTTP_PORT and BASE_URL.
start_nginx_for() {
    local dir=$1 list
    shift
    list=$(IFS=,; echo "$*")
    HTTP_PORT=$("$ROOT/scripts/free-port")
    export HTTP_PORT BASE_URL="http://127.0.0.1:$HTTP_PORT"
    "$ROOT/scripts/render-nginx-conf" "$dir" "127.0.0.1:$HTTP_PORT" "$list"
    nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/nginx-stderr.log" \
        </dev/null >/dev/null 2>&1 3>&- &
    wait_until 10 curl -sf --max-time 2 -o /dev/null "$BASE_URL/"
}

# start_workers N DIR [worker args...]: N workers (DIR/w1 ... DIR/wN) on the
# test's Redis; their ports go to WORKER_PORTS (an array), in order.
start_workers() {
    local n=$1 dir=$2 i
    shift 2
    WORKER_PORTS=()
    for ((i = 1; i <= n; i++)); do
        WORKER_PORT=
        start_worker "$dir/w$i" --redis "$REDIS_URL" "$@"
        WORKER_PORTS+=("$WORKER_PORT")
    done
}

# restart_worker DIR PORT [worker args...]: the worker in DIR again, on PORT.
restart_worker() {
    local dir=$1
    WORKER_PORT=$2
    shift 2
    start_worker "$dir" --redis "$REDIS_URL" "$@"
}

# worker_stats PORT JQ-FILTER: one value from a worker's /stats, asked
# straight over FastCGI (nginx would pick any worker).
worker_stats() {
    fcgi_request "127.0.0.1:$1" GET /stats | cgi_body /dev/stdin | jq -r "$2"
}

# worker_publish PORT TOPIC DATA: publishes straight to one worker over
# FastCGI (fields in the query string, no body) with the bearer $TOKEN;
# prints the raw CGI response. DATA must not need %-escaping.
worker_publish() {
    timeout 10 env -i "PATH=$PATH" REQUEST_METHOD=POST REQUEST_URI=/publish \
        DOCUMENT_URI=/publish "QUERY_STRING=topic=$2&data=$3" CONTENT_LENGTH=0 \
        "HTTP_AUTHORIZATION=Bearer $TOKEN" SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1 \
        cgi-fcgi -bind -connect "127.0.0.1:$1" </dev/null
}

# worker_publish_id PORT TOPIC DATA: the same; prints only the event's id,
# fails unless the worker took it (no Status line: 200).
worker_publish_id() {
    local response
    response=$(worker_publish "$@")
    ! grep -q '^Status:' <<<"$response" || {
        echo "worker_publish_id: $response" >&2
        return 1
    }
    cgi_body /dev/stdin <<<"$response" | tr -d '\r\n'
}
