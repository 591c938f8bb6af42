# Shared by every .bats file: assertions, bounded waits, the stack under test.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export ROOT
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
# shellcheck source=stack.bash
source "$ROOT/tests/test_helper/stack.bash"

export PATH=$PATH:/usr/sbin:/sbin

# wait_until SECONDS COMMAND...: runs COMMAND every 50 ms until it succeeds;
# fails (status 1) if it never does within SECONDS. Tests wait on conditions
# with this, never on a bare sleep.
wait_until() {
    local limit=$1
    shift
    local deadline=$((SECONDS + limit))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            echo "wait_until: gave up after ${limit}s on: $*" >&2
            return 1
        fi
        sleep 0.05
    done
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# thread_count PID / fd_count PID: from /proc, for resource-leak checks.
thread_count() {
    find "/proc/$1/task" -mindepth 1 -maxdepth 1 | wc -l
}
fd_count() {
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l
}

# stop_nginx DIR: stops an nginx whose pid is in DIR/nginx.pid (TERM, then
# KILL after a bounded wait); nothing to do when it is not running.
stop_nginx() {
    local pid_file=$1/nginx.pid pid
    [[ -f $pid_file ]] || return 0
    pid=$(cat "$pid_file")
    kill -TERM "$pid" 2>/dev/null || true
    wait_until 10 bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
}
