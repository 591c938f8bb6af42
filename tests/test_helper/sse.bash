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
#  - a line or an event cut off by the end of the input is discarded (each
#    stream must end with the sentinel character \036 and a LF, added by
#    sse_parse, so that a line still being written is not taken as
#    complete). Several streams can follow each other: each sentinel ends
#    one and the parser starts afresh.
# Output, one line per record:
#   [STREAM<TAB>][ARRIVAL<TAB>]TYPE<TAB>LAST-EVENT-ID<TAB>DATA
# with backslash, LF, CR and TAB in the fields written as \\, \n, \r and \t;
# STREAM (with -v multi=1) is the stream's number, from 1.
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
    if (multi)
        printf "%d\t", stream
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
function reset() {
    data = ""
    type = ""
    last_id = ""
    first = 1
    stream++
}
BEGIN {
    if (!stamped)
        RS = "\r\n|\r|\n"
    sentinel = sprintf("%c", 30)
    reset()
}
{
    line = $0
    if (index(line, sentinel)) {   # the end of a stream (and of any partial line)
        reset()
        next
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

# sse_parse [-a] [-t] [-m] [FILE...]: the events in a raw text/event-stream
# (stdin, or each FILE as a stream of its own), one record per line as
# described above. -a: comments and retry fields as records too. -t: the
# input is stamped (sse_stamp) and each record starts with the arrival time
# of the line that completed it. -m: each record starts with the number of
# the FILE it comes from. Safe on files still being written: incomplete
# lines and events are dropped.
sse_parse() {
    local all=0 stamped=0 multi=0 opt
    while [[ ${1:-} == -?* ]]; do
        opt=${1#-}
        shift
        while [[ -n $opt ]]; do
            case ${opt:0:1} in
                a) all=1 ;;
                t) stamped=1 ;;
                m) multi=1 ;;
                *) echo "sse_parse: unknown option -${opt:0:1}" >&2; return 2 ;;
            esac
            opt=${opt:1}
        done
    done
    local file text
    if (($# == 0)); then
        cat
        printf '\036\n'
    else
        # The read builtin, not cat: a fork per file costs tens of ms here.
        # A missing file reads as an empty stream.
        for file; do
            text=''
            IFS= read -r -d '' text 2>/dev/null <"$file" || true
            printf '%s\036\n' "$text"
        done
    fi | awk -v all="$all" -v stamped="$stamped" -v multi="$multi" "$SSE_AWK"
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
    sse_parse -a "$1" | SSE_TEXT=$2 awk -F '\t' '$1 == ":comment" && $3 == ENVIRON["SSE_TEXT"] { n++ } END { print n + 0 }'
}

# sse_has_comments FILE N TEXT: at least N such comments. For wait_until.
sse_has_comments() {
    (($(sse_comments "$1" "$3") >= $2))
}

# sse_lacking BLOCK FILE...: the numbers (from 1, in argument order) of the
# FILEs whose parsed events do not hold BLOCK, one or more records as printed
# by sse_parse (LF-separated), as a consecutive run; fails if there are any.
# One parser run over all the files, so it is cheap enough to poll.
sse_lacking() {
    local block=$1
    shift
    # Through the environment: awk -v would expand the \n escapes in BLOCK.
    sse_parse -m "$@" | SSE_BLOCK=$block awk -F '\t' -v n="$#" '
        BEGIN { len = split(ENVIRON["SSE_BLOCK"], want, "\n") }
        {
            s = $1
            rec = substr($0, length(s) + 2)
            if (found[s]) next
            # Extend the current match or start over.
            if (rec == want[pos[s] + 1]) pos[s]++
            else pos[s] = (rec == want[1]) ? 1 : 0
            if (pos[s] == len) found[s] = 1
        }
        END {
            for (i = 1; i <= n; i++)
                if (!found[i]) { print i; bad = 1 }
            exit bad
        }'
}

# ---------------------------------------------------------------------------
# Background processes
# ---------------------------------------------------------------------------
# bg_start PREFIX COMMAND...: runs COMMAND in the background with stdin from
# /dev/null, stdout to PREFIX.out, stderr appended to PREFIX.log; its pid goes
# to PREFIX.pid and, once it ends, its exit status to PREFIX.exit (so
# PREFIX=DIR/worker matches the layout of start_worker, and stop_worker and
# worker_log_clean work on it). With BG_STAMP=1, stdout also goes through
# sse_stamp into PREFIX.stamped. Every PREFIX is registered (unless
# BG_UNREGISTERED=1); bg_stop_all ends whatever is left.

bg_registry() {
    echo "${BATS_FILE_TMPDIR:?}/bg.list" # bg_start spells it out: no fork
}

bg_start() {
    local prefix=$1
    shift
    [[ $prefix != */* ]] || mkdir -p "${prefix%/*}"
    rm -f "$prefix".{pid,exit,exit.tmp,out,stamped}
    [[ ${BG_UNREGISTERED:-0} == 1 ]] || echo "$prefix" >>"${BATS_FILE_TMPDIR:?}/bg.list"
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
            bg_signal "$prefix" TERM
        fi
    done <"$registry"
    for prefix in "${left[@]}"; do
        if ! wait_until 10 test -f "$prefix.exit" 2>/dev/null; then
            bg_signal "$prefix" KILL
            wait_until 5 test -f "$prefix.exit" 2>/dev/null
        fi
    done
    : >"$registry"
    return 0
}

# ---------------------------------------------------------------------------
# Clients (curl through nginx, cgi-fcgi straight to a worker)
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

# ---------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------

# cgi_body FILE: the bytes after the first blank (CRLF) line of a raw CGI
# response, unchanged (GNU sed keeps a missing final newline missing).
cgi_body() {
    sed -e '1,/^\r$/d' "$1"
}

# cgi_body_size_at_least FILE N: the body holds N bytes or more.
cgi_body_size_at_least() {
    (($(cgi_body "$1" | wc -c) >= $2))
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

# ends_with FILE TEXT: FILE's last bytes are exactly TEXT (backslash escapes
# in TEXT are expanded as by printf %b, e.g. \n). Prints both on a mismatch.
ends_with() {
    local want got
    want=$(printf '%b' "$2" | od -An -c)
    got=$(tail -c "$(printf '%b' "$2" | wc -c)" "$1" | od -An -c)
    [[ $got == "$want" ]] || {
        printf 'ends_with %s: want\n%s\ngot\n%s\n' "$1" "$want" "$got"
        return 1
    }
}

# starts_with FILE TEXT: FILE's first bytes are exactly TEXT (as above).
starts_with() {
    local want got
    want=$(printf '%b' "$2" | od -An -c)
    got=$(head -c "$(printf '%b' "$2" | wc -c)" "$1" | od -An -c)
    [[ $got == "$want" ]] || {
        printf 'starts_with %s: want\n%s\ngot\n%s\n' "$1" "$want" "$got"
        return 1
    }
}

# ---------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------

# fds_are PID N: the process has exactly N open file descriptors. For
# wait_until: every open stream holds one in the worker.
fds_are() {
    (($(fd_count "$1") == $2))
}

# threads_are PID N: the process has exactly N threads. For wait_until.
threads_are() {
    (($(thread_count "$1") == $2))
}

# quietly COMMAND...: COMMAND with its stdout discarded. For wait_until on
# functions that print what they find.
quietly() {
    "$@" >/dev/null
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

# stack_worker_restart [worker args...]: stops the stack's worker and starts
# a new one on the same port (nginx keeps pointing at it), through bg_start
# so that its exit status is recorded whatever it is. Not registered for
# bg_stop_all: stop_stack ends it. Sets WORKER_PID.
stack_worker_restart() {
    stop_worker "$STACK_DIR"
    BG_UNREGISTERED=1 bg_start "$STACK_DIR/worker" \
        "$SSE_WORKER" --listen "127.0.0.1:$WORKER_PORT" "$@"
    wait_until 10 port_open "$WORKER_PORT"
    WORKER_PID=$(bg_pid "$STACK_DIR/worker")
    export WORKER_PID
}
