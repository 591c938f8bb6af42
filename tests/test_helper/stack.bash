# A worker and an nginx on free loopback ports, state under a test temp dir.
# A test file gets one stack for all its tests with stack_for_file (below).
# shellcheck shell=bash

# The worker under test: the ASan/UBSan build, so memory errors fail tests.
: "${SSE_WORKER:=$ROOT/.build/asan/sse-worker}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:exitcode=23}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# start_worker DIR [worker args...]: the worker on WORKER_PORT, or on a free
# port if that is unset (so starting it again after stop_worker keeps nginx
# pointing at it); sets WORKER_PORT and WORKER_PID. Its pid goes to
# DIR/worker.pid, its exit status (once it ends) to DIR/worker.exit, stderr
# to DIR/worker.log.
start_worker() {
    local dir=$1
    shift
    mkdir -p "$dir"
    rm -f "$dir/worker.exit" "$dir/worker.pid"
    WORKER_PORT=${WORKER_PORT:-$("$ROOT/scripts/free-port")}
    export WORKER_PORT
    (
        "$SSE_WORKER" --listen "127.0.0.1:$WORKER_PORT" "$@" 2>>"$dir/worker.log" &
        echo $! >"$dir/worker.pid"
        # Under bats' errexit a bare `wait` would end this subshell on a
        # non-zero status before the status is written.
        status=0
        wait $! || status=$?
        echo "$status" >"$dir/worker.exit"
    ) </dev/null >/dev/null 3>&- &
    wait_until 10 worker_ready "$dir"
    [[ ! -f $dir/worker.exit ]] || {
        echo "start_worker: the worker exited with $(cat "$dir/worker.exit"):" >&2
        tail -n 5 "$dir/worker.log" >&2
        return 1
    }
    WORKER_PID=$(cat "$dir/worker.pid")
    export WORKER_PID
}

# worker_ready DIR: the worker accepts connections, or has already exited.
worker_ready() {
    [[ -f $1/worker.exit ]] || port_open "$WORKER_PORT"
}

# stop_worker DIR: SIGTERM, then wait (bounded) for the exit status.
stop_worker() {
    local dir=$1
    [[ -f $dir/worker.pid ]] || return 0
    # Once it has exited its pid may belong to someone else: leave it be.
    [[ -f $dir/worker.exit ]] || kill -TERM "$(cat "$dir/worker.pid")" 2>/dev/null || true
    wait_until 15 test -f "$dir/worker.exit" || kill -KILL "$(cat "$dir/worker.pid")" 2>/dev/null || true
    rm -f "$dir/worker.pid"
}

# The ids the hub hands out: digits; with Redis the log's "ms-seq" ids.
if [[ ${SSE_TEST_BROKER:-} == redis ]]; then
    EVENT_ID_RE='[0-9]+-[0-9]+'
else
    EVENT_ID_RE='[0-9]+'
fi
export EVENT_ID_RE

# SSE_TEST_BROKER=redis runs a file's tests in the shared-log mode: the
# stack's worker (and any other it starts) gets SSE_REDIS_URL, a Redis of
# the stack's own (tests/test_helper/redis.bash).
stack_broker_start() {
    [[ ${SSE_TEST_BROKER:-} == redis ]] || return 0
    unset REDIS_PORT
    redis_start "$STACK_DIR/redis"
    export SSE_REDIS_URL=$REDIS_URL
}

# start_stack [worker args...]: worker + nginx under $BATS_FILE_TMPDIR/stack;
# sets STACK_DIR, HTTP_PORT, BASE_URL.
start_stack() {
    STACK_DIR=$BATS_FILE_TMPDIR/stack
    HTTP_PORT=$("$ROOT/scripts/free-port")
    export STACK_DIR HTTP_PORT BASE_URL="http://127.0.0.1:$HTTP_PORT"
    stack_broker_start
    start_worker "$STACK_DIR" "$@"
    "$ROOT/scripts/render-nginx-conf" "$STACK_DIR" "127.0.0.1:$HTTP_PORT" "127.0.0.1:$WORKER_PORT"
    nginx -p "$STACK_DIR" -c "$STACK_DIR/nginx.conf" -e "$STACK_DIR/nginx-stderr.log" \
        </dev/null >/dev/null 2>&1 3>&- &
    wait_until 10 curl -sf --max-time 2 -o /dev/null "$BASE_URL/"
}

# stop_stack: stops the worker, then nginx; safe to call twice.
stop_stack() {
    [[ -n ${STACK_DIR:-} ]] || return 0
    stop_worker "$STACK_DIR"
    local pid_file=$STACK_DIR/nginx.pid
    if [[ -f $pid_file ]]; then
        local pid
        pid=$(cat "$pid_file")
        kill -TERM "$pid" 2>/dev/null || true
        wait_until 10 bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
    fi
    redis_stop "$STACK_DIR/redis"
}

# worker_log_clean DIR: no sanitizer report in the worker's log.
worker_log_clean() {
    ! grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$1/worker.log"
}

# stack_for_file [worker args...]: called at the top of a .bats file, gives
# the file one stack for all its tests: started before the first test (with
# these worker arguments, kept in STACK_WORKER_ARGS), stopped after the last
# even when a test failed; each test's background clients (sse.bash) are
# stopped after it. A file that needs more defines any of these, and they
# run at that point:
#   before_stack_start  after_stack_start  after_each_test  before_stack_stop
# STACK_STARTER names another starter with start_stack's arguments (e.g.
# start_tls_stack, tls.bash).
# shellcheck disable=SC2317 # bats calls the functions defined here
stack_for_file() {
    STACK_WORKER_ARGS=("$@")
    setup_file() {
        stack_hook before_stack_start
        "${STACK_STARTER:-start_stack}" "${STACK_WORKER_ARGS[@]}"
        stack_hook after_stack_start
    }
    teardown() {
        stack_hook after_each_test
        stack_hook bg_stop_all
    }
    teardown_file() {
        stack_hook before_stack_stop
        stack_hook bg_stop_all
        stop_stack
    }
}

# stack_hook NAME: runs the function NAME if the file (or a helper) has one.
stack_hook() {
    if declare -F "$1" >/dev/null; then
        "$1"
    fi
}

# shellcheck source=redis.bash
source "$ROOT/tests/test_helper/redis.bash"
