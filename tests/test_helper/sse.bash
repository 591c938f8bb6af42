# Helpers for the SSE tests: an event-stream parser that follows the WHATWG
# rules, background processes that are always cleaned up (clients, extra
# workers), direct FastCGI requests and HTTP header look-ups.
# Load after common.bash: `load test_helper/common; load test_helper/sse`.
# shellcheck shell=bash

# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------

# The parser proper (POSIX awk: runs under mawk and gawk). It implements the
# "interpreting an event stream" steps of the HTML standard:
#  - a line ends at CRLF, LF or a lone CR (with -v stamped=1 each input line
#    is "ARRIVAL-TIME text" as printed by sse_stamp, split again at CRs);
#  - a blank line dispatches the event; an event whose data buffer is empty
#    is not dispatched (its type buffer is reset);
#  - "field: value" splits at the first colon, one leading space of the
#    value is dropped; a line without a colon is a field with an empty value;
#  - comment lines start with a colon;
#  - data lines are joined with LF; the last event id persists across
#    events; retry takes ASCII digits only; unknown fields are ignored;
#  - a line or an event cut off by the end of the input is discarded (the
#    input must end with the sentinel character \036, added by sse_parse, so
#    that a line still being written is not taken as complete).
# Output, one line per record: [ARRIVAL<TAB>]TYPE<TAB>LAST-EVENT-ID<TAB>DATA,
# with backslash, LF, CR and TAB in the fields written as \\, \n, \r and \t.
# With -v all=1 comments and valid retry fields are records too, in stream
# order: TYPE ":comment" (DATA = the text after ": ") and ":retry" (DATA =
# the delay in ms).
# shellcheck disable=SC2016 # awk code, not shell
SSE_AWK='
function repl(s, from, to,    n, parts, i, out) {
    n = split(s, parts, from)
    out = parts[1]
    for (i = 2; i <= n; i++)
        out = out to parts[i]
    return out
}
function esc(s) {
    s = repl(s, "\\", "\\\\")
    s = repl(s, "\n", "\\n")
    s = repl(s, "\r", "\\r")
    return repl(s, "\t", "\\t")
}
function emit(type, value) {
    if (stamped)
        printf "%s\t", when
    printf "%s\t%s\t%s\n", esc(type), esc(last_id), esc(value)
}
function dispatch() {
    if (data == "") {
        type = ""
        return
    }
    data = substr(data, 1, length(data) - 1)   # the last LF
    emit(type == "" ? "message" : type, data)
    data = ""
    type = ""
}
function process(line,    i, field, value) {
    if (line == "") {
        dispatch()
        return
    }
    i = index(line, ":")
    if (i == 1) {
        if (all) {
            value = substr(line, 2)
            if (substr(value, 1, 1) == " ")
                value = substr(value, 2)
            emit(":comment", value)
        }
        return
    }
    if (i > 1) {
        field = substr(line, 1, i - 1)
        value = substr(line, i + 1)
        if (substr(value, 1, 1) == " ")
            value = substr(value, 2)
    } else {
        field = line
        value = ""
    }
    if (field == "event")
        type = value
    else if (field == "data")
        data = data value "\n"
    else if (field == "id")
        last_id = value
    else if (field == "retry") {
        if (value ~ /^[0-9]+$/ && all)
            emit(":retry", value)
    }
}
BEGIN {
    if (!stamped)
        RS = "\r\n|\r|\n"
    sentinel = sprintf("%c", 30)
    first = 1
}
{
    line = $0
    if (index(line, sentinel)) {   # the end of the input
        exit
    }
    if (stamped) {
        when = substr(line, 1, index(line, " ") - 1)
        line = substr(line, index(line, " ") + 1)
    }
    if (first) {
        first = 0
        if (substr(line, 1, 3) == "\357\273\277")   # a UTF-8 BOM
            line = substr(line, 4)
    }
    if (!stamped) {
        process(line)
        next
    }
    # Stamped lines were split at LF only: CRLF and lone CRs end lines too.
    n = split(line, pieces, "\r")
    if (n == 0)
        pieces[++n] = ""   # an empty line: split() gives no piece
    else if (n > 1 && pieces[n] == "")
        n--
    for (k = 1; k <= n; k++)
        process(pieces[k])
}
'

# sse_parse [-a] [-t] [FILE...]: the events in a raw text/event-stream (the
# files, or stdin), one record per line as described above. -a: comments and
# retry fields as records too. -t: the input is stamped (sse_stamp) and each
# record starts with the arrival time of the blank line that completed it.
# Safe on a file that is still being written: incomplete events are dropped.
sse_parse() {
    local all=0 stamped=0
    while [[ ${1:-} == -* ]]; do
        case $1 in
            -a) all=1 ;;
            -t) stamped=1 ;;
            -at | -ta) all=1 stamped=1 ;;
            *) echo "sse_parse: unknown option $1" >&2; return 2 ;;
        esac
        shift
    done
    { cat -- "$@"; printf '\036'; } | awk -v all="$all" -v stamped="$stamped" "$SSE_AWK"
}

# sse_stamp: copies stdin to stdout, each complete line prefixed with its
# arrival time ($EPOCHREALTIME, seconds with microseconds) and a space. An
# unterminated last line is dropped.
sse_stamp() {
    local line
    while IFS= read -r line; do
        printf '%s %s\n' "$EPOCHREALTIME" "$line"
    done
}

# sse_count FILE [TYPE]: how many complete events (of TYPE) FILE holds.
sse_count() {
    local file=$1 type=${2:-}
    sse_parse "$file" | awk -F '\t' -v type="$type" 'type == "" || $1 == type { n++ } END { print n + 0 }'
}

# sse_has FILE N [TYPE]: FILE holds at least N complete events (of TYPE).
# For wait_until.
sse_has() {
    (($(sse_count "$1" "${3:-}") >= $2))
}

# sse_comments FILE TEXT: how many comments with exactly TEXT FILE holds.
sse_comments() {
    sse_parse -a "$1" | awk -F '\t' -v text="$2" '$1 == ":comment" && $3 == text { n++ } END { print n + 0 }'
}

# sse_has_comments FILE N TEXT: at least N such comments. For wait_until.
sse_has_comments() {
    (($(sse_comments "$1" "$3") >= $2))
}

# iso_epoch TIME: 2026-11-25T09:13:17.779Z as epoch seconds (1795597997.779).
iso_epoch() {
    local t=$1
    [[ $t =~ ^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})\.([0-9]{3})Z$ ]] || {
        echo "iso_epoch: not an ISO-8601 UTC time with milliseconds: $t" >&2
        return 1
    }
    printf '%s.%s\n' "$(date -u -d "${BASH_REMATCH[1]}Z" +%s)" "${BASH_REMATCH[2]}"
}

# tick_times FILE: for each tick in a stamped capture (sse_stamp output),
# "ARRIVAL SERVER-TIME SEQ ID", both times in epoch seconds.
tick_times() {
    local arrival type id data time seq
    while IFS=$'\t' read -r arrival type id data; do
        [[ $type == tick ]] || continue
        time=$(jq -er '.time' <<<"$data") || return 1
        seq=$(jq -er '.seq' <<<"$data") || return 1
        echo "$arrival $(iso_epoch "$time") $seq $id"
    done < <(sse_parse -t "$1")
}

# ---------------------------------------------------------------------------
# Background processes
# ---------------------------------------------------------------------------
# bg_start PREFIX COMMAND...: runs COMMAND in the background with stdin from
# /dev/null, stdout to PREFIX.out, stderr appended to PREFIX.log; its pid goes
# to PREFIX.pid and, once it ends, its exit status to PREFIX.exit (so
# PREFIX=DIR/worker matches the layout of start_worker, and stop_worker and
# worker_log_clean work on it). With BG_STAMP=1, stdout also goes through
# sse_stamp into PREFIX.stamped. Every PREFIX is registered; bg_stop_all ends
# whatever is left.

bg_registry() {
    echo "${BATS_FILE_TMPDIR:?}/bg.list"
}

bg_start() {
    local prefix=$1
    shift
    mkdir -p "$(dirname "$prefix")"
    rm -f "$prefix".{pid,exit,exit.tmp,out,stamped}
    echo "$prefix" >>"$(bg_registry)"
    if [[ ${BG_STAMP:-0} == 1 ]]; then
        # The status is published only after the stamper wrote its last line.
        (
            (
                "$@" 2>>"$prefix.log" &
                echo $! >"$prefix.pid"
                status=0
                wait $! || status=$?
                echo "$status" >"$prefix.exit.tmp"
            ) | tee "$prefix.out" | sse_stamp >"$prefix.stamped"
            mv "$prefix.exit.tmp" "$prefix.exit"
        ) </dev/null 3>&- &
    else
        (
            "$@" >"$prefix.out" 2>>"$prefix.log" &
            echo $! >"$prefix.pid"
            # Under errexit (bats sets -e) a bare `wait` would end the
            # subshell on a non-zero status before the status is written.
            status=0
            wait $! || status=$?
            echo "$status" >"$prefix.exit"
        ) </dev/null >/dev/null 3>&- &
    fi
}

# bg_pid PREFIX: the pid (waits briefly for the pid file to be written).
bg_pid() {
    wait_until 5 test -s "$1.pid" && cat "$1.pid"
}

# bg_running PREFIX: the process has not ended yet.
bg_running() {
    [[ ! -f $1.exit ]]
}

# bg_exit PREFIX: prints the exit status once the process has ended.
bg_exit() {
    cat "$1.exit"
}

# bg_wait PREFIX [SECONDS]: waits (bounded, default 10 s) for the process to
# end on its own.
bg_wait() {
    wait_until "${2:-10}" test -f "$1.exit"
}

# bg_signal PREFIX SIGNAL: sends SIGNAL unless the process has ended.
bg_signal() {
    local pid
    bg_running "$1" || return 0
    pid=$(bg_pid "$1") || return 1
    kill -s "$2" "$pid" 2>/dev/null || true
}

# bg_stop PREFIX [SIGNAL]: SIGNAL (default TERM), a bounded wait for the end,
# SIGKILL if it does not come.
bg_stop() {
    bg_signal "$1" "${2:-TERM}"
    if ! bg_wait "$1" 15 2>/dev/null; then
        bg_signal "$1" KILL
        bg_wait "$1" 5
    fi
}

# bg_stop_all: ends every registered process still running (TERM to all,
# then a bounded wait, then KILL). For teardown; always succeeds.
bg_stop_all() {
    local registry prefix pid
    registry=$(bg_registry)
    [[ -f $registry ]] || return 0
    local -a left=()
    while IFS= read -r prefix; do
        if bg_running "$prefix"; then
            left+=("$prefix")
            pid=$(cat "$prefix.pid" 2>/dev/null) && kill -TERM "$pid" 2>/dev/null
        fi
    done <"$registry"
    for prefix in "${left[@]}"; do
        if ! wait_until 10 test -f "$prefix.exit" 2>/dev/null; then
            pid=$(cat "$prefix.pid" 2>/dev/null) && kill -KILL "$pid" 2>/dev/null
            wait_until 5 test -f "$prefix.exit" 2>/dev/null
        fi
    done
    : >"$registry"
    return 0
}

# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------

# sse_client PREFIX URL [curl args...]: a background `curl -N` on URL; the
# body goes to PREFIX.out, the response head to PREFIX.head. Gives up after
# SSE_MAX_TIME seconds (default 60).
sse_client() {
    local prefix=$1 url=$2
    shift 2
    bg_start "$prefix" curl -sS -N --max-time "${SSE_MAX_TIME:-60}" \
        -D "$prefix.head" "$@" "$url"
}

# fcgi_env METHOD URI: the CGI variables nginx would send, for cgi-fcgi.
fcgi_env() {
    local uri=$2
    printf '%s\n' "PATH=$PATH" "REQUEST_METHOD=$1" "REQUEST_URI=$uri" \
        "DOCUMENT_URI=${uri%%\?*}" "QUERY_STRING=" "SERVER_PROTOCOL=HTTP/1.1" \
        "REMOTE_ADDR=127.0.0.1"
}

# fcgi_client PREFIX CONNECT [METHOD [URI]]: a background FastCGI request
# straight to a worker (CONNECT: host:port or a unix socket path); the raw
# CGI response (head with CRLFs, blank line, body) goes to PREFIX.out.
fcgi_client() {
    local prefix=$1 connect=$2 method=${3:-GET} uri=${4:-/events}
    local -a vars
    mapfile -t vars < <(fcgi_env "$method" "$uri")
    bg_start "$prefix" env -i "${vars[@]}" cgi-fcgi -bind -connect "$connect"
}

# fcgi_request CONNECT METHOD URI: the same request in the foreground, for
# responses that end (404, 405); bounded by a 10 s timeout.
fcgi_request() {
    local connect=$1 method=$2 uri=$3
    local -a vars
    mapfile -t vars < <(fcgi_env "$method" "$uri")
    timeout 10 env -i "${vars[@]}" cgi-fcgi -bind -connect "$connect" </dev/null
}

# cgi_body FILE: the bytes after the first blank (CRLF) line of a raw CGI
# response, unchanged (GNU sed keeps a missing final newline missing).
cgi_body() {
    sed -e '1,/^\r$/d' "$1"
}

# cgi_head FILE: the head of a raw CGI response, CRs removed.
cgi_head() {
    sed -e '/^\r$/q' "$1" | tr -d '\r' | sed -e '/^$/d'
}

# http_status FILE: the status code in a response head (curl -D output).
http_status() {
    awk 'NR == 1 { print $2; exit }' "$1"
}

# http_header FILE NAME: the value of every NAME header line (name case-
# insensitive, CR and surrounding blanks removed), one per line; fails if
# there is none.
http_header() {
    awk -v name="$2" '
        { sub(/\r$/, "") }
        index($0, ":") > 1 && tolower(substr($0, 1, index($0, ":") - 1)) == tolower(name) {
            v = substr($0, index($0, ":") + 1)
            sub(/^[ \t]+/, "", v)
            sub(/[ \t]+$/, "", v)
            print v
            found = 1
        }
        END { exit !found }' "$1"
}

# aux_worker PREFIX [VAR=value...] [worker args...]: one more worker (not
# the stack's) on a free port of its own, run through bg_start with the given
# environment variables. Sets AUX_PORT; waits (bounded) until the port
# accepts connections.
aux_worker() {
    local prefix=$1
    shift
    local -a vars=()
    while [[ ${1:-} == [A-Z]*=* ]]; do
        vars+=("$1")
        shift
    done
    AUX_PORT=$("$ROOT/scripts/free-port") || return 1
    bg_start "$prefix" env "${vars[@]}" "$SSE_WORKER" --listen "127.0.0.1:$AUX_PORT" "$@"
    wait_until 10 port_open "$AUX_PORT"
}
