# Helpers for the hub tests: counters from /stats, publishing, parsed data.
# Load after common and sse. Uses BASE_URL (start_stack) and TOKEN.
# shellcheck shell=bash

# stat JQ-FILTER: one value from /stats.
stat() {
    curl -sS --max-time 10 "$BASE_URL/stats" | jq -r "$1"
}

# streams_open N: the hub counts exactly N open streams (for wait_until).
streams_open() {
    [[ $(stat .streams) == "$1" ]]
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
