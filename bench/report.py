"""What a bench run reports: the machine it ran on, the throughput ratios against their targets,
the markdown tables (the feed's, the scale scenario's, json_in_database's and pooled_ceiling's
from their modules) and the SVG plot of server ÷ ceiling."""

import subprocess

import feed
import json_in_database
import pooled_ceiling
from scale import print_scale
from settings import DURATION, LOG_LEVEL, ROUNDS


def machine():
    """Cores, CPU model and memory (GiB) of this machine, for the results."""
    machine = subprocess.run(["bash", "-c", "nproc; grep -m1 'model name' /proc/cpuinfo | cut -d: -f2; "
                              "free -g | awk '/Mem/ {print $2}'"], capture_output=True, text=True).stdout.split("\n")
    return {"cores": machine[0], "cpu": machine[1].strip(), "memory_gib": machine[2]}


def throughput_ratios(rows):
    """Server throughput of one scenario over another's (each the median round of its own)."""
    by_name = {r["scenario"]: r for r in rows}
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
    return targets


def print_report(result):
    """Every table of the run, from the results main() writes to JSON."""
    rows, targets, drift = result["scenarios"], result["throughput_ratios"], result["counter_drift"]
    idle_rss, peak_rss = result["rss_kb"]["idle"], result["rss_kb"]["peak"]
    json_road, fed, scaled = result.get("json_in_database"), result.get("feed"), result.get("scale")
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
    if result.get("pooled_ceiling"):
        pooled_ceiling.print_table(result["pooled_ceiling"], rows)
    print(f"Server RSS: {idle_rss / 1024:.1f} MB idle, {peak_rss / 1024:.1f} MB peak.")
    print(f"Maintained counts (task_counts) against count(*) after the throughput scenarios: "
          + ("exact." if drift == 0 else f"{drift} (project, milestone, status) keys DRIFTED."))
    if fed:
        feed.print_tables(fed)
    if scaled:
        print_scale(scaled)


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

