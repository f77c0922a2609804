-- wrk script for bench/run: POSTs the chat body in $BENCH_BODY with
-- "Authorization: Bearer $BENCH_KEY", and prints one machine-readable
-- "BENCH ..." line when done (latencies in microseconds).
-- With $BENCH_REQUESTS set (and -t1), wrk stops after that many responses:
-- the thread stops and wrk's main thread, which otherwise sleeps for the
-- whole -d, gets the SIGINT that makes it print the summary (used by the
-- long RSS run; it makes wrk parse every response, so it is left off
-- otherwise).

local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "none")

local limit = tonumber(os.getenv("BENCH_REQUESTS") or "")

if limit then
    local n = 0
    function response(status, headers, body)
        n = n + 1
        if n == limit then
            local f = io.open("/proc/self/stat")
            local pid = f:read("*n")
            f:close()
            wrk.thread:stop()
            -- once this thread is gone, the signal reaches the main thread
            os.execute("(sleep 0.2; kill -INT " .. pid .. ") >/dev/null 2>&1 &")
        end
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d " ..
        "p99_us=%d max_us=%d connect=%d read=%d write=%d status=%d " ..
        "timeout=%d\n",
        summary.requests, summary.duration, summary.bytes,
        math.floor(latency:percentile(50)), math.floor(latency:percentile(90)),
        math.floor(latency:percentile(99)), math.floor(latency.max),
        e.connect, e.read, e.write, e.status, e.timeout))
end
