"""taskdash against its ceiling: each scenario runs the server under wrk, then pgbench running the
same SQL the server sends for that scenario at the same concurrency, in one run on one machine.

Shared machines drift (other tenants, checkpoints), so each scenario alternates server and
ceiling for BENCH_ROUNDS rounds of BENCH_SECONDS each; a round's ratio compares neighbours in
time, and the table shows the median round. After every server run the rows the scenario should
have written are counted in the database: a create that answered 200, or a re-run that inserted,
fails the run.

Prints one markdown table (throughput, p50, p99, server / ceiling), writes the raw numbers to
bench/results/latest.json and a plot to bench/results/latest.svg. Run through bench/run.sh.
"""

import glob
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target/release/taskdash")
DURATION = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
# The server's log level: `warn` leaves out the one line per request that `info` (the default) writes.
LOG_LEVEL = os.environ.get("BENCH_LOG", "warn")
PG_PORT, HTTP_PORT = 55440, 18300
BASE = f"http://127.0.0.1:{HTTP_PORT}"
RESULTS = os.path.join(ROOT, "bench/results")

TASK_COLUMNS = ("id, project_id, milestone_id, parent_task_id, title, description, status, "
                "priority_score, external_id, labels, version, created_at, updated_at, completed_at")


def pg_bin():
    initdb = shutil.which("initdb") or sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]
    return os.path.dirname(os.path.realpath(initdb))


def as_postgres(cmd):
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.geteuid() == 0 else cmd


class Cluster:
    """A private PostgreSQL with production durability (fsync, synchronous commit)."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "pg")
        self.sock = os.path.join(workdir, "sock")
        os.makedirs(self.dir)
        os.makedirs(self.sock)
        if os.geteuid() == 0:
            for path in (self.dir, self.sock):
                shutil.chown(path, "postgres")
        self.bin = pg_bin()
        subprocess.run(as_postgres([f"{self.bin}/initdb", "-D", self.dir, "-U", "postgres", "--auth=trust",
                                    "--no-locale", "-E", "UTF8"]), check=True, capture_output=True)
        self.ctl("start", "-w", "-l", os.path.join(self.dir, "server.log"))
        self.url = f"postgres://postgres@127.0.0.1:{PG_PORT}/taskdash"

    def ctl(self, *args):
        subprocess.run(as_postgres([f"{self.bin}/pg_ctl", "-D", self.dir, "-o",
                                    f"-p {PG_PORT} -k {self.sock} -c listen_addresses=127.0.0.1 "
                                    "-c max_connections=200", *args]), check=True, capture_output=True)

    def psql(self, sql):
        out = subprocess.run([f"{self.bin}/psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres",
                              "-d", "taskdash", "-Atc", sql], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def pgbench(self, script, clients, variables):
        """Runs pgbench for DURATION seconds; returns (tps, [latency_ms...])."""
        logdir = tempfile.mkdtemp(prefix="pgbench-", dir="/tmp")
        os.chmod(logdir, 0o777)
        args = [f"{self.bin}/pgbench", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-n",
                "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(DURATION),
                "-f", script, "-l", "--log-prefix", os.path.join(logdir, "log")]
        for name, value in variables.items():
            args += ["-D", f"{name}={value}"]
        out = subprocess.run(args + ["taskdash"], check=True, capture_output=True, text=True).stdout
        tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
        latencies = []
        for path in glob.glob(os.path.join(logdir, "log*")):
            with open(path) as f:
                latencies += [int(line.split()[2]) / 1000 for line in f if line.strip()]
        shutil.rmtree(logdir)
        return tps, latencies

    def count_tasks(self, project):
        return int(self.psql(f"SELECT count(*) FROM tasks WHERE project_id = {project}"))

    def stop(self):
        self.ctl("stop", "-m", "fast")


def http(method, path, key, body=None):
    request = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"{field}:\s+(\d+)", f.read()).group(1))


UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(mode, path, connections, env):
    args = ["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{DURATION}s", "--latency",
            "-s", os.path.join(ROOT, "bench/load.lua"), BASE + path]
    env = {**env, "BENCH_MODE": mode}
    out = subprocess.run(args, check=True, capture_output=True, text=True, env={**os.environ, **env}).stdout
    percentile = {}
    for p, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.M):
        percentile[p] = float(value) * UNIT[unit]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {"throughput": rps, "p50_ms": percentile["50"], "p99_ms": percentile["99"], "requests": requests,
            "non_2xx": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(1) if errors else None}


def rows_as_expected(mode, result, connections, extra):
    """Whether a server run wrote the rows its answers claim: one per create (or `n` per bulk),
    none for re-runs and lists, at most the ten storm keys. Requests still in flight when wrk
    stops are written but not counted, hence the slack of one request per connection."""
    written, done = result["rows_written"], result["requests"]
    if mode in ("create", "bulk"):
        per_request = extra.get("n", 1)
        return done * per_request <= written <= (done + connections) * per_request
    if mode == "storm":
        return written <= 10
    return written == 0


def ceiling_stats(tps, latencies):
    latencies.sort()
    return {"throughput": tps, "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1]}


def write_scripts(workdir):
    """pgbench scripts: the statements the server sends per request of each scenario."""
    def aliased(alias):
        return ", ".join(f"{alias}.{c}" for c in TASK_COLUMNS.split(", "))

    # storage::tasks::create: the INSERT and, in the same statement, the stored task when the key
    # is taken. (Its second statement runs only when a concurrent creation commits mid-statement.)
    create_one = (
        "WITH inserted AS (INSERT INTO tasks (project_id, title, description, status, priority_score, "
        "external_id, milestone_id, parent_task_id, labels, completed_at) "
        "SELECT p.id, 'bench task', NULL, 'open', :prio, :key, NULL, NULL, '{}'::text[], "
        "CASE WHEN 'open'::text = 'done' THEN now() END "
        "FROM projects p WHERE p.id = :project AND p.tenant_id = :tenant "
        f"ON CONFLICT (project_id, external_id) DO NOTHING RETURNING {aliased('tasks')}) "
        f"SELECT true AS created, {aliased('inserted')} FROM inserted UNION ALL "
        f"SELECT false, {aliased('t')} FROM tasks t JOIN projects p ON p.id = t.project_id "
        "AND p.tenant_id = :tenant WHERE t.project_id = :project AND t.external_id = :key "
        "AND NOT EXISTS (SELECT 1 FROM inserted);\n")
    columns = ", ".join(f"inserted.{c}" for c in TASK_COLUMNS.split(", "))
    bulk = (
        "WITH input AS MATERIALIZED (SELECT nextval('tasks_id_seq') AS id, g::int AS ordinal, "
        "'bench task ' || g AS title, NULL::text AS description, 'open'::text AS status, (g % 100)::int "
        "AS priority_score, 'pg:' || :base || ':' || g AS external_id, NULL::bigint AS milestone_id, "
        "NULL::bigint AS parent_task_id, '[]'::jsonb AS labels FROM generate_series(1, :n) g), "
        "inserted AS (INSERT INTO tasks (project_id, id, title, description, status, priority_score, "
        "external_id, milestone_id, parent_task_id, labels, completed_at) SELECT p.id, i.id, i.title, "
        "i.description, i.status, i.priority_score, i.external_id, i.milestone_id, i.parent_task_id, "
        "ARRAY(SELECT jsonb_array_elements_text(i.labels)), CASE WHEN i.status = 'done' THEN now() END "
        "FROM input i JOIN projects p ON p.id = :project AND p.tenant_id = :tenant "
        "ORDER BY i.external_id COLLATE \"C\" ON CONFLICT (project_id, external_id) DO NOTHING "
        f"RETURNING {TASK_COLUMNS}) SELECT i.ordinal, {columns} FROM inserted JOIN input i ON i.id = inserted.id;\n")
    listing = (f"SELECT t.{TASK_COLUMNS.replace(', ', ', t.')} FROM tasks t WHERE t.project_id = :lproject "
               "AND EXISTS (SELECT 1 FROM projects p WHERE p.id = t.project_id AND p.tenant_id = :tenant) "
               "ORDER BY t.priority_score DESC, t.created_at ASC, t.id ASC LIMIT 101;\n")
    scripts = {
        # pgbench has no string variables: keys are built in SQL from a random number.
        "create.sql": "\\set r random(1, 1000000000000)\n\\set prio random(0, 99)\n"
                      + create_one.replace(":key", "('pg-' || :r)"),
        # Keys rerun:1..5000 are stored: the INSERT conflicts and the same statement reads the task.
        "rerun.sql": "\\set r random(1, 5000)\n\\set prio 1\n" + create_one.replace(":key", "('rerun:' || :r)"),
        "storm.sql": "\\set r random(1, 10)\n\\set prio 1\n" + create_one.replace(":key", "('storm:' || :r)"),
        # The server binds arrays and UNNESTs them; pgbench cannot bind arrays, so the same rows
        # come from generate_series. The INSERT, its ordering, conflict handling and RETURNING match.
        "bulk.sql": "\\set base random(1, 1000000000000)\n" + bulk,
        "list.sql": listing,
    }
    out = {}
    for name, text in scripts.items():
        path = os.path.join(workdir, name)
        with open(path, "w") as f:
            f.write(text)
        out[name] = path
    return out


def svg(rows, path):
    """Bars: server ÷ ceiling throughput per scenario, with the 0.7 target line."""
    width, bar, gap, left, top = 900, 22, 10, 170, 40
    height = top + len(rows) * (bar + gap) + 40
    scale = (width - left - 60) / max(1.2, max(r["ratio"] for r in rows) * 1.1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             'font-family="sans-serif" font-size="13">',
             f'<text x="{left}" y="22" font-size="15">taskdash throughput ÷ PostgreSQL ceiling '
             f'(same SQL, same concurrency; median of {ROUNDS} rounds of {DURATION} s)</text>']
    for i, row in enumerate(rows):
        y = top + i * (bar + gap)
        colour = "#2e7d32" if row["ratio"] >= 0.7 else "#c62828"
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{row["scenario"]}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{row["ratio"] * scale:.1f}" height="{bar}" fill="{colour}"/>')
        parts.append(f'<text x="{left + row["ratio"] * scale + 6:.1f}" y="{y + 16}">{row["ratio"]:.2f}</text>')
    x = left + 0.7 * scale
    parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 30}" stroke="#555" '
                 'stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle">0.7</text>')
    x = left + 1.0 * scale
    parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 30}" stroke="#999"/>')
    parts.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle">1.0</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    workdir = tempfile.mkdtemp(prefix="taskdash-bench-", dir="/tmp")
    os.chmod(workdir, 0o755)
    cluster = Cluster(workdir)
    server = None
    try:
        subprocess.run([f"{cluster.bin}/createdb", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres",
                        "taskdash"], check=True)
        subprocess.run([BINARY, "migrate", "--database-url", cluster.url], check=True, capture_output=True)
        issued = json.loads(subprocess.run([BINARY, "tenant", "create", "bench", "--database-url", cluster.url],
                                           check=True, capture_output=True, text=True).stdout)
        key, tenant = issued["api_key"], issued["tenant"]["id"]
        server = subprocess.Popen([BINARY, "--bind", f"127.0.0.1:{HTTP_PORT}", "--database-url", cluster.url,
                                   "--log", LOG_LEVEL, "--log-format", "json"],
                                  stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "server.log"), "w"))
        for _ in range(100):
            try:
                urllib.request.urlopen(BASE + "/health/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1)
        idle_rss = rss_kb(server.pid, "VmRSS")

        project = http("POST", "/projects", key, {"name": "bench", "slug": "bench"})["id"]
        # The re-run case: 5000 keys already stored, for both the server and pgbench.
        for chunk in range(5):
            http("POST", f"/projects/{project}/tasks:bulk", key,
                 {"tasks": [{"title": "stored", "external_id": f"rerun:{chunk * 1000 + i + 1}"} for i in range(1000)]})
        # The list case: a project holding 100 000 tasks.
        list_project = http("POST", "/projects", key, {"name": "queue", "slug": "queue"})["id"]
        cluster.psql(f"INSERT INTO tasks (project_id, title, priority_score, external_id) "
                     f"SELECT {list_project}, 'queued ' || g, g % 1000, 'q:' || g FROM generate_series(1, 100000) g")
        cluster.psql("VACUUM ANALYZE tasks")
        scripts = write_scripts(workdir)
        env = {"TASKDASH_KEY": key}
        variables = {"project": project, "tenant": tenant, "lproject": list_project}

        scenarios = [
            ("create c1", "create", f"/projects/{project}/tasks", 1, "create.sql", {}),
            ("create c16", "create", f"/projects/{project}/tasks", 16, "create.sql", {}),
            ("create c64", "create", f"/projects/{project}/tasks", 64, "create.sql", {}),
            ("re-run c16", "rerun", f"/projects/{project}/tasks", 16, "rerun.sql", {}),
            ("storm c64", "storm", f"/projects/{project}/tasks", 64, "storm.sql", {}),
            ("bulk100 c1", "bulk", f"/projects/{project}/tasks:bulk", 1, "bulk.sql", {"n": 100}),
            ("bulk100 c16", "bulk", f"/projects/{project}/tasks:bulk", 16, "bulk.sql", {"n": 100}),
            ("bulk1000 c1", "bulk", f"/projects/{project}/tasks:bulk", 1, "bulk.sql", {"n": 1000}),
            ("bulk1000 c16", "bulk", f"/projects/{project}/tasks:bulk", 16, "bulk.sql", {"n": 1000}),
            ("list100 c1", "list", f"/projects/{list_project}/tasks?limit=100", 1, "list.sql", {}),
            ("list100 c16", "list", f"/projects/{list_project}/tasks?limit=100", 16, "list.sql", {}),
        ]
        only = [word for word in os.environ.get("BENCH_ONLY", "").split(",") if word]
        rows = []
        for name, mode, path, connections, sql, extra in scenarios:
            if only and not any(word in name for word in only):
                continue
            rounds = []
            for _ in range(ROUNDS):
                before, cpu_before = cluster.count_tasks(project), cpu_seconds(server.pid)
                server_result = wrk(mode, path, connections, {**env, "BULK_SIZE": str(extra.get("n", 0))})
                server_result["cpu_us_per_request"] = ((cpu_seconds(server.pid) - cpu_before) * 1e6
                                                       / max(server_result["requests"], 1))
                server_result["rows_written"] = cluster.count_tasks(project) - before
                server_result["rows_as_expected"] = rows_as_expected(mode, server_result, connections, extra)
                ceiling = ceiling_stats(*cluster.pgbench(scripts[sql], connections, {**variables, **extra}))
                rounds.append({"server": server_result, "ceiling": ceiling,
                               "ratio": server_result["throughput"] / ceiling["throughput"],
                               "p50_ratio": server_result["p50_ms"] / ceiling["p50_ms"]})
            median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
            row = {"scenario": name, **median, "rounds": rounds,
                   "failures": sum(not r["server"]["rows_as_expected"] or r["server"]["non_2xx"]
                                   or r["server"]["socket_errors"] is not None for r in rounds)}
            rows.append(row)
            print(f"{name}: ratios " + ", ".join(f"{r['ratio']:.2f}" for r in rounds), file=sys.stderr)
        peak_rss = rss_kb(server.pid, "VmHWM")
    finally:
        if server:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    machine = subprocess.run(["bash", "-c", "nproc; grep -m1 'model name' /proc/cpuinfo | cut -d: -f2; "
                              "free -g | awk '/Mem/ {print $2}'"], capture_output=True, text=True).stdout.split("\n")
    result = {"duration_s": DURATION, "rounds": ROUNDS, "server_log_level": LOG_LEVEL, "machine": {"cores": machine[0], "cpu": machine[1].strip(),
                                                  "memory_gib": machine[2]},
              "rss_kb": {"idle": idle_rss, "peak": peak_rss}, "scenarios": rows}
    os.makedirs(RESULTS, exist_ok=True)
    # A partial run (BENCH_ONLY) does not replace the full results the README shows.
    name = "partial" if os.environ.get("BENCH_ONLY") else "latest"
    with open(os.path.join(RESULTS, f"{name}.json"), "w") as f:
        json.dump(result, f, indent=2)
    svg(rows, os.path.join(RESULTS, f"{name}.svg"))

    print(f"\nMachine: {result['machine']['cores']} cores, {result['machine']['cpu']}, "
          f"{result['machine']['memory_gib']} GiB; median of {ROUNDS} alternating rounds of {DURATION} s; "
          f"server log level {LOG_LEVEL}; "
          "server and ceiling share the cores with the load generator.\n")
    print("| scenario | server req/s | ceiling tx/s | ratio | server p50 ms | ceiling p50 ms | p50 ratio "
          "| server p99 ms | ceiling p99 ms | server CPU µs/req | failed rounds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s, c = r["server"], r["ceiling"]
        print(f"| {r['scenario']} | {s['throughput']:.0f} | {c['throughput']:.0f} | {r['ratio']:.2f} | "
              f"{s['p50_ms']:.2f} | {c['p50_ms']:.2f} | {r['p50_ratio']:.2f} | {s['p99_ms']:.2f} | "
              f"{c['p99_ms']:.2f} | {s['cpu_us_per_request']:.0f} | {r['failures']} |")
    print(f"\nServer RSS: {idle_rss / 1024:.1f} MB idle, {peak_rss / 1024:.1f} MB peak.")
    if any(r["failures"] for r in rows):
        print("Some rounds failed (non-2xx answers, socket errors, or rows not written as answered): "
              "see bench/results/latest.json")
        sys.exit(1)


if __name__ == "__main__":
    main()
