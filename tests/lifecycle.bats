#!/usr/bin/env bats
# Starting and stopping: signals with open streams, the command line and the
# environment, the three ways to get a listening socket.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse

TICK_MS=200
GOODBYE='server shutting down, reconnect after retry'

stack_for_file --tick-ms "$TICK_MS"

after_each_test() {
    if [[ -n ${SOCK_DIR:-} ]]; then
        rm -rf "$SOCK_DIR"
    fi
}

# signal_ends_streams SIGNAL: a fresh stack worker, three clients through
# nginx, then SIGNAL to the worker.
signal_ends_streams() {
    local sig=$1 i
    stack_worker_restart --tick-ms "$TICK_MS"
    for i in 1 2 3; do
        sse_client "$BATS_TEST_TMPDIR/c$i" "$BASE_URL/events"
    done
    for i in 1 2 3; do
        wait_until 10 sse_has "$BATS_TEST_TMPDIR/c$i.out" 2 tick
    done

    kill -s "$sig" "$WORKER_PID"

    # Every stream ends by itself, cleanly (curl 0: the chunked response
    # was properly terminated), the goodbye comment being its last frame.
    for i in 1 2 3; do
        local c=$BATS_TEST_TMPDIR/c$i
        bg_wait "$c" 10
        assert_equal "$(bg_exit "$c")" 0
        run sse_parse -a "$c.out"
        assert_line --index -1 --regexp $'^:comment\t[0-9]+\t'"$GOODBYE"'$'
        ends_with "$c.out" ": $GOODBYE\n\n"
        run grep -c -x ": $GOODBYE" "$c.out"
        assert_output 1
    done

    # The worker exits 0 within a bounded wait, with a clean log.
    bg_wait "$STACK_DIR/worker" 10
    echo "the worker's log ends with:"
    tail -n 30 "$STACK_DIR/worker.log"
    assert_equal "$(bg_exit "$STACK_DIR/worker")" 0
    worker_log_clean "$STACK_DIR"
    run grep -c "$sig received: closing every stream" "$STACK_DIR/worker.log"
    (( output >= 1 ))
    run tail -n 1 "$STACK_DIR/worker.log"
    assert_output --partial 'stopped cleanly'
}

@test "SIGTERM ends every open stream with a goodbye comment and the worker exits 0 with a clean log" {
    signal_ends_streams TERM
}

@test "SIGINT ends every open stream the same way" {
    signal_ends_streams INT
}

@test "--help prints the usage on stdout and exits 0" {
    run --separate-stderr timeout 10 "$SSE_WORKER" --help
    assert_success
    assert_line --index 0 'usage: sse-worker [options]'
    assert_output --partial '--listen'
    assert_output --partial '--heartbeat SEC'
    assert_output --partial 'Flags win over the environment.'
    assert_equal "$stderr" ''
}

@test "--version prints the version and exits 0" {
    run --separate-stderr timeout 10 "$SSE_WORKER" --version
    assert_success
    assert_output --regexp '^sse-worker [0-9]+\.[0-9]+\.[0-9]+$'
    assert_equal "$stderr" ''
    run --separate-stderr timeout 10 "$SSE_WORKER" -V
    assert_success
    assert_output --regexp '^sse-worker [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "an unknown flag, a bad value or a stray argument exits 2 with a message on stderr" {
    run --separate-stderr timeout 10 "$SSE_WORKER" --bogus
    assert_failure 2
    assert_output ''
    [[ $stderr == *"unrecognized option '--bogus'"* ]]
    [[ $stderr == *"Try 'sse-worker --help'."* ]]

    run --separate-stderr timeout 10 "$SSE_WORKER" --retry soon
    assert_failure 2
    [[ $stderr == *"invalid --retry soon"* ]]

    run --separate-stderr timeout 10 "$SSE_WORKER" --heartbeat 0
    assert_failure 2
    [[ $stderr == *"invalid --heartbeat 0"* ]]

    run --separate-stderr timeout 10 "$SSE_WORKER" extra
    assert_failure 2
    [[ $stderr == *"unexpected argument 'extra'"* ]]

    run --separate-stderr timeout 10 env SSE_RETRY=soon "$SSE_WORKER"
    assert_failure 2
    [[ $stderr == *"invalid SSE_RETRY=soon"* ]]
}

# Below, sse_has reads raw CGI responses as they are: the head's lines are
# fields the parser ignores and its blank line dispatches nothing.

@test "flags win over SSE_* environment variables, which apply on their own" {
    # Both: the flags' values everywhere.
    local w=$BATS_TEST_TMPDIR/both/worker c=$BATS_TEST_TMPDIR/both/c
    aux_worker "$w" SSE_RETRY=1111 SSE_HEARTBEAT=7 SSE_HISTORY=50 SSE_TICK_MS=0 \
        --retry 2222 --heartbeat 9 --history 60 --tick-ms 100
    fcgi_client "$c" "127.0.0.1:$AUX_PORT"
    # --tick-ms 100 beat SSE_TICK_MS=0: ticks arrive.
    wait_until 10 sse_has "$c.out" 1 tick
    bg_stop "$c"
    run cgi_body "$c.out"
    assert_line --index 0 'retry: 2222'
    assert_line --index 1 'event: tick'
    starts_with <(cgi_body "$c.out") 'retry: 2222\n\n'
    run grep -c 'heartbeat 9 s, retry 2222 ms, history 60' "$w.log"
    assert_output 1
    bg_stop "$w"
    assert_equal "$(bg_exit "$w")" 0

    # The environment alone, SSE_LISTEN included.
    local port
    port=$("$ROOT/scripts/free-port")
    w=$BATS_TEST_TMPDIR/env/worker c=$BATS_TEST_TMPDIR/env/c
    bg_start "$w" env SSE_LISTEN="127.0.0.1:$port" SSE_RETRY=1111 SSE_HEARTBEAT=7 \
        SSE_HISTORY=50 SSE_TICK_MS=0 "$SSE_WORKER"
    wait_until 10 port_open "$port"
    fcgi_client "$c" "127.0.0.1:$port"
    wait_until 10 cgi_body_size_at_least "$c.out" 13
    bg_stop "$c"
    run cgi_body "$c.out"
    assert_output 'retry: 1111'
    starts_with <(cgi_body "$c.out") 'retry: 1111\n\n'
    run grep -c 'heartbeat 7 s, retry 1111 ms, history 50' "$w.log"
    assert_output 1
    run grep -c 'demo ticker' "$w.log"
    assert_output 0
    bg_stop "$w"
    assert_equal "$(bg_exit "$w")" 0
}

@test "without --listen and without a socket on fd 0 the worker exits 1 with a clear error" {
    run --separate-stderr timeout 10 env -u SSE_LISTEN "$SSE_WORKER" </dev/null
    assert_failure 1
    assert_output ''
    [[ $stderr == *'no --listen given and fd 0 is not a listening socket'* ]]
    # A pipe on fd 0 is no better than /dev/null.
    # shellcheck disable=SC2016 # $0 expands in the inner shell
    run --separate-stderr bash -c 'echo | timeout 10 env -u SSE_LISTEN "$0"' "$SSE_WORKER"
    assert_failure 1
    [[ $stderr == *'fd 0 is not a listening socket'* ]]
}

@test "under spawn-fcgi the worker serves /events on the socket inherited on fd 0" {
    local port w=$BATS_TEST_TMPDIR/spawn/worker c=$BATS_TEST_TMPDIR/spawn/c
    port=$("$ROOT/scripts/free-port")
    bg_start "$w" spawn-fcgi -n -a 127.0.0.1 -p "$port" -- "$SSE_WORKER" --tick-ms "$TICK_MS"
    wait_until 10 port_open "$port"
    # -n: spawn-fcgi execs the worker in its own process.
    run cat "/proc/$(bg_pid "$w")/comm"
    assert_output sse-worker

    fcgi_client "$c" "127.0.0.1:$port"
    wait_until 10 sse_has "$c.out" 2 tick
    bg_stop "$c"
    run cgi_head "$c.out"
    assert_line --index 0 'Content-Type: text/event-stream'
    starts_with <(cgi_body "$c.out") 'retry: 3000\n\n'
    run grep -c 'accepting FastCGI on the socket inherited on fd 0' "$w.log"
    assert_output 1

    bg_stop "$w"
    assert_equal "$(bg_exit "$w")" 0
    worker_log_clean "$(dirname "$w")"
}

@test "--listen unix:PATH serves /events on a unix socket with the given mode and removes it on exit" {
    # A short path: unix socket paths are limited to 107 bytes.
    SOCK_DIR=$(mktemp -d /tmp/sse-bats.XXXXXX)
    local sock=$SOCK_DIR/worker.sock w=$BATS_TEST_TMPDIR/unix/worker c=$BATS_TEST_TMPDIR/unix/c
    bg_start "$w" "$SSE_WORKER" --listen "unix:$sock" --socket-mode 0666 --tick-ms "$TICK_MS"
    wait_until 10 test -S "$sock"
    run stat -c %a "$sock"
    assert_output 666

    fcgi_client "$c" "$sock"
    wait_until 10 sse_has "$c.out" 2 tick
    bg_stop "$c"
    starts_with <(cgi_body "$c.out") 'retry: 3000\n\n'
    run grep -c "accepting FastCGI on unix:$sock (mode 0666)" "$w.log"
    assert_output 1

    bg_stop "$w"
    assert_equal "$(bg_exit "$w")" 0
    [[ ! -e $sock ]]
    worker_log_clean "$(dirname "$w")"
}

# serves_after SIGNAL: the worker, sent SIGNAL, still opens new streams and
# answers /stats through nginx, and has not exited.
serves_after() {
    local sig=$1 c=$BATS_TEST_TMPDIR/after-$1
    kill -s "$sig" "$WORKER_PID"
    sse_client "$c" "$BASE_URL/events?topic=clock"
    wait_until 10 sse_has "$c.out" 1 tick
    bg_stop "$c"
    run curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$BASE_URL/stats"
    assert_output 200
    [[ ! -f $STACK_DIR/worker.exit ]]
}

@test "SIGUSR1, SIGUSR2 and SIGHUP change nothing: the worker keeps serving streams and /stats" {
    stack_worker_restart --tick-ms "$TICK_MS"
    local sig lines
    lines=$(wc -l <"$STACK_DIR/worker.log")
    for sig in USR1 USR2 HUP; do
        serves_after "$sig"
    done
    # Two rounds: a signal must not leave anything behind that breaks later ones.
    for sig in USR1 HUP; do
        serves_after "$sig"
    done
    # Nothing failed meanwhile (the log is shared with the earlier workers).
    run bash -c "tail -n +$((lines + 1)) '$STACK_DIR/worker.log' | grep -c -e 'accept failed' -e ' error '"
    assert_output 0
}

@test "SIGTERM with a request still in flight cuts it off after the drain, and the worker exits 0 with everything freed" {
    stack_worker_restart --tick-ms "$TICK_MS"
    local c=$BATS_TEST_TMPDIR/live peer=$BATS_TEST_TMPDIR/silent fds
    sse_client "$c" "$BASE_URL/events?topic=clock"
    wait_until 10 sse_has "$c.out" 1 tick
    fds=$(fd_count "$WORKER_PID")
    # A peer that connects straight to the worker and never sends its
    # request: a request thread waits on it when the stop comes.
    # shellcheck disable=SC2016 # expanded by the inner shell
    bg_start "$peer" timeout 120 bash -c 'cat <"/dev/tcp/127.0.0.1/$0"' "$WORKER_PORT"
    # Accepted: its connection and the watchdog's copy of it.
    wait_until 10 fds_are "$WORKER_PID" $((fds + 2))
    kill -TERM "$WORKER_PID"
    # The worker waits out its drain (5 s), cuts the silent peer off, ends
    # the stream, and exits 0: ASan's leak check passed, so the hub and
    # everything else were freed after the last request thread ended.
    bg_wait "$STACK_DIR/worker" 20
    assert_equal "$(bg_exit "$STACK_DIR/worker")" 0
    worker_log_clean "$STACK_DIR"
    run tail -n 1 "$STACK_DIR/worker.log"
    assert_output --partial 'stopped cleanly'
    run grep -c '1 requests still in flight after 5 s: cut off' "$STACK_DIR/worker.log"
    assert_output 1
    bg_wait "$peer" 10
    bg_wait "$c" 10
    stack_worker_restart --tick-ms "$TICK_MS"
}
