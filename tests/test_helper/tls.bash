# The test stack with HTTPS and HTTP/2 beside plain HTTP: start_tls_stack
# instead of start_stack. Load after common.bash.
# shellcheck shell=bash

# start_tls_stack [worker args...]: start_stack, plus a TLS listener with a
# certificate made for this test file (scripts/make-cert); sets TLS_PORT,
# HTTPS_URL and TLS_CERT (curl --cacert "$TLS_CERT" trusts it).
start_tls_stack() {
    local paths
    TLS_PORT=$("$ROOT/scripts/free-port")
    mapfile -t paths < <("$ROOT/scripts/make-cert" "$BATS_FILE_TMPDIR/tls")
    TLS_CERT=${paths[0]}
    TLS_KEY=${paths[1]}
    HTTPS_URL="https://127.0.0.1:$TLS_PORT"
    export TLS_PORT TLS_CERT TLS_KEY HTTPS_URL
    TLS_LISTEN="127.0.0.1:$TLS_PORT" start_stack "$@"
    wait_until 10 curl -sf --max-time 2 --cacert "$TLS_CERT" -o /dev/null "$HTTPS_URL/"
}
