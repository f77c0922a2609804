# tokenroute: nginx with the tokenroute module, the CLI and conf.d.
#
#   docker build -t tokenroute .
#   docker run -p 8080:8080 -e TOKENROUTE_REDIS=redis:6379 \
#              -e OPENAI_API_KEY=... -e ANTHROPIC_API_KEY=... tokenroute
#   docker run --rm -e TOKENROUTE_REDIS=redis:6379 tokenroute \
#              tokenroute keys create --name app
#
# The module is built against the nginx of the same Debian release the
# runtime image installs: dynamic modules must match nginx's exact version.
#
# The build steps are the Makefile's: the package lists are .ci/packages-*
# (which the Makefile reads too), the build is "make all", the file system
# "make image-install".  t/image_build.t fails if this file spells a
# package, a path or a build command of its own.

FROM debian:12 AS build

COPY .ci/packages-build /tmp/packages-build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
         $(grep '^[a-z0-9]' /tmp/packages-build) \
    && rm -rf /var/lib/apt/lists/* /tmp/packages-build

WORKDIR /src
COPY . .
RUN make all \
    && make image-install DESTDIR=/image


FROM debian:12

COPY .ci/packages-runtime /tmp/packages-runtime
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
         $(grep '^[a-z0-9]' /tmp/packages-runtime) \
    && rm -rf /var/lib/apt/lists/* /tmp/packages-runtime

COPY --from=build /image /

ENV TOKENROUTE_REDIS=127.0.0.1:6379 \
    TOKENROUTE_PORT=8080

# any user: nginx runs as it (no worker as root, no "user" directive) and
# writes only under /tmp/tokenroute; "docker run --user 0" makes a root
# master with www-data workers
USER 10001

EXPOSE 8080

# nginx finishes the requests and streams in flight on SIGQUIT, then
# exits; give it time with "docker stop -t" / stop_grace_period
STOPSIGNAL SIGQUIT

# curl (from .ci/packages-runtime): the image has no other HTTP client
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${TOKENROUTE_PORT}/health" \
        || exit 1

ENTRYPOINT ["docker-entrypoint.sh"]
