#!/bin/bash

# Runs every libFuzzer target of t/fuzz/ for a while on a scratch copy of
# its seed corpus, replaying the committed crash inputs first.
#
#   t/fuzz/run.sh BUILD SECONDS [JOBS]
#
# BUILD holds the targets (make fuzz-build); JOBS targets run at once, at
# nice 19.  Crashes are written to BUILD/crashes/TARGET-*, each target's
# log to BUILD/logs/TARGET.log; one summary line per target (executions,
# executions per second, coverage: cov = edges, ft = features, corpus
# size) goes to stdout and BUILD/logs/summary.  Exits 1 if any target
# crashed or failed its replay.

set -u

build=$1
secs=$2
jobs=${3:-1}
here=$(cd "$(dirname "$0")" && pwd)

mkdir -p "$build/logs" "$build/crashes" "$build/work"
: > "$build/logs/summary"

one() {
    local t=$1 bin="$build/$1" work="$build/work/$1" log="$build/logs/$1.log"
    local rc line execs rate

    rm -rf "$work"
    mkdir -p "$work"
    cp "$here/corpus/$t/"* "$work/" 2>/dev/null

    if [ -d "$here/regress/$t" ]; then
        if ! "$bin" "$here/regress/$t/"* > "$log.regress" 2>&1; then
            echo "$t: FAILED its regression inputs (see $log.regress)" \
                | tee -a "$build/logs/summary"
            return 1
        fi
    fi

    nice -n 19 "$bin" -max_total_time="$secs" -print_final_stats=1 \
        -timeout=10 -rss_limit_mb=1024 -max_len=16384 \
        -artifact_prefix="$build/crashes/$t-" "$work" > "$log" 2>&1
    rc=$?

    line=$(grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")

    if [ $rc -ne 0 ]; then
        echo "$t: CRASHED after ${execs:-?} execs (see $log):" \
            "$(grep -m1 -E 'ERROR|fuzz check|runtime error' "$log")" \
            | tee -a "$build/logs/summary"
        return 1
    fi

    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "$t: ${secs}s, $execs execs, $rate exec/s, ${line#*	}" \
        | tee -a "$build/logs/summary"
}

export -f one
export build secs here

ls "$here"/*.c | sed 's,.*/,,; s,\.c$,,' \
    | xargs -P "$jobs" -I{} bash -c 'one {}'
