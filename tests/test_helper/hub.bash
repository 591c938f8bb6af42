# Helpers for the hub tests: counters from /stats, publishing, parsed data.
# Load after common and sse. Uses BASE_URL (start_stack) and TOKEN.
# shellcheck shell=bash

# stats_value JQ-FILTER: one value from /stats.
stats_value() {
    curl -sS --max-time 10 "$BASE_URL/stats" | jq -r "$1"
}

# streams_open N: the hub counts exactly N open streams (for wait_until).
streams_open() {
    [[ $(stats_value .streams) == "$1" ]]
}

# publish TOPIC DATA: publishes DATA with the bearer $TOKEN; prints the id.
# DATA starting with @ names a file whose content is sent (curl's syntax).
publish() {
    local data="data=$2"
    [[ $2 == @* ]] && data="data$2"
    curl -sS --fail-with-body --max-time 30 -H "Authorization: Bearer $TOKEN" \
        -d "topic=$1" --data-urlencode "$data" "$BASE_URL/publish"
}

# data_of FILE: "TYPE<TAB>DATA" for each event in a captured stream.
data_of() {
    sse_parse "$1" | cut -f1,3
}

# events_arrive_one_at_a_time OUT TOPIC: publishes 5 events to TOPIC, one
# after another; each must reach OUT (a client's output, sse.bash) on its
# own, before the next is published, and the client must still be running.
events_arrive_one_at_a_time() {
    local out=$1 topic=$2 i
    wait_until 10 streams_open 1
    for i in 1 2 3 4 5; do
        publish "$topic" "event $i" >/dev/null
        wait_until 10 sse_has "$out" "$i"
        # Exactly i: none held back and released together with a later one.
        assert_equal "$(sse_count "$out")" "$i"
    done
    bg_running "${out%.out}"
    run data_of "$out"
    assert_output "$(printf 'message\tevent %s\n' 1 2 3 4 5)"
}
