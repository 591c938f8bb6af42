#!/usr/bin/env bats
# The response to GET /events through nginx, byte by byte: status, headers,
# the first frame, the shape of every event; the error answers; the page.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse

# A fast ticker: the multi-line event (every fifth tick) comes within ~1 s.
TICK_MS=200

setup_file() {
    start_stack --tick-ms "$TICK_MS"
}

teardown_file() {
    bg_stop_all
    stop_stack
}

teardown() {
    bg_stop_all
}

@test "GET /events through nginx answers 200 with exactly the event-stream headers" {
    local c=$BATS_TEST_TMPDIR/c
    sse_client "$c" "$BASE_URL/events"
    wait_until 10 sse_has "$c.out" 1 tick
    bg_stop "$c"

    run http_status "$c.head"
    assert_output 200
    run http_header "$c.head" Content-Type
    assert_output text/event-stream
    run http_header "$c.head" Cache-Control
    assert_output no-cache
    run http_header "$c.head" Connection
    assert_output keep-alive
    run http_header "$c.head" Transfer-Encoding
    assert_output chunked
    run http_header "$c.head" Content-Length
    assert_failure
    assert_output ''
    # nginx obeys X-Accel-Buffering and must not pass it on.
    run http_header "$c.head" X-Accel-Buffering
    assert_failure
    assert_output ''
}

@test "the stream starts with exactly 'retry: 3000' and a blank line" {
    local c=$BATS_TEST_TMPDIR/c
    sse_client "$c" "$BASE_URL/events"
    wait_until 10 sse_has "$c.out" 1
    bg_stop "$c"

    # Byte-exact: these 13 bytes, then the first event begins at once (a
    # tick, or the message if the client came in between the two).
    starts_with "$c.out" 'retry: 3000\n\n'
    [[ $(head -c 15 "$c.out" | tail -c 2) =~ ^(ev|id)$ ]]
    run sse_parse -a "$c.out"
    assert_line --index 0 "$(printf ':retry\t\t3000')"
    # A retry frame carries no data: it dispatches no event of its own.
    refute_line --partial "$(printf 'message\t\t')"
}

@test "--retry 1234 makes the first frame 'retry: 1234'" {
    local w=$BATS_TEST_TMPDIR/retry/worker c=$BATS_TEST_TMPDIR/c
    aux_worker "$w" --retry 1234 --tick-ms "$TICK_MS"
    fcgi_client "$c" "127.0.0.1:$AUX_PORT"
    # Straight from the worker: the head, a blank line, then the frame.
    wait_until 10 sse_has "$c.out" 1 tick
    bg_stop "$c"
    bg_stop "$w"

    starts_with <(cgi_body "$c.out") 'retry: 1234\n\n'
    [[ $(cgi_body "$c.out" | head -c 15 | tail -c 2) =~ ^(ev|id)$ ]]
    run sse_parse -a "$c.out"
    assert_line --index 0 "$(printf ':retry\t\t1234')"
    assert_equal "$(bg_exit "$w")" 0
}

@test "tick frames parse as tick events with consecutive integer ids and JSON data holding time, seq and clients" {
    local c=$BATS_TEST_TMPDIR/c
    sse_client "$c" "$BASE_URL/events"
    wait_until 10 sse_has "$c.out" 4 tick
    bg_stop "$c"

    local -a ticks
    mapfile -t ticks < <(sse_parse "$c.out" | awk -F '\t' '$1 == "tick"')
    ((${#ticks[@]} >= 4))

    # Every event (ticks and the multi-line messages) takes the next id.
    run sse_parse "$c.out"
    assert_success
    local events=$output
    run awk -F '\t' '
        $2 !~ /^[1-9][0-9]*$/ { print "line " NR ": id is not a positive integer: " $0; bad = 1 }
        NR > 1 && $2 != prev + 1 { print "line " NR ": id " $2 " after " prev; bad = 1 }
        { prev = $2 }
        END { exit bad }' <<<"$events"
    assert_success

    # The data of every tick, checked at once: exactly the three keys, each
    # of the right type and form, seq counting up by one, the time a real
    # UTC time within the last minute.
    run jq -n -e '
        [inputs] as $d
        | ($d | length) >= 4
        and all($d[];
            (keys == ["clients", "seq", "time"])
            and (.time | type == "string"
                 and test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$")
                 and (sub("\\.[0-9]{3}Z$"; "Z") | fromdateiso8601) > now - 60
                 and (sub("\\.[0-9]{3}Z$"; "Z") | fromdateiso8601) <= now)
            and (.seq | type == "number" and . >= 1 and floor == .)
            and (.clients | type == "number" and . >= 1 and floor == .))
        and all(range(1; $d | length); $d[.].seq == $d[. - 1].seq + 1)' \
        < <(printf '%s\n' "${ticks[@]}" | cut -f 3)
    assert_success
}

@test "every fifth tick is followed by a message event sent as three data: lines that parse to one text with two LFs" {
    local c=$BATS_TEST_TMPDIR/c
    sse_client "$c" "$BASE_URL/events"
    wait_until 10 sse_has "$c.out" 2 message
    bg_stop "$c"

    # The first message that follows a tick (a client coming in between
    # the two would see a message first): its tick's seq and its own id.
    local seq id
    read -r seq id < <(sse_parse "$c.out" | awk -F '\t' '
        $1 == "message" && prev == "tick" { split($3, w, /[ ,]/); print w[2], $2; exit }
        { prev = $1 }')
    [[ $seq =~ ^[0-9]+$ && $id =~ ^[0-9]+$ ]]
    assert_equal "$((seq % 5))" 0
    # The raw frame, right after the tick's blank line: no event: field,
    # the id, three data: lines, the blank line (the x keeps $(...) from
    # eating trailing newlines).
    local raw want
    raw=$(cat "$c.out"; echo x)
    raw=${raw%x}
    want=$'\n\n'"id: $id"$'\n'"data: tick $seq, sent as three data: lines"$'\n'
    want+="data: the browser joins them with LF"$'\n'"data: into one message event"$'\n\n'
    [[ $raw == *"$want"* ]] || {
        echo "frame not found byte for byte; stream:"
        cat -A "$c.out"
        false
    }
    run grep -c -x "id: $id" "$c.out"
    assert_output 1

    # Parsed: type message, the text with two LFs, right after tick $seq.
    run sse_parse "$c.out"
    assert_line "$(printf 'message\t%s\ttick %s, sent as three data: lines\\nthe browser joins them with LF\\ninto one message event' "$id" "$seq")"
    run awk -F '\t' -v id="$id" '$2 == id - 1 { print $1; print $3 }' <<<"$output"
    assert_line --index 0 tick
    run jq -r .seq <<<"${lines[1]}"
    assert_output "$seq"
}

@test "POST, PUT and DELETE on /events get 405 with Allow: GET, HEAD and a one-line text/plain body" {
    local method
    for method in POST PUT DELETE; do
        local head=$BATS_TEST_TMPDIR/$method.head body=$BATS_TEST_TMPDIR/$method.body
        run curl -sS --max-time 10 -X "$method" -D "$head" -o "$body" "$BASE_URL/events"
        assert_success
        run http_status "$head"
        assert_output 405
        run http_header "$head" Allow
        assert_output 'GET, HEAD'
        run http_header "$head" Content-Type
        assert_output --regexp '^text/plain(;|$)'
        # One line: non-empty, ends with LF, no other LF.
        run wc -l <"$body"
        assert_output 1
        run tail -c 1 "$body"
        assert_output ''
        [[ $(head -c 1 "$body") != '' ]]
        run cat "$body"
        assert_output --partial 'GET'
    done
}

@test "the worker answers 404 to paths other than /events (direct FastCGI)" {
    local uri out=$BATS_TEST_TMPDIR/response
    for uri in / /nope /events/ /events/x /eventsx /Events; do
        fcgi_request "127.0.0.1:$WORKER_PORT" GET "$uri" >"$out"
        run cgi_head "$out"
        assert_line --index 0 'Status: 404 Not Found'
        assert_line --regexp '^Content-Type: text/plain(;.*)?$'
        # The body is one line.
        run cgi_body "$out"
        assert_equal "${#lines[@]}" 1
        assert_output --partial 'not found'
        ends_with "$out" '\n'
    done
}

@test "nginx serves the demo page at / and its script opens an EventSource on /events" {
    local page=$BATS_TEST_TMPDIR/index.html scripts=$BATS_TEST_TMPDIR/scripts
    run curl -sS --max-time 10 -D "$page.head" -o "$page" "$BASE_URL/"
    assert_success
    run http_status "$page.head"
    assert_output 200
    run http_header "$page.head" Content-Type
    assert_output --regexp '^text/html'
    run grep -c '<script type="module" src="app.js"' "$page"
    assert_output 1

    # app.js and every module it imports: a browser runs a module only when
    # it comes as JavaScript.
    mkdir -p "$scripts"
    local todo=(app.js) name seen=" "
    while ((${#todo[@]} > 0)); do
        name=${todo[0]}
        todo=("${todo[@]:1}")
        [[ $seen != *" $name "* ]] || continue
        seen+="$name "
        run curl -sS --max-time 10 -D "$scripts/$name.head" -o "$scripts/$name" "$BASE_URL/$name"
        assert_success
        run http_status "$scripts/$name.head"
        assert_output 200
        run http_header "$scripts/$name.head" Content-Type
        assert_output --regexp '^application/javascript'
        mapfile -t -O "${#todo[@]}" todo < <(sed -n 's|^import .* from "\./\([a-z-]*\.js\)";$|\1|p' "$scripts/$name")
    done
    [[ $seen == *" sse-parse.js "* && $seen == *" connection.js "* ]]
    # tests/browser.bats watches a real browser open it; here, that it is there.
    cat "$scripts"/*.js >"$BATS_TEST_TMPDIR/all.js"
    run grep -cE 'new EventSource\(|"/events\?"' "$BATS_TEST_TMPDIR/all.js"
    assert_output 2
}

@test "HEAD /events answers the event-stream head with no body and opens no stream" {
    local before
    before=$(grep -c ' open from ' "$STACK_DIR/worker.log" || true)
    # -I prints the head only; a body would follow it in the output.
    run curl -sS --max-time 10 -I "$BASE_URL/events"
    assert_success
    assert_line --index 0 --regexp '^HTTP/1\.1 200 OK'
    assert_line --regexp $'^Content-Type: text/event-stream\r$'
    assert_line --regexp $'^Cache-Control: no-cache\r$'
    refute_line --partial 'retry:'
    assert_equal "$(grep -c ' open from ' "$STACK_DIR/worker.log" || true)" "$before"
}
