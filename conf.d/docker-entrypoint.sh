#!/bin/sh
# Container entry point: writes /etc/nginx/nginx.conf from the environment
# (TOKENROUTE_REDIS, TOKENROUTE_REDIS_PASSWORD, TOKENROUTE_PORT and the
# providers' API keys), then runs nginx in the foreground.
set -eu

conf=/etc/tokenroute/conf.d
providers=""

for p in openai anthropic gemini; do
    var=$(echo "$p" | tr a-z A-Z)_API_KEY
    if [ -n "$(printenv "$var" || true)" ]; then
        providers="$providers
    include $conf/provider-$p.conf;"
    fi
done

if [ -z "$providers" ]; then
    echo "tokenroute: no provider key set; serving the demo provider" >&2
    providers="include $conf/provider-demo.conf;"
fi

password=""
if [ -n "${TOKENROUTE_REDIS_PASSWORD:-}" ]; then
    password="password_env=TOKENROUTE_REDIS_PASSWORD"
fi

cat > /etc/nginx/nginx.conf <<CONF
load_module /usr/lib/nginx/modules/ngx_http_tokenroute_module.so;

worker_processes auto;
pid /run/nginx.pid;
error_log stderr warn;

events {
    worker_connections 4096;
}

http {
    access_log /dev/stdout;

    tokenroute_redis $TOKENROUTE_REDIS $password;

    include $conf/tokenroute_tls.conf;

    $providers

    server {
        listen $TOKENROUTE_PORT;

        include $conf/tokenroute_server.conf;

        location /v1/ {
            tokenroute on;
            include $conf/tokenroute_proxy.conf;
        }

        location @tokenroute_fallback {
            tokenroute on;
            include $conf/tokenroute_proxy.conf;
        }
    }
}
CONF

exec nginx -g 'daemon off;'
