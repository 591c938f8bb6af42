# The redis image for docker-compose.yml, built with the repository as its
# context: Debian's redis-server, nothing else. The workers keep their shared
# event log in it, one Redis Stream that XADD trims to about --history
# events (README, "Scaling out"); the append-only file on the compose volume
# `redis-data` keeps that log across restarts of this container, so browsers
# resume with no gap even after every container was recreated.

FROM debian:bookworm-slim
# redis-server brings redis-tools (redis-cli: the compose health check).
# /data belongs to the user redis, and a fresh named volume mounted there
# starts as a copy of it, owner included.
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data \
    && chown redis:redis /data
USER redis:redis
WORKDIR /data
VOLUME /data
EXPOSE 6379
# SIGTERM: Redis flushes the append-only file and exits 0.
STOPSIGNAL SIGTERM
# No config file: every setting is here. Inside the compose network only
# (the service publishes no port), so it listens on every address without a
# password and protected mode, which would refuse the workers' non-loopback
# connections, is off. Append-only file, fsynced every second (an event a
# publisher was told 200 for is lost only if the host itself crashes within
# that second); no RDB snapshots: the AOF alone rebuilds the log. Logs to
# stdout, for `docker compose logs`.
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--port", "6379", \
     "--dir", "/data", "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", \
     "--daemonize", "no", "--logfile", ""]
