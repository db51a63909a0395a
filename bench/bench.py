"""taskdash against its ceiling: each scenario runs the server under wrk, then pgbench running the
same SQL the server sends for that scenario at the same concurrency, in one run on one machine.

Shared machines drift (other tenants, checkpoints), so each scenario alternates server and
ceiling for BENCH_ROUNDS rounds of BENCH_SECONDS each; a round's ratio compares neighbours in
time, and the table shows the median round. After every server run the rows the scenario should
have written are counted in the database: a create that answered 200, or a re-run that inserted,
fails the run.

The run events scenarios (issue 12, bench/events.py): `events100 c1` (batches of 100 new events
posted to one run), `events100 c16` (16 connections, each on a run of its own, so that they do
not serialise on one run's counter row) and `events100 c16 hot run` (16 connections on one run);
the ceiling is pgbench running storage::run_events::insert's statement with the arrays the
server binds, at the same concurrency on the same runs. After each server round every
acknowledged batch must have written its 100 events, and every run's sequences must be 1..n
under its counter; the bench refuses to start when its copy of the statement differs from the
server's.

Prints one markdown table (throughput, p50, p99, server / ceiling), writes the raw numbers to
bench/results/latest.json and a plot to bench/results/latest.svg. Run through bench/run.sh.

With the list100 scenarios, a ceiling-only comparison (bench/json_in_database.py): the list
statement against the same statement with PostgreSQL building each task's JSON, the road issue 10
suggested and this project measured and did not take; a table of its own, "json_in_database".

After the throughput scenarios every maintained count (task_counts) is compared with count(*)
over the rows they wrote: any drift fails the run. Then the scale scenario, in a database of its
own (the throughput scenarios leave millions of tasks behind): a project of BENCH_SCALE_TASKS
tasks and one of 100, built the same way in SQL, and the latency of each dashboard read on both
(sequential requests from one client, after pg_prewarm and a warm-up): a second table, under the
"scale" key of the JSON.

Between the throughput and the scale scenarios, the change feed's (bench/feed.py and
bench/feed_client.py, issue 11), each on a fresh server and database:
`feed latency` (delivery latency, p50/p99, with BENCH_FEED_STREAMS open streams on one project
while a paced writer creates tasks at BENCH_FEED_RATE; the same with 1 stream as the reference;
every stream must get every event exactly once, in order) and `feed idle RSS` (server RSS with 0
and each of BENCH_FEED_IDLE_STREAMS idle streams open; KB per idle stream, goal <= 20). Two more
tables, under the "feed" key of the JSON.

Knobs (environment):
  BENCH_SECONDS          length of one round, server or ceiling (default 5)
  BENCH_ROUNDS           alternating rounds per scenario; the table shows the median (default 3)
  BENCH_LOG              the server's log level (default warn)
  BENCH_ONLY             comma-separated parts of scenario names (`create,list100 304`); picks
                         scenarios and writes partial.* instead of latest.*. The scale scenario
                         runs under BENCH_ONLY only when it names `scale`.
  BENCH_SCALE_TASKS      tasks in the scale project (default 1000000; 0 skips the scale scenario)
  BENCH_SCALE_REQUESTS   measured requests per read and project (default 200)
  BENCH_SCALE_READ_SECONDS  stop measuring a read after this long, whatever the count (default 10)
  BENCH_FEED_STREAMS     open streams in `feed latency` (default 1000)
  BENCH_FEED_TIMED       of those, the streams whose events are timed (default 100; the others are
                         read every 0.1 s, only to check them: see bench/feed.py)
  BENCH_FEED_RATE        creates per second in `feed latency` (default 200)
  BENCH_FEED_SECONDS     how long the creates go on in `feed latency`, per round (default 10)
  BENCH_FEED_IDLE_STREAMS   comma-separated idle stream counts of `feed idle RSS` (default 1000,10000)
  BENCH_FEED_IDLE_SECONDS   how long each count is held open before RSS is read (default 16: one
                         default heartbeat, 15 s, reaches every stream)
The feed scenarios are BENCH_ONLY names like the others (`feed` picks both).
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
import urllib.parse
import urllib.request
from http.client import HTTPConnection

import claims
import events
import feed
import json_in_database

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target/release/taskdash")
DURATION = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
# The server's log level: `warn` leaves out the one line per request that `info` (the default) writes.
LOG_LEVEL = os.environ.get("BENCH_LOG", "warn")
SCALE_TASKS = int(os.environ.get("BENCH_SCALE_TASKS", "1000000"))
SCALE_REQUESTS = int(os.environ.get("BENCH_SCALE_REQUESTS", "200"))
SCALE_READ_SECONDS = float(os.environ.get("BENCH_SCALE_READ_SECONDS", "10"))
# Below Linux's ephemeral range (32768-60999): a client socket of an earlier run still in TIME_WAIT
# on the port would keep PostgreSQL from binding it.
PG_PORT, HTTP_PORT = 15440, 18300
BASE = f"http://127.0.0.1:{HTTP_PORT}"
RESULTS = os.path.join(ROOT, "bench/results")

ONLY = [word for word in os.environ.get("BENCH_ONLY", "").split(",") if word]
# A task's status from its ordinal g, spread and uncorrelated with the other columns.
STATUS_OF_G = ("(ARRAY['open', 'open', 'open', 'in_progress', 'in_review', 'blocked', 'done', 'done', 'done', "
               "'archived'])[1 + abs(hashint4(g)) % 10]")

TASK_COLUMNS = ("id, project_id, milestone_id, parent_task_id, title, description, status, "
                "priority_score, external_id, labels, version, created_at, updated_at, completed_at, run_id, "
                "claimed_by, claimed_at, claim_expires_at, depends_on, blocked_by")


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

    def url(self, db):
        return f"postgres://postgres@127.0.0.1:{PG_PORT}/{db}"

    def ctl(self, *args):
        subprocess.run(as_postgres([f"{self.bin}/pg_ctl", "-D", self.dir, "-o",
                                    f"-p {PG_PORT} -k {self.sock} -c listen_addresses=127.0.0.1 "
                                    # 1 GB of shared buffers: the scale database (1M tasks, about
                                    # 0.8 GB with its indexes) stays cached, as on a production server.
                                    "-c max_connections=200 -c shared_buffers=1GB", *args]),
                       check=True, capture_output=True)

    def psql(self, sql, db="taskdash"):
        out = subprocess.run([f"{self.bin}/psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres",
                              "-d", db, "-Atc", sql], check=True, capture_output=True, text=True)
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


def http(method, path, key, body=None, headers=False):
    """The answer's JSON (and its headers when `headers`)."""
    request = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.loads(response.read())
        return (answer, response.headers) if headers else answer


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"{field}:\s+(\d+)", f.read()).group(1))


UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(mode, path, connections, env, threads=None):
    threads = threads or min(connections, 2)
    args = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{DURATION}s", "--latency",
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
    result = {"throughput": rps, "p50_ms": percentile["50"], "p99_ms": percentile["99"], "requests": requests,
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


def ceiling_stats(tps, latencies):
    latencies.sort()
    return {"throughput": tps, "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1]}


# src/storage/idempotency.rs, begin() and store() (keep in step), for a fresh key per request.
KEY_LOOKUP = ("WITH lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(1768187245, "
              "hashtext(:tenant::text || ':' || ('key-' || :r))) AS held) "
              "SELECT lock.held, k.fingerprint, k.status, k.headers, k.body FROM lock "
              "LEFT JOIN idempotency_keys k ON lock.held AND k.tenant_id = :tenant "
              "AND k.key = ('key-' || :r) AND k.expires_at > now();\n")
KEY_STORE = ("INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status, headers, body, expires_at) "
             "VALUES (:tenant, ('key-' || :r), sha256(('key-' || :r)::bytea), 201, "
             "'[[\"content-type\", \"application/json\"], [\"etag\", \"\\\"1\\\"\"]]'::jsonb, "
             "convert_to(repeat('x', 420), 'UTF8'), now() + make_interval(secs => 86400)) "
             "ON CONFLICT (tenant_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
             "status = EXCLUDED.status, headers = EXCLUDED.headers, body = EXCLUDED.body, "
             "created_at = now(), expires_at = EXCLUDED.expires_at "
             "WHERE idempotency_keys.expires_at <= now() RETURNING true;\n")


def write_scripts(workdir):
    """pgbench scripts: the statements the server sends per request of each scenario, copied from
    src/storage (keep them in step). pgbench binds each `:name` as a parameter of the prepared
    statement, as sqlx does; where the server binds a request's text, the script has a literal."""
    # storage::tasks::create: the INSERT and, in the same statement, the stored task when the key
    # is taken. (Its second statement runs only when a concurrent creation commits mid-statement.)
    # MILESTONE is NULL, or :milestone for the hot-milestone scenario.
    create_one = (
        "WITH inserted AS (INSERT INTO tasks (project_id, title, description, status, priority_score, "
        "external_id, milestone_id, parent_task_id, labels, completed_at) "
        "SELECT p.id, 'bench task', NULL, 'open', :prio, :key, MILESTONE, NULL, '{}'::text[], "
        "CASE WHEN 'open'::text = 'done' THEN now() END "
        "FROM projects p WHERE p.id = :project AND p.tenant_id = :tenant "
        f"ON CONFLICT (project_id, external_id) DO NOTHING RETURNING {TASK_COLUMNS}) "
        "SELECT true AS created, inserted.* FROM inserted UNION ALL "
        f"SELECT false, {TASK_COLUMNS} FROM tasks "
        "WHERE project_id = :project AND external_id = :key AND NOT EXISTS (SELECT 1 FROM inserted) "
        "AND EXISTS (SELECT 1 FROM projects p WHERE p.id = :project AND p.tenant_id = :tenant);\n")
    plain = create_one.replace("MILESTONE", "NULL")
    # storage::tasks::create_many (insert_batch), all items new: one statement.
    bulk = (
        "WITH input AS MATERIALIZED (SELECT nextval('tasks_id_seq') AS id, g::int AS ordinal, "
        "'bench task ' || g AS title, NULL::text AS description, 'open'::text AS status, (g % 100)::int "
        "AS priority_score, 'pg:' || :base || ':' || g AS external_id, NULL::bigint AS milestone_id, "
        "NULL::bigint AS parent_task_id, '[]'::jsonb AS labels FROM generate_series(1, :n) g), "
        "inserted AS (INSERT INTO tasks (project_id, id, title, description, status, priority_score, "
        "external_id, milestone_id, parent_task_id, labels, completed_at, depends_on, blocked_by) SELECT p.id, "
        "i.id, i.title, i.description, i.status, i.priority_score, i.external_id, i.milestone_id, i.parent_task_id, "
        "ARRAY(SELECT jsonb_array_elements_text(i.labels)), CASE WHEN i.status = 'done' THEN now() END, "
        "'{}'::bigint[], 0 "
        "FROM input i JOIN projects p ON p.id = :project AND p.tenant_id = :tenant "
        "ORDER BY i.external_id COLLATE \"C\" ON CONFLICT (project_id, external_id) DO NOTHING "
        f"RETURNING {TASK_COLUMNS}) SELECT i.ordinal, inserted.* FROM inserted JOIN input i USING (id);\n")
    # storage::tasks::list without filters or cursor: the project's data version and the page
    # in one statement (limit + 1 rows).
    order = "ORDER BY priority_score DESC, created_at ASC, id ASC"
    # storage::DATA_VERSION: a project's data version, as a column over `projects`.
    version = ("COALESCE((SELECT sum(v.version) FROM project_versions v "
               "WHERE v.project_id = projects.id), 0)::bigint")
    listing = (
        f"WITH v AS MATERIALIZED (SELECT {version} AS version FROM projects WHERE id = :lproject "
        "AND tenant_id = :tenant) SELECT v.version, t.* FROM v LEFT JOIN LATERAL "
        f"(SELECT {TASK_COLUMNS} FROM tasks WHERE project_id = :lproject {order} LIMIT :limit) t ON true "
        f"{order};\n")
    # storage::projects::data_version: all that a conditional GET with the current tag runs, and
    # what the milestone reads run first to know their tag.
    data_version = f"SELECT {version} FROM projects WHERE id = :lproject AND tenant_id = :tenant;\n"
    # storage::summary::get.
    summary = (
        "WITH counts AS (SELECT c.milestone_id, c.status, sum(c.n)::bigint AS n FROM task_counts c "
        "WHERE c.project_id = :lproject GROUP BY 1, 2) SELECT "
        "(SELECT COALESCE(jsonb_object_agg(s.status, s.n), '{}') FROM (SELECT status, sum(n)::bigint AS n "
        "FROM counts GROUP BY status) s) AS by_status, "
        "(SELECT COALESCE(jsonb_agg(jsonb_build_object('id', m.id, 'name', m.name, 'status', m.status, "
        "'by_status', (SELECT COALESCE(jsonb_object_agg(c.status, c.n), '{}') FROM counts c "
        "WHERE c.milestone_id = m.id)) ORDER BY m.id), '[]') FROM milestones m "
        "WHERE m.project_id = :lproject) AS milestones, "
        "(SELECT t.created_at FROM tasks t WHERE t.project_id = :lproject AND t.status = 'open' "
        "ORDER BY t.created_at, t.id LIMIT 1) AS oldest_open_created_at, "
        "(SELECT t.updated_at FROM tasks t WHERE t.project_id = :lproject "
        "ORDER BY t.updated_at DESC, t.id DESC LIMIT 1) AS last_activity_at, "
        f"{version} AS version FROM projects WHERE id = :lproject AND tenant_id = :tenant;\n")
    scripts = {
        # pgbench has no string variables: keys are built in SQL from a random number.
        "create.sql": "\\set r random(1, 1000000000000)\n\\set prio random(0, 99)\n"
                      + plain.replace(":key", "('pg-' || :r)"),
        # The same create under an Idempotency-Key: the transaction routes/idempotency.rs runs
        # (src/storage/idempotency.rs: the key's lock and lookup, then the effect, then the key).
        "create_keyed.sql": "\\set r random(1, 1000000000000)\n\\set prio random(0, 99)\nBEGIN;\n"
                            + KEY_LOOKUP + plain.replace(":key", "('pg-' || :r)") + KEY_STORE + "COMMIT;\n",
        "create_hot.sql": "\\set r random(1, 1000000000000)\n\\set prio random(0, 99)\n"
                          + create_one.replace("MILESTONE", ":milestone").replace(":key", "('pg-' || :r)"),
        # Keys rerun:1..5000 are stored: the INSERT conflicts and the same statement reads the task.
        "rerun.sql": "\\set r random(1, 5000)\n\\set prio 1\n" + plain.replace(":key", "('rerun:' || :r)"),
        "storm.sql": "\\set r random(1, 10)\n\\set prio 1\n" + plain.replace(":key", "('storm:' || :r)"),
        # The server binds arrays and UNNESTs them; pgbench cannot bind arrays, so the same rows
        # come from generate_series. The INSERT, its ordering, conflict handling and RETURNING match.
        "bulk.sql": "\\set base random(1, 1000000000000)\n" + bulk,
        "list.sql": listing,
        # The same page as JSON built by PostgreSQL (bench/json_in_database.py).
        "list_json.sql": json_in_database.script(version, order),
        "data_version.sql": data_version,
        # The summary reads the data version (for its ETag) in its own statement.
        "summary.sql": summary,
        # storage::run_events::insert, copied in bench/events.py (checked against the source).
        "events.sql": events.script(),
        # storage::tasks::claim, then the PATCH that finishes the task (bench/claims.py).
        "claims.sql": claims.script(TASK_COLUMNS),
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


def run_scale():
    """The scale scenario runs unless BENCH_SCALE_TASKS=0, and under BENCH_ONLY when it names it."""
    return SCALE_TASKS > 0 and (not ONLY or "scale" in ONLY)


def counter_drift(cluster, db):
    """(project, milestone, status) keys whose maintained count differs from count(*)."""
    return int(cluster.psql(
        "SELECT count(*) FROM (SELECT project_id, COALESCE(milestone_id, 0) AS milestone_id, status, count(*) AS n "
        "FROM tasks GROUP BY 1, 2, 3) r FULL JOIN (SELECT project_id, milestone_id, status, sum(n) AS n "
        "FROM task_counts GROUP BY 1, 2, 3 HAVING sum(n) <> 0) c USING (project_id, milestone_id, status) "
        "WHERE r.n IS DISTINCT FROM c.n", db))


def build_scale_project(cluster, key, db, slug, n):
    """A project of n tasks, written in SQL (the triggers maintain its counts as for any insert).
    Columns are spread independently (hashes of the ordinal g): status as STATUS_OF_G, priority
    0..999, two thirds of the tasks in one of 20 milestones, labels 2 % ['rare'], 18 %
    ['backend', 'p1'], the rest ['backend'], external_id `wf-<g/100>:step:<g%100>` (runs of 100
    steps), created one every 20 s and updated up to 30 days later; in every block of 1000
    tasks, 20 are subtasks of the block's first. Returns what the reads need."""
    project = http("POST", "/projects", key, {"name": slug, "slug": slug})["id"]
    milestones = [http("POST", f"/projects/{project}/milestones", key,
                       {"name": f"milestone {i}", "slug": f"m-{i}"})["id"] for i in range(20)]
    # Ids reserved up front (task g gets base + g), so that parents can be named in the INSERT.
    base = int(cluster.psql("SELECT nextval('tasks_id_seq')", db))
    cluster.psql(f"SELECT setval('tasks_id_seq', {base + n})", db)
    ms = "'{" + ",".join(map(str, milestones)) + "}'::bigint[]"
    chunk = 100_000  # a multiple of 1000: each block's parent is inserted with its subtasks
    for first in range(1, n + 1, chunk):
        last = min(n, first + chunk - 1)
        cluster.psql(
            "INSERT INTO tasks (project_id, id, milestone_id, parent_task_id, title, status, priority_score, "
            "external_id, labels, created_at, updated_at, completed_at) "
            f"SELECT {project}, {base} + g, "
            f"CASE WHEN abs(hashint4(g + 2)) % 3 < 2 THEN ({ms})[1 + abs(hashint4(g + 3)) % 20] END, "
            f"CASE WHEN g % 1000 BETWEEN 2 AND 21 THEN {base} + g - g % 1000 + 1 END, "
            "'scale task ' || g, s.status, abs(hashint4(g + 1)) % 1000, 'wf-' || (g / 100) || ':step:' || (g % 100), "
            "CASE WHEN abs(hashint4(g + 5)) % 100 < 2 THEN ARRAY['rare'] "
            "WHEN abs(hashint4(g + 5)) % 100 < 20 THEN ARRAY['backend', 'p1'] ELSE ARRAY['backend'] END, "
            "s.created, s.updated, CASE WHEN s.status = 'done' THEN s.updated END "
            f"FROM generate_series({first}, {last}) g, LATERAL (SELECT {STATUS_OF_G} AS status, "
            "timestamptz '2026-01-01' + g * interval '20 seconds' AS created, "
            "timestamptz '2026-01-01' + g * interval '20 seconds' "
            "+ (abs(hashint4(g + 4)) % (30 * 86400)) * interval '1 second' AS updated) s", db)
    mid = n // 2
    return {"id": project, "tasks": n, "milestone": milestones[7], "parent": base + 1 + 1000 * (n // 2000),
            "external_id": f"wf-{mid // 100}:step:{mid % 100}", "run": f"wf-{mid // 100}:"}


def scale_reads(p):
    """(read, path) for each dashboard read of issue 10, on the project `p`."""
    q = urllib.parse.quote
    tasks = f"/projects/{p['id']}/tasks"
    filters = [
        ("milestone_id", f"milestone_id={p['milestone']}"),
        ("parent_task_id", f"parent_task_id={p['parent']}"),
        ("label no match", "label=nomatch"),
        ("label 2 % (rare)", "label=rare"),
        ("label 18 % (p1)", "label=p1"),
        ("external_id", f"external_id={q(p['external_id'])}"),
        ("external_id_prefix one run", f"external_id_prefix={q(p['run'])}"),
        ("external_id_prefix broad (wf-5)", "external_id_prefix=wf-5"),
        ("priority_min=990", "priority_min=990"),
        ("priority_max=9", "priority_max=9"),
        ("priority 500..504", "priority_min=500&priority_max=504"),
        ("sort=created_at", "sort=created_at"),
        ("sort=-updated_at", "sort=-updated_at"),
    ]
    reads = [
        ("milestones list", f"/projects/{p['id']}/milestones"),
        ("one milestone", f"/projects/{p['id']}/milestones/{p['milestone']}"),
        ("summary", f"/projects/{p['id']}/summary"),
        ("tasks (default: priority)", tasks),
        ("tasks after a cursor (from task 51)", None),  # the path comes from a first page's next_cursor
        ("status=blocked", f"{tasks}?status=blocked"),
    ]
    for name, query in filters:
        reads.append((name, f"{tasks}?{query}"))
        reads.append((f"{name} + status=blocked", f"{tasks}?status=blocked&{query}"))
    return reads


def measure(connection, key, path, requests):
    """Sequential GETs on one kept-alive connection: (latencies in ms, bad answers, last answer)."""
    latencies, bad, answer = [], 0, None
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + SCALE_READ_SECONDS
    for _ in range(requests):
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            bad += 1
        else:
            answer = body
        if time.monotonic() > deadline:
            break
    return latencies, bad, answer


def percentiles(latencies):
    ordered = sorted(latencies)
    return {"p50_ms": statistics.median(ordered), "p99_ms": ordered[max(0, -(-len(ordered) * 99 // 100) - 1)],
            "requests": len(ordered)}


def start_server(cluster, db, workdir):
    """A fresh database `db` (migrated, one tenant) and the server on it: (server, api key, tenant id)."""
    subprocess.run([f"{cluster.bin}/createdb", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", db],
                   check=True)
    subprocess.run([BINARY, "migrate", "--database-url", cluster.url(db)], check=True, capture_output=True)
    issued = json.loads(subprocess.run([BINARY, "tenant", "create", "bench", "--database-url", cluster.url(db)],
                                       check=True, capture_output=True, text=True).stdout)
    server = subprocess.Popen([BINARY, "--bind", f"127.0.0.1:{HTTP_PORT}", "--database-url", cluster.url(db),
                               "--log", LOG_LEVEL, "--log-format", "json"], stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(workdir, f"server-{db}.log"), "w"))
    for _ in range(100):
        try:
            urllib.request.urlopen(BASE + "/health/ready", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    time.sleep(1)
    return server, issued["api_key"], issued["tenant"]["id"]


def stop_server(server):
    server.send_signal(signal.SIGINT)
    server.wait(timeout=60)


def scale(cluster, key, db):
    """Issue 10's scale table: each dashboard read on a 100-task project and on a SCALE_TASKS one,
    in their own database `db` (the throughput scenarios leave millions of tasks in theirs)."""
    started = time.monotonic()
    small = build_scale_project(cluster, key, db, "scale-small", 100)
    big = build_scale_project(cluster, key, db, "scale-big", SCALE_TASKS)
    built = time.monotonic()
    cluster.psql("VACUUM ANALYZE", db)
    # Warm: every table and index of the reads in shared_buffers (then a few requests per read).
    cluster.psql("CREATE EXTENSION IF NOT EXISTS pg_prewarm", db)
    cluster.psql("SELECT sum(pg_prewarm(c.oid)) FROM pg_class c WHERE c.relkind IN ('r', 'i') "
                 "AND c.relnamespace = 'public'::regnamespace", db)
    print(f"scale: built {SCALE_TASKS} + 100 tasks in {built - started:.0f} s, vacuumed and warmed in "
          f"{time.monotonic() - built:.0f} s", file=sys.stderr)
    connection = HTTPConnection("127.0.0.1", HTTP_PORT, timeout=120)
    failures, reads = 0, []
    expected = {}
    for p in (small, big):
        expected[p["id"]] = p["tasks"]
    for (name, small_path), (_, big_path) in zip(scale_reads(small), scale_reads(big)):
        row = {"read": name}
        for label, p, path in (("small", small, small_path), ("big", big, big_path)):
            if path is None:  # a later page: after the 50th task (the small project has only 100)
                first = json.loads(measure(connection, key, f"/projects/{p['id']}/tasks?limit=50", 1)[2])
                path = f"/projects/{p['id']}/tasks?cursor={urllib.parse.quote(first['next_cursor'])}"
            measure(connection, key, path, 3)  # warm-up, not counted
            latencies, bad, answer = measure(connection, key, path, SCALE_REQUESTS)
            stats = {"path": path, **percentiles(latencies), "non_200": bad}
            if answer is not None:
                body = json.loads(answer)
                if isinstance(body, dict) and isinstance(body.get("data"), list):
                    stats["rows"] = len(body["data"])
                if name == "summary" and body["tasks"]["total"] != p["tasks"]:
                    stats["wrong_total"] = body["tasks"]["total"]
                    bad += 1
            failures += bad
            row[label] = stats
        reads.append(row)
        print(f"scale: {name}: {row['small']['p50_ms']:.2f}/{row['small']['p99_ms']:.2f} ms, "
              f"{row['big']['p50_ms']:.2f}/{row['big']['p99_ms']:.2f} ms", file=sys.stderr)
    connection.close()
    drift = counter_drift(cluster, db)
    if drift:
        print(f"scale: {drift} maintained counts differ from count(*)", file=sys.stderr)
    return {"tasks": SCALE_TASKS, "counter_drift": drift, "requests_per_read": SCALE_REQUESTS, "read_seconds_max": SCALE_READ_SECONDS,
            "build_seconds": round(built - started, 1), "reads": reads, "failures": failures + drift}


def print_scale(scaled):
    print(f"\nScale: each read {scaled['requests_per_read']} times in a row (at most "
          f"{scaled['read_seconds_max']:g} s), one client, after a warm-up; status=blocked is 10 % of the tasks.\n")
    print(f"| read | 100 tasks p50/p99 ms | {scaled['tasks']:,} tasks p50/p99 ms |")
    print("|---|---|---|")
    for r in scaled["reads"]:
        cells = [f"{r[k]['p50_ms']:.2f} / {r[k]['p99_ms']:.2f}" for k in ("small", "big")]
        print(f"| {r['read']} | {cells[0]} | {cells[1]} |")


def main():
    stale = events.in_step()
    if stale:
        sys.exit(stale)
    feed.raise_fd_limit()  # 10 000 streams, in this process and in the server it starts
    workdir = tempfile.mkdtemp(prefix="taskdash-bench-", dir="/tmp")
    os.chmod(workdir, 0o755)
    cluster = Cluster(workdir)
    server = None
    try:
        server, key, tenant = start_server(cluster, "taskdash", workdir)
        idle_rss = rss_kb(server.pid, "VmRSS")

        project = http("POST", "/projects", key, {"name": "bench", "slug": "bench"})["id"]
        # The re-run case: 5000 keys already stored, for both the server and pgbench.
        for chunk in range(5):
            http("POST", f"/projects/{project}/tasks:bulk", key,
                 {"tasks": [{"title": "stored", "external_id": f"rerun:{chunk * 1000 + i + 1}"} for i in range(1000)]})
        # The hot-milestone case: every create of that scenario counts into this one milestone.
        hot = http("POST", f"/projects/{project}/milestones", key, {"name": "hot", "slug": "hot"})["id"]
        # The list and summary case: a project holding 100 000 tasks, two thirds of them in five
        # milestones, statuses spread (so that the summary has counts to add up).
        list_project = http("POST", "/projects", key, {"name": "queue", "slug": "queue"})["id"]
        queue_milestones = [http("POST", f"/projects/{list_project}/milestones", key,
                                 {"name": f"queue {i}", "slug": f"queue-{i}"})["id"] for i in range(5)]
        cluster.psql(f"INSERT INTO tasks (project_id, title, priority_score, external_id, status, completed_at, "
                     f"milestone_id) SELECT {list_project}, 'queued ' || g, g % 1000, 'q:' || g, s.status, "
                     "CASE WHEN s.status = 'done' THEN now() END, "
                     f"CASE WHEN g % 3 > 0 THEN ('{{{','.join(map(str, queue_milestones))}}}'::bigint[])[1 + g % 5] END "
                     f"FROM generate_series(1, 100000) g, LATERAL (SELECT {STATUS_OF_G} AS status) s")
        cluster.psql("VACUUM ANALYZE")
        # The conditional GET case: the list page's current tag (nothing writes to that project
        # from here on, so every If-None-Match below holds it).
        list_path = f"/projects/{list_project}/tasks?limit=100"
        etag = http("GET", list_path, key, headers=True)[1]["ETag"]
        # The run events case (bench/events.py): a project of its own, its runs.
        ev = events.setup(http, key, cluster)
        # The claims case (bench/claims.py): a project of open tasks to claim.
        claim_project = claims.setup(http, key, cluster)
        scripts = write_scripts(workdir)
        env = {"TASKDASH_KEY": key}
        variables = {"project": project, "tenant": tenant, "lproject": list_project, "limit": 101}

        tasks, bulk = f"/projects/{project}/tasks", f"/projects/{project}/tasks:bulk"
        scenarios = [
            ("create c1", "create", tasks, 1, "create.sql", {}),
            ("create c16", "create", tasks, 16, "create.sql", {}),
            ("create c16 hot milestone", "create", tasks, 16, "create_hot.sql", {"milestone": hot}),
            ("create c16 idempotency-key", "create", tasks, 16, "create_keyed.sql", {"keyed": 1}),
            ("create c64", "create", tasks, 64, "create.sql", {}),
            ("re-run c16", "rerun", tasks, 16, "rerun.sql", {}),
            ("storm c64", "storm", tasks, 64, "storm.sql", {}),
            ("bulk100 c1", "bulk", bulk, 1, "bulk.sql", {"n": 100}),
            ("bulk100 c16", "bulk", bulk, 16, "bulk.sql", {"n": 100}),
            ("bulk1000 c1", "bulk", bulk, 1, "bulk.sql", {"n": 1000}),
            ("bulk1000 c16", "bulk", bulk, 16, "bulk.sql", {"n": 1000}),
            ("list100 c1", "get", list_path, 1, "list.sql", {}),
            ("list100 c16", "get", list_path, 16, "list.sql", {}),
            ("list100 304 c1", "304", list_path, 1, "data_version.sql", {}),
            ("list100 304 c16", "304", list_path, 16, "data_version.sql", {}),
            ("summary c16", "get", f"/projects/{list_project}/summary", 16, "summary.sql", {}),
            *events.scenarios(ev),
            *claims.scenarios(claim_project),
        ]
        rows = []
        for name, mode, path, connections, sql, extra in scenarios:
            if ONLY and not any(word in name for word in ONLY):
                continue
            load_env = {**env, "BULK_SIZE": str(extra.get("n", 0)), "MILESTONE_ID": str(extra.get("milestone", "")),
                        "IF_NONE_MATCH": etag, "IDEMPOTENCY_KEYS": str(extra.get("keyed", 0))}
            # The rows a round writes: run events for the events scenarios, tasks for the others.
            # The events scenarios run one wrk thread per connection (see bench/events.py).
            if mode == "claim":
                load_env.update(claims.load_env(claim_project))
            if mode == "events":
                load_env.update(events.load_env(extra))
                count, threads = (lambda: events.count(cluster, ev)), connections
            else:
                count, threads = (lambda: cluster.count_tasks(project)), None
            rounds = []
            for _ in range(ROUNDS):
                before, cpu_before = count(), cpu_seconds(server.pid)
                server_result = wrk(mode, path, connections, load_env, threads)
                if mode == "claim":
                    # Two requests per cycle (claim, finish); the ceiling's transaction is a cycle.
                    server_result["throughput"] /= 2
                server_result["cpu_us_per_request"] = ((cpu_seconds(server.pid) - cpu_before) * 1e6
                                                       / max(server_result["requests"], 1))
                server_result["rows_written"] = count() - before
                server_result["rows_as_expected"] = rows_as_expected(mode, server_result, connections, extra)
                if mode == "events":
                    # Runs whose events are not numbered 1..n under their counter.
                    gaps = events.sequence_gaps(cluster, ev)
                    server_result["sequence_gaps"] = gaps
                    server_result["rows_as_expected"] = server_result["rows_as_expected"] and gaps == 0
                ceiling = ceiling_stats(*cluster.pgbench(scripts[sql], connections, {**variables, **extra}))
                rounds.append({"server": server_result, "ceiling": ceiling,
                               "ratio": server_result["throughput"] / ceiling["throughput"],
                               "p50_ratio": server_result["p50_ms"] / ceiling["p50_ms"]})
            median = sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]
            row = {"scenario": name, **median, "rounds": rounds,
                   "failures": sum(not r["server"]["rows_as_expected"] or r["server"]["non_2xx"]
                                   or r["server"].get("not_304", 0)
                                   or r["server"]["socket_errors"] is not None for r in rounds)}
            rows.append(row)
            print(f"{name}: ratios " + ", ".join(f"{r['ratio']:.2f}" for r in rounds), file=sys.stderr)
        peak_rss = rss_kb(server.pid, "VmHWM")
        json_road = None
        if any(r["scenario"].startswith("list100 c") for r in rows):
            json_road = json_in_database.run(cluster, scripts, variables, ROUNDS)
        drift = counter_drift(cluster, "taskdash")
        stop_server(server)
        server = None
        feed_names = feed.selected(ONLY)
        fed = feed.run(feed_names, cluster, workdir, start_server, stop_server, http, HTTP_PORT) if feed_names else None
        scaled = None
        if run_scale():
            server, scale_key, _ = start_server(cluster, "taskdash_scale", workdir)
            scaled = scale(cluster, scale_key, "taskdash_scale")
            stop_server(server)
            server = None
    finally:
        if server:
            stop_server(server)
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    machine = subprocess.run(["bash", "-c", "nproc; grep -m1 'model name' /proc/cpuinfo | cut -d: -f2; "
                              "free -g | awk '/Mem/ {print $2}'"], capture_output=True, text=True).stdout.split("\n")
    by_name = {r["scenario"]: r for r in rows}
    # Server throughput of one scenario over another's (each the median round of its own).
    targets = []
    for name, base, goal in (("create c16 hot milestone", "create c16", 0.8),
                             ("create c16 idempotency-key", "create c16", 0.8),
                             ("list100 304 c1", "list100 c1", 2.0),
                             ("list100 304 c16", "list100 c16", 2.0)):
        if name in by_name and base in by_name:
            ratio = by_name[name]["server"]["throughput"] / by_name[base]["server"]["throughput"]
            # The same for pgbench: how much of the difference the database itself makes.
            ceiling = by_name[name]["ceiling"]["throughput"] / by_name[base]["ceiling"]["throughput"]
            targets.append({"scenario": name, "over": base, "ratio": ratio, "target": goal,
                            "ceiling_ratio": ceiling})
    result = {"duration_s": DURATION, "rounds": ROUNDS, "server_log_level": LOG_LEVEL, "machine": {"cores": machine[0], "cpu": machine[1].strip(),
                                                  "memory_gib": machine[2]},
              "rss_kb": {"idle": idle_rss, "peak": peak_rss}, "scenarios": rows, "throughput_ratios": targets,
              "counter_drift": drift}
    if fed:
        result["feed"] = fed
    if json_road:
        result["json_in_database"] = json_road
    if scaled:
        result["scale"] = scaled
    os.makedirs(RESULTS, exist_ok=True)
    # A partial run (BENCH_ONLY) does not replace the full results the README shows.
    name = "partial" if ONLY else "latest"
    with open(os.path.join(RESULTS, f"{name}.json"), "w") as f:
        json.dump(result, f, indent=2)
    if rows:
        svg(rows, os.path.join(RESULTS, f"{name}.svg"))

    print(f"\nMachine: {result['machine']['cores']} cores, {result['machine']['cpu']}, "
          f"{result['machine']['memory_gib']} GiB; server log level {LOG_LEVEL}" + (
              f"; median of {ROUNDS} alternating rounds of {DURATION} s; server and ceiling share the cores "
              "with the load generator.\n" if rows else ".\n"))
    if rows:
        print("| scenario | server req/s | ceiling tx/s | ratio | server p50 ms | ceiling p50 ms | p50 ratio "
              "| server p99 ms | ceiling p99 ms | server CPU µs/req | failed rounds |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            s, c = r["server"], r["ceiling"]
            print(f"| {r['scenario']} | {s['throughput']:.0f} | {c['throughput']:.0f} | {r['ratio']:.2f} | "
                  f"{s['p50_ms']:.2f} | {c['p50_ms']:.2f} | {r['p50_ratio']:.2f} | {s['p99_ms']:.2f} | "
                  f"{c['p99_ms']:.2f} | {s['cpu_us_per_request']:.0f} | {r['failures']} |")
        print()
    for t in targets:
        verdict = "met" if t["ratio"] >= t["target"] else "NOT met"
        print(f"{t['scenario']} ÷ {t['over']}, server req/s: {t['ratio']:.2f} (target ≥ {t['target']:g}: {verdict}; "
              f"the same for the ceilings: {t['ceiling_ratio']:.2f})")
    if json_road:
        json_in_database.print_table(json_road, rows)
    print(f"Server RSS: {idle_rss / 1024:.1f} MB idle, {peak_rss / 1024:.1f} MB peak.")
    print(f"Maintained counts (task_counts) against count(*) after the throughput scenarios: "
          + ("exact." if drift == 0 else f"{drift} (project, milestone, status) keys DRIFTED."))
    if fed:
        feed.print_tables(fed)
    if scaled:
        print_scale(scaled)
    failed = False
    if any(r["failures"] for r in rows):
        print("Some rounds failed (non-2xx answers, a 304 scenario answered otherwise, socket errors, rows "
              f"not written as answered, or a run's event sequences with gaps): see bench/results/{name}.json")
        failed = True
    if scaled and scaled["failures"]:
        print(f"Scale reads failed (non-200 answers, a wrong summary total or drifted counts): "
              f"see bench/results/{name}.json")
        failed = True
    if fed and feed.failures(fed):
        print(f"Feed scenarios failed (a stream refused or closed, a create not answered 201, or a stream "
              f"missing, repeating or reordering events): see bench/results/{name}.json")
        failed = True
    if drift:
        failed = True
    if failed:
        sys.exit(1)

if __name__ == "__main__":
    main()
