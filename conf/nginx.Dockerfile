# The nginx image for docker-compose.yml, built with the repository as its
# context: Debian's nginx with its stock nginx.conf, plus the very drop-in
# files an existing nginx gets from `make install` (conf/README.md, "Add SSE to your
# nginx"): the upstream in conf.d/ (pointed at the compose workers, build
# argument SSE_WORKERS), the locations in snippets/, and a server block that
# serves www/.

FROM debian:bookworm-slim
# curl: the compose health check; openssl: the self-signed certificate.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx curl openssl \
    && rm -rf /var/lib/apt/lists/* \
    && rm -f /etc/nginx/sites-enabled/default \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
# Every stream holds two nginx connections (browser + FastCGI): Debian's
# worker_connections 768 would cap it near 380 streams per nginx worker,
# and nginx would reset the clients past that. Sized by scripts/nginx-limits
# from the workers' stream limit times their number (docker-compose.yml
# passes SSE_MAX_STREAMS to all, and SSE_WORKER_COUNT here: one nginx
# process may end up holding the streams of every worker), so past the
# limit a client gets a worker's 503 instead.
ARG SSE_MAX_STREAMS=10000
ARG SSE_WORKER_COUNT=1
COPY scripts/nginx-limits /usr/local/lib/sse-worker/nginx-limits
RUN limits=$(/usr/local/lib/sse-worker/nginx-limits "$((SSE_MAX_STREAMS * SSE_WORKER_COUNT))") \
    && set -- $limits \
    && sed -i -e "s/^\([[:space:]]*worker_connections\) 768;/\1 $1;/" \
        -e "/^pid /a worker_rlimit_nofile $2;" /etc/nginx/nginx.conf \
    && grep -q "worker_connections $1;" /etc/nginx/nginx.conf \
    && grep -q "^worker_rlimit_nofile $2;" /etc/nginx/nginx.conf
COPY scripts/render-upstream /usr/local/lib/sse-worker/render-upstream
COPY conf/sse-upstream.conf /usr/local/lib/sse-worker/sse-upstream.conf
# One `server` line per worker, comma-separated here. nginx resolves the
# names once, at its start.
ARG SSE_WORKERS=worker:9000
RUN /usr/local/lib/sse-worker/render-upstream "$SSE_WORKERS" \
        /usr/local/lib/sse-worker/sse-upstream.conf >/etc/nginx/conf.d/sse-upstream.conf \
    && rm -r /usr/local/lib/sse-worker
COPY conf/sse-locations.conf /etc/nginx/snippets/sse-locations.conf
COPY conf/docker-site.conf /etc/nginx/sites-enabled/sse-worker.conf
COPY www/ /usr/share/sse-worker/www/
COPY scripts/make-cert /usr/local/bin/sse-make-cert
EXPOSE 8080 8443
# Fast shutdown: a graceful one (SIGQUIT) would wait for every open event
# stream to end, which they never do by themselves, until docker kills it.
# Browsers reconnect after their retry delay either way.
STOPSIGNAL SIGTERM
# A self-signed localhost certificate unless /etc/nginx/tls (the compose
# volume, or a folder of your own) has one already; then nginx as PID 1.
CMD ["sh", "-c", "sse-make-cert /etc/nginx/tls >/dev/null && exec nginx -g 'daemon off;'"]
