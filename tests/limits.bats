#!/usr/bin/env bats
# The hub's limits and counters: the stream limit, slow clients, /stats, /metrics.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse
load test_helper/hub

TOKEN=limits-token-0123456789

export SSE_PUBLISH_TOKEN=$TOKEN
# Big events and a short history make a stalled client fall behind fast.
stack_for_file --tick-ms 0 --max-streams 3 --max-topics 4 --history 4 --max-body 1048576

# worker_holds THREADS FDS: the worker has exactly that many of each.
worker_holds() {
    (($(thread_count "$WORKER_PID") == $1 && $(fd_count "$WORKER_PID") == $2))
}

@test "past --max-streams a stream gets 503 with a jittered Retry-After, and the limit frees up as streams close" {
    local i
    for i in 1 2 3; do
        sse_client "$BATS_TEST_TMPDIR/s$i" "$BASE_URL/events?topic=full"
    done
    wait_until 20 streams_open 3
    local rejected
    rejected=$(stats_value .streams_rejected)

    local -A seen=()
    for i in $(seq 1 12); do
        local head=$BATS_TEST_TMPDIR/503.$i.head
        run curl -sS --max-time 10 -D "$head" "$BASE_URL/events?topic=full"
        assert_output 'too many open streams'
        assert_equal "$(http_status "$head")" 503
        local after
        after=$(http_header "$head" Retry-After)
        [[ $after =~ ^[0-9]+$ ]] && ((after >= 5 && after <= 15))
        seen[$after]=1
    done
    # Jitter: twelve refusals do not all name the same delay.
    ((${#seen[@]} > 1))
    assert_equal "$(stats_value .streams_rejected)" "$((rejected + 12))"

    bg_stop "$BATS_TEST_TMPDIR/s1"
    wait_until 10 streams_open 2
    sse_client "$BATS_TEST_TMPDIR/s4" "$BASE_URL/events?topic=full"
    wait_until 10 streams_open 3
    run http_status "$BATS_TEST_TMPDIR/s4.head"
    assert_output 200
}

@test "a stream may name at most --max-topics topics, and only well-formed ones" {
    run curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
        "$BASE_URL/events?topic=a&topic=b&topic=c&topic=d&topic=e"
    assert_output 400
    run curl -sS --max-time 10 "$BASE_URL/events?topic=a&topic=b&topic=c&topic=d&topic=e"
    assert_output 'too many topics'
    run curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$BASE_URL/events?topic=a%20b"
    assert_output 400
    run curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$BASE_URL/events?topic=a%zz"
    assert_output 400
}

@test "a stalled client that falls behind the history is disconnected and counted, and others are not held up" {
    local big=$BATS_TEST_TMPDIR/big.txt
    head -c 900000 /dev/zero | tr '\0' x >"$big"
    sse_client "$BATS_TEST_TMPDIR/slow" "$BASE_URL/events?topic=flood"
    sse_client "$BATS_TEST_TMPDIR/fast" "$BASE_URL/events?topic=flood"
    wait_until 20 streams_open 2
    local dropped
    dropped=$(stats_value .dropped)

    # Stop reading: the kernel and nginx buffers fill, the worker's write
    # blocks, and the ring of 4 events moves on without this stream.
    bg_signal "$BATS_TEST_TMPDIR/slow" STOP
    local i
    for i in $(seq 1 40); do
        publish flood "@$big" >/dev/null
    done
    # The publisher was never blocked, and the other client got everything.
    wait_until 30 sse_has "$BATS_TEST_TMPDIR/fast.out" 40

    bg_signal "$BATS_TEST_TMPDIR/slow" CONT
    wait_until 30 bg_wait "$BATS_TEST_TMPDIR/slow" 1
    assert_equal "$(stats_value .dropped)" "$((dropped + 1))"
    # It was told why before its stream ended, and got fewer than 40 events.
    run sse_comments "$BATS_TEST_TMPDIR/slow.out" 'too far behind: reconnect to resume from Last-Event-ID'
    assert_output 1
    (($(sse_count "$BATS_TEST_TMPDIR/slow.out") < 40))
}

@test "an open stream costs the worker one file descriptor and no thread, and a killed client's is released" {
    wait_until 10 streams_open 0
    local threads fds
    threads=$(thread_count "$WORKER_PID")
    fds=$(fd_count "$WORKER_PID")
    sse_client "$BATS_TEST_TMPDIR/k" "$BASE_URL/events?topic=kill"
    wait_until 10 streams_open 1
    # The request thread that did the handshake ends; the socket stays.
    wait_until 10 worker_holds "$threads" "$((fds + 1))"
    bg_stop "$BATS_TEST_TMPDIR/k" KILL
    wait_until 10 streams_open 0
    wait_until 10 worker_holds "$threads" "$fds"
}

@test "/stats is JSON with streams, per-topic counts, published, delivered, dropped and uptime" {
    sse_client "$BATS_TEST_TMPDIR/a" "$BASE_URL/events?topic=st-a&topic=st-b"
    wait_until 10 streams_open 1
    local before delivered
    before=$(stats_value .published)
    delivered=$(stats_value .delivered)
    publish st-a one >/dev/null
    publish st-a one >/dev/null
    wait_until 10 sse_has "$BATS_TEST_TMPDIR/a.out" 2

    run curl -sS --max-time 10 -D "$BATS_TEST_TMPDIR/h" "$BASE_URL/stats"
    assert_equal "$(http_header "$BATS_TEST_TMPDIR/h" Content-Type)" application/json
    run jq -e --argjson before "$before" --argjson delivered "$delivered" '
        .streams == 1 and .published == $before + 2 and .delivered == $delivered + 2
        and .topics["st-a"] == {"streams": 1, "published": 2}
        and .topics["st-b"] == {"streams": 1, "published": 0}
        and (.uptime | type == "number" and . > 0)
        and (.dropped | type == "number") and (.history | type == "number")' <<<"$output"
    assert_success
}

@test "/metrics is Prometheus text with a HELP and TYPE for every family" {
    run curl -sS --max-time 10 -D "$BATS_TEST_TMPDIR/h" "$BASE_URL/metrics"
    assert_success
    assert_line --regexp '^sse_streams [0-9]+$'
    assert_line --regexp '^sse_published_total [0-9]+$'
    assert_line --regexp '^sse_delivered_total [0-9]+$'
    assert_line --regexp '^sse_dropped_total [0-9]+$'
    assert_line --regexp '^sse_uptime_seconds [0-9.]+$'
    assert_line --regexp '^sse_topic_published_total\{topic="[^"]+"\} [0-9]+$'
    assert_equal "$(http_header "$BATS_TEST_TMPDIR/h" Content-Type)" 'text/plain; version=0.0.4; charset=utf-8'
    # Every sample's family was declared before it, and families are not split.
    run awk '
        /^# TYPE / { if ($3 in typed) { print "TYPE twice: " $3; bad = 1 } typed[$3] = 1; cur = $3; next }
        /^#/ { next }
        { name = $1; sub(/\{.*/, "", name)
          if (name != cur) { print "sample outside its family: " $0; bad = 1 } }
        END { exit bad }' <<<"$output"
    assert_success
}

@test "GET on /publish, POST on /stats: 405 with the right Allow" {
    run curl -sS --max-time 10 -D "$BATS_TEST_TMPDIR/h" "$BASE_URL/publish"
    assert_equal "$(http_status "$BATS_TEST_TMPDIR/h")" 405
    assert_equal "$(http_header "$BATS_TEST_TMPDIR/h" Allow)" POST
    run curl -sS --max-time 10 -D "$BATS_TEST_TMPDIR/h" -X POST "$BASE_URL/stats"
    assert_equal "$(http_status "$BATS_TEST_TMPDIR/h")" 405
    assert_equal "$(http_header "$BATS_TEST_TMPDIR/h" Allow)" GET
}

# fcgi_get_events PORT <QUERY: GET /events with the query string read from
# stdin, straight over FastCGI (a query far beyond what nginx, an argument
# or an environment variable carries); prints the CGI response.
fcgi_get_events() {
    perl -MIO::Socket::INET -e '
        my $port = $ARGV[0];
        my $query = do { local $/; <STDIN> };
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port) or die "connect: $!";
        sub record { my ($type, $body) = @_;
            pack("CCnnCC", 1, $type, 1, length($body), 0, 0) . $body }
        sub len { my $n = length(shift); $n < 128 ? pack("C", $n) : pack("N", $n | 0x80000000) }
        my %p = (REQUEST_METHOD => "GET", DOCUMENT_URI => "/events", QUERY_STRING => $query,
                 REMOTE_ADDR => "127.0.0.1");
        my $params = join "", map { len($_) . len($p{$_}) . $_ . $p{$_} } sort keys %p;
        my $out = record(1, pack("nCx5", 1, 0));
        $out .= record(4, substr($params, $_ * 65535, 65535)) for 0 .. int(length($params) / 65535);
        $out .= record(4, "") . record(5, "");
        print $s $out;
        my ($head, $body, $reply) = ("", "", "");
        while (1) {
            read($s, $head, 8) == 8 or last;
            my (undef, $type, undef, $n, $pad) = unpack("CCnnC", $head);
            read($s, $body, $n + $pad) if $n + $pad;
            $reply .= substr($body, 0, $n) if $type == 6;
            last if $type == 3;
        }
        print $reply;' "$1"
}

@test "a stream naming 100,000 topics is refused with 400 'too many topics' before its query is even parsed" {
    local query=$BATS_TEST_TMPDIR/query
    printf 'topic=t&%.0s' $(seq 1 100000) >"$query"
    run fcgi_get_events "$WORKER_PORT" <"$query"
    assert_output --partial 'Status: 400'
    assert_output --partial 'too many topics'
    # Bounded first, parsed second: the broken escape at the end is never
    # looked at.
    printf 'topic=%%zz' >>"$query"
    run fcgi_get_events "$WORKER_PORT" <"$query"
    assert_output --partial 'too many topics'
    # Plenty of other fields are refused as cheaply.
    { printf 'topic=t'; printf '&x=1%.0s' $(seq 1 100000); } >"$query"
    run fcgi_get_events "$WORKER_PORT" <"$query"
    assert_output --partial 'Status: 400'
    assert_output --partial 'too many query fields'
    # The worker still serves.
    run curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$BASE_URL/stats"
    assert_output 200
}

@test "a publish naming 100,000 topics is refused with 400 'too many topics' before its body is parsed" {
    local body=$BATS_TEST_TMPDIR/topics.form
    printf 'topic=t&%.0s' $(seq 1 100000) >"$body"
    printf 'data=x&topic=%%zz' >>"$body"
    run curl -sS --max-time 60 -H "Authorization: Bearer $TOKEN" --data-binary "@$body" \
        -D "$BATS_TEST_TMPDIR/head" "$BASE_URL/publish"
    assert_output 'too many topics'
    assert_equal "$(http_status "$BATS_TEST_TMPDIR/head")" 400
}
