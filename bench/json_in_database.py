"""Issue 10's other road, measured: PostgreSQL building a list page's JSON (the server would pass
the bytes through) instead of the server decoding rows and encoding JSON.

This is a ceiling-only comparison, run with the list100 scenarios: pgbench alternates, at c1 and
c16, the list statement in the form that can return JSON, the page joined to the project's
version (`list_joined.sql`: the server's statement up to d247e4e; it now merges the two
instead), with the same statement returning each task as `row_to_json` text in the API's field
order (`list_json.sql`). The JSON statement's
throughput bounds any pass-through server from above: if it is below what the server already
answers with the plain statement, PostgreSQL-built JSON cannot make lists faster, and it moves
that CPU onto the one database every replica shares. (It is a lower bound of the database's
cost, too: PostgreSQL writes timestamps as `+00:00` with trimmed digits, not the API's `Z`.)
"""

import statistics

# The API's field order (src/domain/task.rs), so that the text would be the answer's bytes.
API_COLUMNS = ("id, project_id, milestone_id, parent_task_id, run_id, title, description, status, "
               "priority_score, external_id, labels, version, created_at, updated_at, completed_at, "
               "claimed_by, claimed_at, claim_expires_at, depends_on, blocked_by")


def script(version, order, task):
    """The list page joined to its version, each task as `task` (`t.*`, or one JSON text column). The
    page comes from a subquery bounded by a constant, as the server's pages do since storage::MAX_PAGE_ROWS,
    so that PostgreSQL keeps each statement's plan instead of planning it at every call."""
    return (f"WITH v AS MATERIALIZED (SELECT {version} AS version FROM projects WHERE id = :lproject "
            f"AND tenant_id = :tenant) SELECT v.version, {task} FROM v LEFT JOIN LATERAL "
            f"(SELECT * FROM (SELECT {API_COLUMNS} FROM tasks WHERE project_id = :lproject {order} LIMIT 1001) t "
            f"{order} LIMIT :limit) t ON true "
            f"{order.replace('BY ', 'BY t.').replace(', ', ', t.')};\n")


def run(cluster, scripts, variables, rounds):
    """Median tx/s of each statement at c1 and c16, alternated `rounds` times."""
    result = {}
    for clients in (1, 16):
        plain, json = [], []
        for _ in range(rounds):
            plain.append(cluster.pgbench(scripts["list_joined.sql"], clients, variables)[0])
            json.append(cluster.pgbench(scripts["list_json.sql"], clients, variables)[0])
        result[f"c{clients}"] = {"plain_tps": statistics.median(plain), "json_tps": statistics.median(json)}
    return result


def print_table(result, rows):
    """`rows`: the bench's scenario rows, for the server's own list100 throughput."""
    server = {r["scenario"]: r["server"]["throughput"] for r in rows}
    print("| list100, ceiling only | plain statement tx/s | JSON-building statement tx/s | JSON ÷ plain "
          "| server today req/s |")
    print("|---|---|---|---|---|")
    for clients, r in result.items():
        today = server.get(f"list100 {clients}")
        print(f"| {clients} | {r['plain_tps']:.0f} | {r['json_tps']:.0f} | {r['json_tps'] / r['plain_tps']:.2f} "
              f"| {f'{today:.0f}' if today else '–'} |")
    print()
