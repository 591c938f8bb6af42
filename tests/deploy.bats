#!/usr/bin/env bats
# Deploying under an existing nginx: `make install DESTDIR=...` stages the
# worker, the page, the nginx drop-in files and the systemd units; a foreign
# nginx.conf (tests/fixtures/foreign-nginx.conf) that includes the installed
# snippets with the README's two lines passes `nginx -t` and streams end to
# end from the installed worker, started the systemd way (socket on fd 0).
# Also: the units pass `systemd-analyze verify`, the standalone config uses
# the same snippet files, and docker-compose.yml parses.

bats_require_minimum_version 1.5.0

load test_helper/common

# make_install DESTDIR [make variables...]: the real `make install`.
make_install() {
    local dest=$1
    shift
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        make -C "$ROOT" -s --no-print-directory install DESTDIR="$dest" "$@"
}

# make_foreign DIR UPSTREAM LISTEN: DIR laid out like Debian's /etc/nginx,
# holding the foreign nginx.conf, the installed snippets/sse-locations.conf
# and UPSTREAM as conf.d/sse-upstream.conf.
make_foreign() {
    local dir=$1 upstream=$2 listen=$3 user_line=""
    mkdir -p "$dir/conf.d" "$dir/snippets" "$dir/site" "$dir/tmp"
    cp "$upstream" "$dir/conf.d/sse-upstream.conf"
    cp "$DEST/etc/nginx/snippets/sse-locations.conf" "$dir/snippets/"
    cp /etc/nginx/fastcgi_params /etc/nginx/mime.types "$dir/"
    echo '<!doctype html><title>foreign</title><p>the foreign site</p>' >"$dir/site/index.html"
    # As root, nginx's workers would run as nobody, who cannot enter the
    # test's private temp folders: run them as the folder's owner instead.
    if [[ $(id -u) -eq 0 ]]; then
        user_line="user $(stat -c %U "$dir") $(stat -c %G "$dir");"
    fi
    sed -e "s|@USER_LINE@|$user_line|" -e "s|@STATE@|$dir|g" -e "s|@LISTEN@|$listen|g" \
        -e "s|@DEMO_WWW@|$DEST/usr/local/share/sse-worker/www|g" \
        "$ROOT/tests/fixtures/foreign-nginx.conf" >"$dir/nginx.conf"
}

# start_installed_worker DIR: the installed binary under spawn-fcgi, which
# (like systemd's socket unit) opens the socket and passes it as fd 0; the
# pid and exit-status files are the ones stop_worker (stack.bash) uses.
start_installed_worker() {
    local dir=$1
    mkdir -p "$dir"
    WORKER_PORT=$("$ROOT/scripts/free-port")
    export WORKER_PORT
    (
        spawn-fcgi -n -a 127.0.0.1 -p "$WORKER_PORT" -- \
            "$DEST/usr/local/bin/sse-worker" --public-topics chat 2>>"$dir/worker.log" &
        echo $! >"$dir/worker.pid"
        wait $!
        echo $? >"$dir/worker.exit"
    ) </dev/null >/dev/null 3>&- &
    wait_until 10 port_open "$WORKER_PORT"
}

setup_file() {
    DEST=$BATS_FILE_TMPDIR/dest
    SSE_PUBLISH_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    export DEST SSE_PUBLISH_TOKEN
    make_install "$DEST"

    # The foreign site, the installed upstream pointed at this test's worker.
    WORKER_DIR=$BATS_FILE_TMPDIR/worker
    FOREIGN=$BATS_FILE_TMPDIR/foreign
    export WORKER_DIR FOREIGN
    start_installed_worker "$WORKER_DIR"
    "$ROOT/scripts/render-upstream" "127.0.0.1:$WORKER_PORT" \
        "$DEST/etc/nginx/conf.d/sse-upstream.conf" >"$BATS_FILE_TMPDIR/upstream.conf"
    HTTP_PORT=$("$ROOT/scripts/free-port")
    BASE_URL=http://127.0.0.1:$HTTP_PORT
    export HTTP_PORT BASE_URL
    make_foreign "$FOREIGN" "$BATS_FILE_TMPDIR/upstream.conf" "127.0.0.1:$HTTP_PORT"
    nginx -p "$FOREIGN" -c "$FOREIGN/nginx.conf" -e "$FOREIGN/stderr.log" \
        </dev/null >/dev/null 2>&1 3>&- &
    wait_until 10 curl -sf -o /dev/null "$BASE_URL/health"
}

teardown_file() {
    stop_worker "${WORKER_DIR:-/nonexistent}"
    stop_nginx "${FOREIGN:-/nonexistent}"
}

teardown() {
    if [[ -n ${BG_PID:-} ]]; then
        kill "$BG_PID" 2>/dev/null || true
        wait "$BG_PID" 2>/dev/null || true
        BG_PID=""
    fi
    # The socket holder first (so it starts no other worker), then its workers.
    if [[ -n ${HOLDER_PID:-} ]]; then
        kill "$HOLDER_PID" 2>/dev/null || true
        wait "$HOLDER_PID" 2>/dev/null || true
        local f
        for f in "$HOLDER_DIR"/worker?.pid; do
            [[ -f $f ]] && kill -TERM "$(cat "$f")" 2>/dev/null
        done
        HOLDER_PID=""
    fi
}

# --- make install / uninstall ---

@test "make install DESTDIR puts the worker, the page, the nginx snippets and the units in place, nothing else" {
    local expected=$BATS_TEST_TMPDIR/expected f
    {
        echo "644 etc/nginx/conf.d/sse-upstream.conf"
        echo "644 etc/nginx/snippets/sse-locations.conf"
        echo "755 usr/local/bin/sse-worker"
        echo "644 usr/local/lib/systemd/system/sse-worker.service"
        echo "644 usr/local/lib/systemd/system/sse-worker.socket"
        for f in "$ROOT"/www/*; do
            echo "644 usr/local/share/sse-worker/www/${f##*/}"
        done
    } | sort >"$expected"
    run bash -c "find '$DEST' -type f -printf '%m %P\n' | sort | diff -u '$expected' -"
    assert_success
}

@test "the installed nginx snippets and page are the repository's files, unchanged" {
    cmp "$ROOT/conf/sse-upstream.conf" "$DEST/etc/nginx/conf.d/sse-upstream.conf"
    cmp "$ROOT/conf/sse-locations.conf" "$DEST/etc/nginx/snippets/sse-locations.conf"
    cmp "$ROOT/www/index.html" "$DEST/usr/local/share/sse-worker/www/index.html"
    cmp "$ROOT/.build/sse-worker" "$DEST/usr/local/bin/sse-worker"
}

@test "the installed service runs the installed worker on the socket unit's fd 0" {
    local units=$DEST/usr/local/lib/systemd/system
    run grep -h '@' "$units/sse-worker.service" "$units/sse-worker.socket"
    refute_output --regexp '@[A-Z]+@'
    run grep -x 'ExecStart=/usr/local/bin/sse-worker' "$units/sse-worker.service"
    assert_success
    run grep -x 'StandardInput=socket' "$units/sse-worker.service"
    assert_success
    # fd 1 and 2 would otherwise inherit fd 0, the listening socket.
    run grep -x 'StandardOutput=journal' "$units/sse-worker.service"
    assert_success
    run grep -x 'DynamicUser=yes' "$units/sse-worker.service"
    assert_success
    # The socket unit and the installed upstream name the same address.
    run grep -x 'ListenStream=127.0.0.1:9000' "$units/sse-worker.socket"
    assert_success
    run grep -E '^[[:space:]]*server 127\.0\.0\.1:9000;' "$DEST/etc/nginx/conf.d/sse-upstream.conf"
    assert_success
}

@test "make install PREFIX=/opt/sse moves the worker, the page and the units, and the service follows" {
    local dest=$BATS_TEST_TMPDIR/dest
    make_install "$dest" PREFIX=/opt/sse
    [[ -x $dest/opt/sse/bin/sse-worker ]]
    [[ -f $dest/opt/sse/share/sse-worker/www/index.html ]]
    [[ -f $dest/etc/nginx/snippets/sse-locations.conf ]]
    run grep -x 'ExecStart=/opt/sse/bin/sse-worker' "$dest/opt/sse/lib/systemd/system/sse-worker.service"
    assert_success
    [[ ! -e $dest/usr ]]
}

@test "make uninstall removes every file make install put there, and runs twice" {
    local dest=$BATS_TEST_TMPDIR/dest
    make_install "$dest"
    run env -u MAKEFLAGS -u MAKELEVEL make -C "$ROOT" -s --no-print-directory uninstall DESTDIR="$dest"
    assert_success
    run find "$dest" -type f
    assert_output ""
    [[ ! -e $dest/usr/local/share/sse-worker ]]
    run env -u MAKEFLAGS -u MAKELEVEL make -C "$ROOT" -s --no-print-directory uninstall DESTDIR="$dest"
    assert_success
    assert_output ""
}

# --- systemd ---

# verify_root: a root folder with the staged tree and the system's own units
# (sysinit.target, ...), so systemd-analyze resolves every dependency and
# finds the ExecStart binary where the unit says.
verify_root() {
    local vroot=$BATS_TEST_TMPDIR/vroot
    cp -a "$DEST" "$vroot"
    mkdir -p "$vroot/usr/lib/systemd"
    cp -a "$(readlink -f /lib/systemd/system)" "$vroot/usr/lib/systemd/system"
    echo "$vroot"
}

@test "systemd-analyze verify accepts the installed units" {
    command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed (Debian package systemd)"
    systemd-analyze --help | grep -q -- '--root' || skip "this systemd-analyze has no --root"
    [[ -d /lib/systemd/system ]] || skip "no system units in /lib/systemd/system to verify against"
    local vroot
    vroot=$(verify_root)
    # Warnings (an unknown key, a bad value) still exit 0: any output fails.
    run systemd-analyze verify --man=no --root="$vroot" \
        /usr/local/lib/systemd/system/sse-worker.socket \
        /usr/local/lib/systemd/system/sse-worker.service
    assert_success
    assert_output ""
}

@test "systemd-analyze security rates the service's sandbox as safe" {
    command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed (Debian package systemd)"
    systemd-analyze --help | grep -q -- '--offline' || skip "this systemd-analyze cannot rate unit files offline (systemd < 250)"
    local vroot
    vroot=$(verify_root)
    # --threshold is in tenths: fail above an exposure of 2.0 (of 10).
    run systemd-analyze security --offline=true --threshold=20 --root="$vroot" \
        /usr/local/lib/systemd/system/sse-worker.service
    assert_success
    assert_output --regexp 'Overall exposure level for sse-worker.service: [01]\.[0-9] SAFE'
}

# --- the foreign nginx ---

@test "a foreign nginx.conf including the installed snippets unchanged passes nginx -t" {
    local dir=$BATS_TEST_TMPDIR/foreign
    make_foreign "$dir" "$DEST/etc/nginx/conf.d/sse-upstream.conf" "127.0.0.1:$HTTP_PORT"
    cmp "$DEST/etc/nginx/conf.d/sse-upstream.conf" "$dir/conf.d/sse-upstream.conf"
    run nginx -t -p "$dir" -c "$dir/nginx.conf" -e "$dir/stderr.log"
    assert_success
    assert_output --partial 'test is successful'
}

@test "the running foreign site differs from the installed snippets only in the worker's address" {
    run diff "$DEST/etc/nginx/conf.d/sse-upstream.conf" "$FOREIGN/conf.d/sse-upstream.conf"
    assert_failure 1
    assert_line "<     server 127.0.0.1:9000;"
    assert_line ">     server 127.0.0.1:$WORKER_PORT;"
    assert_equal "$(grep -c '^[<>]' <<<"$output")" 2
    cmp "$DEST/etc/nginx/snippets/sse-locations.conf" "$FOREIGN/snippets/sse-locations.conf"
}

@test "the foreign site streams ticks uncompressed and at once, though it gzips and buffers the rest" {
    run curl -sSN --max-time 3 -H 'Accept-Encoding: gzip' -D "$BATS_TEST_TMPDIR/head" "$BASE_URL/events"
    assert_equal "$status" 28
    assert_line 'event: tick'
    run cat "$BATS_TEST_TMPDIR/head"
    assert_line --regexp '^Content-Type: text/event-stream'
    refute_line --regexp '^Content-Encoding'
    # The rest of the site is compressed, so the snippet is what turns it off.
    run curl -sS -o /dev/null -D - -H 'Accept-Encoding: gzip' "$BASE_URL/"
    assert_line --regexp '^Content-Encoding: gzip'
}

@test "the foreign site keeps its own locations" {
    run curl -sS --fail "$BASE_URL/health"
    assert_output ok
    run curl -sS --fail "$BASE_URL/"
    assert_output --partial 'the foreign site'
    run curl -sS -o /dev/null -w '%{http_code}' "$BASE_URL/api/anything"
    assert_output 418
}

@test "the installed demo page is served under /sse-demo/ of the foreign site" {
    run curl -sS --fail "$BASE_URL/sse-demo/"
    assert_success
    assert_output --partial 'app.js'
    run curl -sS --fail -o /dev/null -w '%{content_type}' "$BASE_URL/sse-demo/app.js"
    assert_output --partial javascript
}

@test "a publish through the foreign site reaches an open stream, and /stats answers on loopback" {
    local out=$BATS_TEST_TMPDIR/stream
    curl -sSN --max-time 20 "$BASE_URL/events?topic=deploy" >"$out" 2>&1 3>&- &
    BG_PID=$!
    wait_until 10 grep -q '^retry:' "$out"
    run curl -sS --fail-with-body -H "Authorization: Bearer $SSE_PUBLISH_TOKEN" \
        -d topic=deploy -d 'data=through a foreign nginx' "$BASE_URL/publish"
    assert_success
    wait_until 5 grep -q '^data: through a foreign nginx$' "$out"
    run curl -sS --fail "$BASE_URL/stats"
    assert_success
    assert_output --partial '"deploy":{"streams":1'
}

@test "the installed worker accepts on the socket inherited as fd 0, the way systemd starts it" {
    run grep -c 'accepting FastCGI on the socket inherited on fd 0' "$WORKER_DIR/worker.log"
    assert_output 1
}

@test "the installed worker stops cleanly on SIGTERM" {
    stop_worker "$WORKER_DIR"
    run cat "$WORKER_DIR/worker.exit"
    assert_output 0
    run grep 'stopped cleanly' "$WORKER_DIR/worker.log"
    assert_success
}

# A stand-in for systemd's socket unit: holds the listening socket itself,
# passes it to the worker as fd 0, and starts the worker again when it ends
# (a restart), once. Writes DIR/workerN.pid and DIR/workerN.exit.
socket_holder() {
    perl -MIO::Socket::INET -e '
        my ($port, $dir, @cmd) = @ARGV;
        my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $port,
                                      Listen => 128, ReuseAddr => 1) or die "listen: $!";
        for my $run (1, 2) {
            my $pid = fork() // die "fork: $!";
            if (!$pid) {
                open(STDIN, "<&", $s) or die "dup: $!";
                exec(@cmd) or die "exec: $!";
            }
            open(my $f, ">", "$dir/worker$run.pid") or die; print $f "$pid\n"; close $f;
            waitpid($pid, 0);
            open($f, ">", "$dir/worker$run.exit") or die; print $f ($? >> 8), "\n"; close $f;
        }' "$@"
}

# fcgi_stats PORT: the worker's /stats straight over FastCGI.
fcgi_stats() {
    REQUEST_METHOD=GET DOCUMENT_URI=/stats cgi-fcgi -bind -connect "127.0.0.1:$1"
}

@test "a stopping worker leaves the socket it shares with systemd listening, so a restart takes over" {
    local dir=$BATS_TEST_TMPDIR/holder port
    port=$("$ROOT/scripts/free-port")
    mkdir -p "$dir"
    HOLDER_DIR=$dir
    socket_holder "$port" "$dir" "$DEST/usr/local/bin/sse-worker" --tick-ms 0 \
        </dev/null >/dev/null 2>>"$dir/worker.log" 3>&- &
    HOLDER_PID=$!
    wait_until 10 test -s "$dir/worker1.pid"
    wait_until 10 port_open "$port"
    run fcgi_stats "$port"
    assert_output --partial '"uptime"'
    # systemctl restart: SIGTERM, then the same socket to a new worker.
    kill -TERM "$(cat "$dir/worker1.pid")"
    wait_until 10 test -s "$dir/worker1.exit"
    run cat "$dir/worker1.exit"
    assert_output 0
    wait_until 10 test -s "$dir/worker2.pid"
    run fcgi_stats "$port"
    assert_output --partial '"uptime"'
    kill -TERM "$(cat "$dir/worker2.pid")"
    wait_until 10 test -s "$dir/worker2.exit"
    wait "$HOLDER_PID"
    HOLDER_PID=""
}

# --- one source of truth, and the compose file ---

@test "the standalone config of make run includes the same snippet files" {
    local state=$BATS_TEST_TMPDIR/standalone
    "$ROOT/scripts/render-nginx-conf" "$state" 127.0.0.1:8080 127.0.0.1:9123
    run grep -E '^[[:space:]]*include ' "$state/nginx.conf"
    assert_line --regexp "include $ROOT/conf/sse-locations\.conf;"
    assert_line --regexp "include $state/sse-upstream\.conf;"
    run diff "$ROOT/conf/sse-upstream.conf" "$state/sse-upstream.conf"
    assert_line ">     server 127.0.0.1:9123;"
    assert_equal "$(grep -c '^[<>]' <<<"$output")" 2
    run nginx -t -p "$state" -c "$state/nginx.conf" -e "$state/stderr.log"
    assert_success
}

@test "docker-compose.yml parses with docker-compose 1.29, and SSE_HTTP_PORT moves the published port" {
    command -v docker-compose >/dev/null || skip "docker-compose not installed (make test-docker installs it)"
    # An empty settings file (a user's .env beside the compose file is not
    # read) and none of the settings in the environment.
    touch "$BATS_TEST_TMPDIR/empty.env"
    local -a compose=(docker-compose --env-file "$BATS_TEST_TMPDIR/empty.env"
        -f "$ROOT/docker-compose.yml" config)
    local -a clean=(env -u SSE_PUBLISH_TOKEN -u SSE_HTTP_PORT -u SSE_PUBLIC_TOPICS)
    run "${clean[@]}" "${compose[@]}"
    assert_success
    assert_line --regexp '^ +- published: 8080$'
    assert_line --regexp "^ +SSE_PUBLISH_TOKEN: ''$"
    run "${clean[@]}" SSE_HTTP_PORT=127.0.0.1:18080 SSE_PUBLISH_TOKEN=t0ken "${compose[@]}"
    assert_success
    assert_line --regexp '^ +- 127\.0\.0\.1:18080:8080/tcp$'
    assert_line --regexp '^ +SSE_PUBLISH_TOKEN: t0ken$'
}

@test "no publish token or .env is committed, and .env stays out of git and image builds" {
    run git -C "$ROOT" ls-files -- .env '*.env'
    assert_output ""
    run grep -x '.env' "$ROOT/.gitignore" "$ROOT/.dockerignore"
    assert_equal "${#lines[@]}" 2
    run grep -nE 'SSE_PUBLISH_TOKEN[:=] *"?[A-Za-z0-9]' "$ROOT/docker-compose.yml"
    assert_output ""
}
