# tokenroute: nginx with the tokenroute module, the CLI and conf.d.
#
#   docker build -t tokenroute .
#   docker run -p 8080:8080 -e TOKENROUTE_REDIS=redis:6379 \
#              -e OPENAI_API_KEY=... -e ANTHROPIC_API_KEY=... tokenroute
#
# The module is built against the nginx of the same Debian release the
# runtime image installs: dynamic modules must match nginx's exact version.

FROM debian:12 AS build

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
         nginx nginx-dev libhiredis-dev libyajl-dev libssl-dev gcc make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY config config.make Makefile ngx_http_tokenroute_module.c ./
COPY src ./src
RUN make all


FROM debian:12

# ca-certificates: the bundle conf.d/tokenroute_tls.conf verifies providers
# against
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
         nginx libhiredis0.14 libyajl2 libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/*

COPY --from=build /src/build/ngx_http_tokenroute_module.so /usr/lib/nginx/modules/
COPY --from=build /src/build/tokenroute /usr/local/bin/tokenroute
COPY conf.d /etc/tokenroute/conf.d

ENV TOKENROUTE_REDIS=127.0.0.1:6379 \
    TOKENROUTE_PORT=8080

EXPOSE 8080
ENTRYPOINT ["/etc/tokenroute/conf.d/docker-entrypoint.sh"]
