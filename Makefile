# tokenroute: build the nginx dynamic module and the CLI, run the demo and
# the test suite.  See README.md.

NGINX_SRC  ?= /usr/share/nginx/src
NGINX      ?= /usr/sbin/nginx
BUILD      ?= build
PORT       ?= 8080
CC         ?= cc

WARN        = -Wall -Wextra -Werror
SAN_FLAGS   = -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=undefined

ifeq ($(SANITIZE),1)
MOD_CC_OPT  = $(WARN) -O1 -g $(SAN_FLAGS)
MOD_LD_OPT  = -fsanitize=address,undefined
CLI_FLAGS   = -O1 -g $(SAN_FLAGS)
else
MOD_CC_OPT  = $(WARN) -O2 -g
MOD_LD_OPT  =
CLI_FLAGS   = -O2 -g
endif

# Debian packages: the build's and the image's runtime are listed in .ci/
# (one a line), which the Dockerfile reads too; make deps installs the
# build's and the tests' own.
BUILD_PKGS   := $(shell grep '^[a-z0-9]' .ci/packages-build)
RUNTIME_PKGS := $(shell grep '^[a-z0-9]' .ci/packages-runtime)
DEBIAN_PKGS  = $(BUILD_PKGS) lua5.1 ca-certificates redis-server perl \
               clang libclang-rt-14-dev curl

# make install: the module where Debian's nginx loads modules from, the
# CLI in $(PREFIX)/bin, conf.d in $(CONFDIR)/conf.d.  make image-install
# adds the container's entry point (the Dockerfile runs it).
DESTDIR     ?=
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MODULESDIR  ?= /usr/lib/nginx/modules
CONFDIR     ?= /etc/tokenroute

MODULE_SRCS = config config.make ngx_http_tokenroute_module.c \
              $(wildcard src/*.c src/*.h src/lua/*.lua) src/lua/embed.sh
CLI_SRCS    = $(wildcard src/cli/*.c src/cli/*.h) src/tokenroute_money.c \
              src/tokenroute_money.h src/tokenroute_lua.h \
              src/tokenroute_schema.h src/tokenroute_json_out.c \
              src/tokenroute_json_out.h src/tokenroute_json_esc.h \
              $(wildcard src/tokenroute_report*) \
              src/tokenroute_secret.c src/tokenroute_secret.h \
              src/tokenroute_key.h \
              src/tokenroute_redis_url.c src/tokenroute_redis_url.h
# the control scripts, each run behind the preludes period.lua, ctl_lib.lua
CLI_CTL     = src/lua/ctl_accounts.lua src/lua/ctl_tenants.lua \
              src/lua/ctl_keys.lua src/lua/ctl_admin.lua
UNIT_SRCS   = $(wildcard t/unit/*.c)
UNIT_BINS   = $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))

MODULE      = $(BUILD)/ngx_http_tokenroute_module.so
CLI         = $(BUILD)/tokenroute

.PHONY: all module cli unit deps test check check-asan asan demo stop \
        clean bench fuzz fuzz-build fuzz-short graph install image-install \
        print-build-deps print-runtime-deps

all: module cli

module: $(MODULE)
cli: $(CLI)
unit: $(UNIT_BINS)

# Debian's nginx-dev ships the configured 1.22 tree (headers, auto/,
# conf_flags); configure writes objs/ in the current directory, so we work
# on a copy.  An upstream nginx source tree is configured --with-compat.
$(BUILD)/nginx/objs/Makefile: config config.make
	rm -rf $(BUILD)/nginx
	mkdir -p $(BUILD)
	cp -r $(NGINX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && bash -c ' \
	    if [ -f conf_flags ]; then . ./conf_flags; \
	    else NGX_CONF_FLAGS=(--with-compat --with-http_ssl_module); fi; \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(MOD_CC_OPT)" --with-ld-opt="$(MOD_LD_OPT)" \
	        --add-dynamic-module=$(CURDIR)' > configure.log 2>&1 \
	    || { cat $(BUILD)/nginx/configure.log; exit 1; }

$(MODULE): $(BUILD)/nginx/objs/Makefile $(MODULE_SRCS)
	$(MAKE) -C $(BUILD)/nginx -f objs/Makefile modules
	@# a new file, renamed over the old: a running nginx keeps its mapping
	cp $(BUILD)/nginx/objs/ngx_http_tokenroute_module.so $@.tmp
	mv -f $@.tmp $@

# the CLI's scripts, embedded as the module's are (src/lua/embed.sh)
$(BUILD)/cli/tr_cli_lua.c: src/lua/embed.sh src/lua/period.lua \
                           src/lua/ctl_lib.lua $(CLI_CTL)
	@mkdir -p $(BUILD)/cli
	sh src/lua/embed.sh $@ \
	    $(addprefix src/lua/period.lua+src/lua/ctl_lib.lua+,$(CLI_CTL))

$(CLI): $(CLI_SRCS) $(BUILD)/cli/tr_cli_lua.c
	@mkdir -p $(BUILD)
	$(CC) $(WARN) $(CLI_FLAGS) -Isrc -o $@ $(filter %.c,$(CLI_SRCS)) \
	    $(BUILD)/cli/tr_cli_lua.c -lhiredis -lyajl -lcrypto

# the pure sources compiled once, linked into every unit test (compiling
# them for each test made the builds a third of CI's time)
UNIT_OBJS   = $(patsubst src/%.c,$(BUILD)/unitobj/%.o,\
                  $(wildcard src/tokenroute_*.c))

.SECONDARY: $(UNIT_OBJS)

$(BUILD)/unitobj/%.o: src/%.c $(wildcard src/tokenroute_*.h)
	@mkdir -p $(BUILD)/unitobj
	$(CC) $(WARN) $(CLI_FLAGS) -Isrc -c -o $@ $<

$(BUILD)/unit/%: t/unit/%.c $(wildcard t/unit/*.h t/unit/ref/*.c) \
                 $(UNIT_OBJS)
	@mkdir -p $(BUILD)/unit
	$(CC) $(WARN) $(CLI_FLAGS) -Isrc -o $@ $< $(UNIT_OBJS) -lyajl -lcrypto

# libFuzzer targets (t/fuzz/*.c, see t/fuzz/README.md), built with clang
# into build-fuzz/ against the pure sources compiled once.  "make fuzz"
# runs each for FUZZ_TIME seconds, FUZZ_JOBS at a time, on a scratch copy
# of its seed corpus; crashes go to build-fuzz/crashes/, logs to
# build-fuzz/logs/.  t/fuzz.t replays t/fuzz/regress/ and runs each target
# briefly (make fuzz-short does the same).
FUZZ_CC     ?= clang
FUZZ_BUILD  ?= build-fuzz
FUZZ_TIME   ?= 600
FUZZ_SHORT  ?= 4
FUZZ_JOBS   ?= 1
FUZZ_FLAGS   = -g -O1 -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_SRCS    = $(wildcard t/fuzz/*.c)
FUZZ_BINS    = $(patsubst t/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRCS))
FUZZ_OBJS    = $(patsubst src/%.c,$(FUZZ_BUILD)/obj/%.o,\
                   $(wildcard src/tokenroute_*.c))

fuzz-build: $(FUZZ_OBJS) $(FUZZ_BINS)

$(FUZZ_BUILD)/obj/%.o: src/%.c $(wildcard src/tokenroute_*.h)
	@mkdir -p $(FUZZ_BUILD)/obj
	$(FUZZ_CC) $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -Isrc \
	    -c -o $@ $<

$(FUZZ_BUILD)/%: t/fuzz/%.c t/fuzz/fuzz.h $(FUZZ_OBJS) \
                 $(wildcard t/unit/*.h t/unit/ref/*.c)
	$(FUZZ_CC) $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer -Isrc -It/unit \
	    -o $@ $< $(FUZZ_OBJS) -lyajl -lcrypto

fuzz: fuzz-build
	t/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TIME) $(FUZZ_JOBS)

fuzz-short: fuzz-build
	t/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SHORT) 1

install: $(MODULE) $(CLI)
	install -d $(DESTDIR)$(MODULESDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(CONFDIR)/conf.d
	install -m 0644 $(MODULE) $(DESTDIR)$(MODULESDIR)/
	install -m 0755 $(CLI) $(DESTDIR)$(BINDIR)/
	install -m 0644 conf.d/*.conf $(DESTDIR)$(CONFDIR)/conf.d/

# the container's file system (Dockerfile): the above and the entry point
image-install: install
	install -m 0755 conf.d/docker-entrypoint.sh $(DESTDIR)$(BINDIR)/

print-build-deps:
	@echo $(BUILD_PKGS)

print-runtime-deps:
	@echo $(RUNTIME_PKGS)

# Installs the Debian packages the build, the demo and the tests need;
# nodejs and npm (for the SDK tests, t/sdk.t) only when there is no node or
# npm at all: a node from elsewhere (NodeSource...) conflicts with Debian's
# npm package.
deps:
	@missing=""; for p in $(DEBIAN_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if ! command -v node >/dev/null 2>&1 \
	    || ! command -v npm >/dev/null 2>&1; then \
	    missing="$$missing nodejs npm"; \
	fi; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        echo "installing:$$missing"; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	            apt-get install -y -qq --no-install-recommends $$missing \
	            > $(BUILD).apt.log 2>&1 || { cat $(BUILD).apt.log; exit 1; }; \
	    else \
	        echo "missing packages; run as root:"; \
	        echo "  apt-get install -y$$missing"; exit 1; \
	    fi; \
	fi

# The whole suite, then again against the sanitizer build.
test: deps
	$(MAKE) check
	$(MAKE) check-asan

# The official OpenAI and Anthropic SDKs for t/sdk.t, as pinned in
# t/sdk/package-lock.json.
t/sdk/node_modules/.installed: t/sdk/package.json t/sdk/package-lock.json
	cd t/sdk && npm ci --no-audit --no-fund && touch node_modules/.installed

# three test files at a time: each starts its own Redis, nginx and mock on
# free ports, and most of the suite's time is spent waiting on timers; the
# longest files first, so that none of them starts last and runs alone
PROVE = prove -j3
TESTS_FIRST = t/sse_edges.t t/fuzz.t t/money_limits.t t/faults.t t/sse_pieces.t \
    t/settle_poison.t t/sentinel_trust.t t/inval_sentinel.t t/inval.t
TESTS = $(TESTS_FIRST) $(filter-out $(TESTS_FIRST),$(sort $(wildcard t/*.t)))

check: all unit t/sdk/node_modules/.installed
	TOKENROUTE_BUILD=$(CURDIR)/$(BUILD) TOKENROUTE_NGINX=$(NGINX) \
	    TOKENROUTE_REQUIRE_SDK=1 $(PROVE) $(TESTS)

asan:
	$(MAKE) BUILD=build-asan SANITIZE=1 all unit

check-asan: asan t/sdk/node_modules/.installed
	TOKENROUTE_BUILD=$(CURDIR)/build-asan TOKENROUTE_SANITIZE=1 \
	    TOKENROUTE_NGINX=$(NGINX) TOKENROUTE_REQUIRE_SDK=1 $(PROVE) $(TESTS)

demo: deps all
	./conf.d/demo.sh start $(PORT)

stop:
	./conf.d/demo.sh stop

# bare nginx proxy vs tokenroute: throughput, latency, CPU and instructions
# per request; report in bench/results/latest.md.  See bench/README.md.
bench: all
	./bench/run

# the call graph of src/ngx_http_*.c, file to file; t/layers.t fails on a
# cycle in it, or on a layer crossed (nginx in a pure file or the CLI)
graph:
	TOKENROUTE_GRAPH=1 perl t/layers.t

clean:
	rm -rf build build-asan build-fuzz build.apt.log build-asan.apt.log
