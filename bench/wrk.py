"""The server's side of a throughput round: wrk with bench/load.lua, and whether the round
wrote the rows its answers claim."""

import os
import re
import subprocess

from settings import BASE, DURATION, ROOT

UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def wrk(mode, path, connections, env, threads=None, cpus=None, base=BASE):
    """One server round against the server at `base`; on `cpus` only (a taskset list) when given."""
    threads = threads or min(connections, 2)
    args = (["taskset", "-c", cpus] if cpus else []) + ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{DURATION}s", "--latency",
            "-s", os.path.join(ROOT, "bench/load.lua"), base + path]
    env = {**env, "BENCH_MODE": mode}
    out = subprocess.run(args, check=True, capture_output=True, text=True, env={**os.environ, **env}).stdout
    percentile = {}
    for p, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M):
        percentile[p] = float(value) * UNIT[unit]
    if set(percentile) != {"50", "99"}:
        raise RuntimeError(f"wrk printed no p50 or p99 for {mode} c{connections}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    # wrk's "Latency avg stdev max +/-stdev" line: the slowest answered request.
    slowest = re.search(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m|h)\s", out, re.M)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    result = {"throughput": rps, "p50_ms": percentile["50"], "p99_ms": percentile["99"], "requests": requests,
              "max_ms": float(slowest.group(1)) * UNIT[slowest.group(2)],
              "non_2xx": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(1) if errors else None}
    if mode == "304":
        # wrk counts 3xx as success: load.lua counts the answers that were not 304 (a 200 means
        # the server built the page after all). A round with any fails.
        result["not_304"] = int(re.search(r"^non-304: (\d+)$", out, re.M).group(1))
    return result


def rows_as_expected(mode, result, connections, extra):
    """Whether a server run wrote the rows its answers claim: one per create (or `n` per bulk
    or events batch),
    none for re-runs and lists, at most the ten storm keys. Requests still in flight when wrk
    stops are written but not counted, hence the slack of one request per connection."""
    written, done = result["rows_written"], result["requests"]
    if mode in ("create", "bulk", "events"):
        per_request = extra.get("n", 1)
        return done * per_request <= written <= (done + connections) * per_request
    if mode == "storm":
        return written <= 10
    return written == 0
