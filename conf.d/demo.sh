#!/usr/bin/env bash
# Runs a local tokenroute gateway: redis-server (unix socket), nginx with
# the freshly built module, the built-in demo provider, and a demo key.
# Real providers switch on when OPENAI_API_KEY / ANTHROPIC_API_KEY /
# GEMINI_API_KEY are set.  Usage: demo.sh start [PORT] | demo.sh stop
set -u

repo=$(cd "$(dirname "$0")/.." && pwd)
run="$repo/build/demo"
build="${TOKENROUTE_BUILD:-$repo/build}"
nginx="${NGINX:-/usr/sbin/nginx}"
unset NGINX     # nginx would read it as inherited listening sockets

stop() {
    for name in nginx redis; do
        if [ -f "$run/$name.pid" ]; then
            pid=$(cat "$run/$name.pid")
            kill "$pid" 2>/dev/null
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            rm -f "$run/$name.pid"
        fi
    done
}

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    port="${1:-8080}"
    provider_port=$((port + 1))
    redis_port=$((port + 2))

    for p in "$port" "$provider_port" "$redis_port"; do
        if port_busy "$p"; then
            echo "demo: port $p on 127.0.0.1 is in use; try: make demo PORT=9080" >&2
            exit 1
        fi
    done

    stop
    mkdir -p "$run"
    rm -f "$run/error.log"

    # TCP on loopback: nginx's workers run as another user than the
    # master, and would not be let into a root-owned unix socket
    redis-server --bind 127.0.0.1 --port "$redis_port" --save '' \
        --appendonly no --dir "$run" --pidfile "$run/redis.pid" \
        --daemonize yes --logfile "$run/redis.log" || exit 1

    redis="127.0.0.1:$redis_port"

    for _ in $(seq 50); do
        port_busy "$redis_port" && break
        sleep 0.1
    done

    providers="include $run/provider-demo.conf;"
    sed "s/8081/$provider_port/g" "$repo/conf.d/provider-demo.conf" \
        > "$run/provider-demo.conf"

    for p in openai anthropic gemini; do
        var="$(echo $p | tr a-z A-Z)_API_KEY"
        if [ -n "${!var:-}" ]; then
            providers="$providers
    include $repo/conf.d/provider-$p.conf;"
            echo "demo: $var is set: $p models enabled"
        fi
    done

    cat > "$run/nginx.conf" <<CONF
load_module $build/ngx_http_tokenroute_module.so;

daemon on;
worker_processes 2;
pid $run/nginx.pid;
error_log $run/error.log warn;

events {
    worker_connections 1024;
}

http {
    access_log $run/access.log;
    client_body_temp_path $run/client_body;
    proxy_temp_path $run/proxy;
    fastcgi_temp_path $run/fastcgi;
    uwsgi_temp_path $run/uwsgi;
    scgi_temp_path $run/scgi;

    tokenroute_redis $redis;

    include $repo/conf.d/tokenroute_tls.conf;
    include $repo/conf.d/tokenroute_log.conf;
    access_log $run/tokenroute.log tokenroute;

    $providers

    server {
        listen 127.0.0.1:$port;

        include $repo/conf.d/tokenroute_server.conf;

        location /v1/ {
            tokenroute on;
            include $repo/conf.d/tokenroute_proxy.conf;
        }

        location @tokenroute_fallback {
            tokenroute on;
            include $repo/conf.d/tokenroute_proxy.conf;
        }

        # the admin API (the demo listens on 127.0.0.1 only)
        location /admin/ {
            tokenroute_admin;
        }

        # for a load balancer and for Prometheus (README: Metrics and
        # health); the demo listens on 127.0.0.1 only
        location = /health {
            tokenroute_health;
        }

        location = /metrics {
            tokenroute_metrics;
        }
    }
}
CONF

    if ! "$nginx" -p "$run/" -c "$run/nginx.conf" -e "$run/error.log"; then
        cat "$run/error.log" >&2
        stop
        exit 1
    fi

    key=$("$build/tokenroute" --redis "$redis" \
              keys create --name demo --json) || { stop; exit 1; }
    "$build/tokenroute" --redis "$redis" \
        credit add --account default --amount 10 > /dev/null || { stop; exit 1; }
    raw=$(printf '%s' "$key" | sed -n 's/.*"raw":"\([^"]*\)".*/\1/p')
    admin=$("$build/tokenroute" --redis "$redis" \
                admin-keys create --name demo --json) || { stop; exit 1; }
    admin=$(printf '%s' "$admin" | sed -n 's/.*"raw":"\([^"]*\)".*/\1/p')

    cat <<MSG

tokenroute is running at http://127.0.0.1:$port

Try it:

  curl http://127.0.0.1:$port/v1/chat/completions \\
    -H "Authorization: Bearer $raw" \\
    -H "Content-Type: application/json" \\
    -d '{"model":"demo/gpt","messages":[{"role":"user","content":"Hi"}]}'

Streaming: add "stream":true (and curl -N).  Models: GET /v1/models.
The demo key's account "default" has 10 USD of demo credit.
Keys and usage: $build/tokenroute --redis $redis keys list
                $build/tokenroute --redis $redis usage
Admin API:      curl -H "Authorization: Bearer $admin" \\
                    http://127.0.0.1:$port/admin/keys
Health, metrics: curl http://127.0.0.1:$port/health
                curl http://127.0.0.1:$port/metrics
Logs: $run/error.log, $run/tokenroute.log (what each request cost)
Stop: Ctrl-C here, or 'make stop' from another shell.

MSG

    trap 'echo; echo "demo: stopping"; stop; exit 0' INT TERM
    while [ -f "$run/nginx.pid" ] && kill -0 "$(cat "$run/nginx.pid")" 2>/dev/null; do
        sleep 1
    done
    stop
}

case "${1:-}" in
    start) start "${2:-8080}" ;;
    stop) stop ;;
    *) echo "usage: $0 start [PORT] | stop" >&2; exit 2 ;;
esac
