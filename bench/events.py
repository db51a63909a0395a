"""The run events scenarios (issue 12), run by bench.py among the throughput scenarios, against the
same ceiling (pgbench running the statement the server runs, at the same concurrency):

events100 c1          one connection posting batches of 100 new events to one run
events100 c16         16 connections, each on a run of its own (16 runs): the batches of one run
                      serialise on its counter row (runs.last_sequence), so this is the spread case
events100 c16 hot run 16 connections on one run (the c1 run): every batch waits for that row lock

Each request is `POST /projects/{p}/runs/{run}/events` with `{"events": [...]}`, 100 events with
new event_ids (`<wrk thread prefix>:<request counter>:<k>`, k = 1..100), no sequence (the server
assigns them) and no ts (the server stamps now()): `{event_id, event_type: "step.completed",
step_name: "step-<k % 10>", status: "ok", duration_ms: 10 k, payload: {"k": k}}`. wrk runs one
thread per connection here, so that a connection is a thread and keeps its run (wrk's Lua cannot
tell connections apart): thread i posts to run i of the scenario's runs, as pgbench client i does.

The ceiling runs storage::run_events::insert's statement (copied below, with the server's
parameters $1..$12: the same project, tenant and run, and the arrays the server binds for such a
batch). pgbench binds each array as its text form (sqlx binds them binary); the event_ids, which
must be new in each transaction, are built in SQL from a random number instead of bound. The
statement is compared with the one in src/storage/run_events/insert.rs when the bench starts: a
difference fails the run (keep the copy in step). The second statement of `append` (the
event_ids a concurrent request wrote first) never runs here: no two requests share an event_id.

After each server round: the run events the round wrote must be 100 per acknowledged batch (with
the slack of one batch per connection in flight when wrk stops), and every run of the scenarios'
project must be gap-free (count of events = highest sequence = runs.last_sequence; pgbench's
rounds write to the same runs with the same statement, so that holds for them too). Otherwise
the round fails.
"""

import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "src/storage/run_events/insert.rs")
BATCH = 100
SPREAD_RUNS = 16

# src/storage/run_events/mod.rs, event_columns!().
EVENT_COLUMNS = ("project_id, run_id, sequence, event_id, event_type, step_name, status, duration_ms, ts, "
                 "payload, created_at")

# src/storage/run_events/insert.rs, insert(): the one statement (comments left out; keep in step,
# the bench checks). $1 project, $2 tenant, $3 run, $4..$12 the batch's columns as arrays.
STATEMENT = f"""WITH input AS MATERIALIZED (
     SELECT * FROM UNNEST($4::int[], $5::text[], $6::bigint[], $7::text[], $8::text[],
                          $9::text[], $10::bigint[], $11::timestamptz[], $12::jsonb[])
          AS u(ordinal, event_id, sequence, event_type, step_name, status, duration_ms,
               ts, payload)
 ), fresh AS MATERIALIZED (
     SELECT i.*, count(*) FILTER (WHERE i.sequence IS NULL) OVER (ORDER BY i.ordinal) AS nth
     FROM input i LEFT JOIN LATERAL (
         SELECT true AS held FROM run_events e
         WHERE e.project_id = $1 AND e.run_id = $3 AND e.event_id = i.event_id LIMIT 1
     ) s ON true
     WHERE s.held IS NULL
 ), wanted AS (
     SELECT count(*) FILTER (WHERE sequence IS NULL) AS assigned,
            COALESCE(max(sequence), 0) AS top
     FROM fresh
 ), run AS MATERIALIZED (
     UPDATE runs r SET last_sequence = GREATEST(r.last_sequence, w.top) + w.assigned
     FROM projects p, wanted w
     WHERE r.project_id = $1 AND r.id = $3 AND p.id = r.project_id AND p.tenant_id = $2
     RETURNING r.last_sequence - w.assigned AS base
 ), inserted AS (
     INSERT INTO run_events (project_id, run_id, sequence, event_id, event_type,
                             step_name, status, duration_ms, ts, payload)
     SELECT $1, $3, COALESCE(f.sequence, run.base + f.nth), f.event_id, f.event_type,
            f.step_name, f.status, f.duration_ms, COALESCE(f.ts, now()), f.payload
     FROM fresh f CROSS JOIN run
     ORDER BY 3
     ON CONFLICT (project_id, run_id, event_id) DO NOTHING
     RETURNING {EVENT_COLUMNS}
 ), outcome AS (
     SELECT true AS created, i.ordinal, inserted.* FROM inserted JOIN input i USING (event_id)
     UNION ALL
     SELECT false, i.ordinal, e.* FROM input i JOIN LATERAL (SELECT {EVENT_COLUMNS} FROM run_events
         WHERE project_id = $1 AND run_id = $3 AND event_id = i.event_id LIMIT 1) e ON true
     WHERE EXISTS (SELECT 1 FROM run)
       AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.event_id = i.event_id)
 )
 SELECT EXISTS (SELECT 1 FROM run) AS found, o.* FROM (SELECT) one
 LEFT JOIN outcome o ON true"""

# What pgbench puts for each parameter: its variables (bound, as sqlx binds), except the
# event_ids, new in every transaction (pgbench has no string expressions).
PARAMETERS = {
    1: ":eproject", 2: ":tenant", 3: ":run", 4: ":ordinals",
    5: "ARRAY(SELECT 'pg:' || :base || ':' || g FROM generate_series(1, :n) g)",
    6: ":sequences", 7: ":types", 8: ":steps", 9: ":statuses", 10: ":durations", 11: ":times",
    12: ":payloads",
}


def normalised(sql):
    """Without comments, whitespace runs as one space (none next to brackets and commas)."""
    sql = re.sub(r"--[^\n]*", "", sql)
    sql = re.sub(r"\s+", " ", sql).strip()
    return re.sub(r"\s*([(),])\s*", r"\1", sql)


def server_statement():
    """insert()'s statement as src/storage/run_events/insert.rs has it (its literals and
    event_columns!() joined as concat! does)."""
    with open(SOURCE) as f:
        source = f.read()
    body = source[source.index("async fn insert("):]
    body = body[body.index("sqlx::query(concat!(") + len("sqlx::query(concat!("):]
    body = body[:body.index("))\n")]
    parts = []
    for literal, macro in re.findall(r'"((?:[^"\\]|\\.)*)"|(event_columns!\(\))', body):
        # A backslash at a line's end continues the literal past the line break and indentation.
        parts.append(EVENT_COLUMNS if macro else re.sub(r"\\\n\s*", "", literal))
    return "".join(parts)


def in_step():
    """Whether STATEMENT is the server's statement (an error message otherwise)."""
    try:
        theirs = server_statement()
    except ValueError as error:
        return f"cannot find insert()'s statement in {SOURCE}: {error}"
    if normalised(theirs) != normalised(STATEMENT):
        return (f"bench/events.py's STATEMENT differs from insert()'s in {SOURCE}: copy it again\n"
                f"  server: {normalised(theirs)}\n  bench:  {normalised(STATEMENT)}")
    return None


def script():
    """The pgbench script: the run is the client's (client_id modulo the scenario's runs)."""
    statement = re.sub(r"\$(\d+)", lambda m: PARAMETERS[int(m.group(1))], STATEMENT)
    return ("\\set base random(1, 1000000000000)\n\\set run :run_first + :client_id % :runs\n"
            + statement + ";\n")


def array(values):
    """A PostgreSQL array literal of strings (None: NULL), as pgbench binds it."""
    def element(value):
        if value is None:
            return "NULL"
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "{" + ",".join(element(v) for v in values) + "}"


def batch_variables(n=BATCH):
    """The arrays the server binds for a batch of load.lua's `events` mode (k = 1..n, ordinal
    k - 1), the event_ids aside."""
    ks = range(1, n + 1)
    return {
        "n": n,
        "ordinals": array([str(k - 1) for k in ks]),
        "sequences": array([None] * n),
        "types": array(["step.completed"] * n),
        "steps": array([f"step-{k % 10}" for k in ks]),
        "statuses": array(["ok"] * n),
        "durations": array([str(10 * k) for k in ks]),
        "times": array([None] * n),
        # serde_json's compact form, as sqlx's Json encodes it (load.lua sends the same text).
        "payloads": array([json.dumps({"k": k}, separators=(",", ":")) for k in ks]),
    }


SEED_EVENTS = 1000


def setup(http, key, cluster):
    """A project of its own, one run for c1 and the hot run, and SPREAD_RUNS runs for c16,
    created in a row (consecutive ids: pgbench computes a client's run from the first). Each
    run starts with SEED_EVENTS events (sequences 1..SEED_EVENTS, its counter there), then
    run_events is analysed: planned on a never-analysed run_events, the statement probes the
    run's events through the primary key and filters on event_id (O(run x batch): 0.5 s per
    batch at 40 000 events), a plan the server keeps or not depending on when its connections
    first planned the statement; with statistics, both probe run_events_event_id_key."""
    project = http("POST", "/projects", key, {"name": "events", "slug": "events"})["id"]
    runs = [http("POST", f"/projects/{project}/runs", key,
                 {"external_id": f"bench-{i}", "workflow_type": "bench"})["id"] for i in range(1 + SPREAD_RUNS)]
    if runs != list(range(runs[0], runs[0] + len(runs))):
        raise RuntimeError(f"bench runs do not have consecutive ids: {runs}")
    cluster.psql(f"INSERT INTO run_events (project_id, run_id, sequence, event_id, event_type, ts) "
                 f"SELECT {project}, r, g, 'seed:' || g, 'seed', now() "
                 f"FROM generate_series({runs[0]}, {runs[-1]}) r, generate_series(1, {SEED_EVENTS}) g")
    cluster.psql(f"UPDATE runs SET last_sequence = {SEED_EVENTS} WHERE project_id = {project}")
    cluster.psql("ANALYZE run_events, runs")
    return {"project": project, "single": runs[0], "spread_first": runs[1]}


def scenarios(ev):
    """bench.py's scenario tuples: (name, mode, path, connections, script, extra). `extra` holds
    the pgbench variables (and n, the batch size load.lua reads from BULK_SIZE); run_first and
    runs pick each connection's run, in wrk (EVENT_RUN_FIRST, EVENT_RUNS) as in pgbench."""
    path = "/projects/{}/runs/{}/events"
    common = {"eproject": ev["project"], **batch_variables()}
    return [
        ("events100 c1", "events", path.format(ev["project"], ev["single"]), 1, "events.sql",
         {**common, "run_first": ev["single"], "runs": 1}),
        ("events100 c16", "events", path.format(ev["project"], ev["spread_first"]), 16, "events.sql",
         {**common, "run_first": ev["spread_first"], "runs": SPREAD_RUNS}),
        ("events100 c16 hot run", "events", path.format(ev["project"], ev["single"]), 16, "events.sql",
         {**common, "run_first": ev["single"], "runs": 1}),
    ]


def load_env(extra):
    """What load.lua's `events` mode reads."""
    return {"EVENT_PROJECT": str(extra["eproject"]), "EVENT_RUN_FIRST": str(extra["run_first"]),
            "EVENT_RUNS": str(extra["runs"])}


def count(cluster, ev):
    """The events of the scenarios' project."""
    return int(cluster.psql(f"SELECT count(*) FROM run_events WHERE project_id = {ev['project']}"))


def sequence_gaps(cluster, ev):
    """Runs of the project whose events are not numbered 1..count or whose counter is elsewhere."""
    return int(cluster.psql(
        "SELECT count(*) FROM runs r LEFT JOIN LATERAL (SELECT count(*) AS n, COALESCE(max(sequence), 0) AS top "
        "FROM run_events e WHERE e.project_id = r.project_id AND e.run_id = r.id) e ON true "
        f"WHERE r.project_id = {ev['project']} AND (e.n <> e.top OR e.top <> r.last_sequence)"))
