#!/usr/bin/env bash
# Proof on loopback that taskdash works as stateless replicas behind a real load balancer:
# PostgreSQL, three replicas started at the same moment on a fresh database, nginx in front
# (deploy/nginx.conf with loopback addresses), then these scenarios through nginx:
#   storm     many clients creating the same external_ids (single and bulk)
#   sigkill   SIGKILL a replica under load; clients retry like the workflow client
#   sigkillkeys  the same with tasks without external_id, each request carrying an
#             Idempotency-Key (nginx and the clients retry): none duplicated, none lost
#   pgrestart restart PostgreSQL under load: 503s meanwhile, replicas recover by themselves
#   rolling   SIGTERM each replica in turn under load: zero failed requests
#   claims    32 agents claim and finish 1000 tasks while a replica is SIGKILLed: every task
#             done, no claim answered with a task another agent still held (claims.py)
#   claimkill an agent SIGKILLed holding a task: claimed again after its lease, not before
#   feed      SSE subscribers through nginx while writers hit all replicas; one subscriber's
#             replica is SIGKILLed and it resumes with Last-Event-ID: every change exactly
#             once, in order, as in GET /changes and the tasks table (feed.py)
#   feedrolling  the same while each replica in turn gets SIGTERM: streams end at the start
#             of the drain and resume on another replica, none is refused (feed.py)
#   feeddeleted  a project's subscriber, disconnected while the project is deleted, resumes
#             with Last-Event-ID and gets the deletion and its cascade (feed.py)
#   feedpg    the same as feed while PostgreSQL restarts: streams recover by themselves
#             (feed.py; last: replicas' pools keep connections the restart broke, which
#             fail a request or two each when next used)
# Usage: e2e/loadbalancer/run.sh [path/to/taskdash] [scenario ...]. Everything it starts,
# it stops; each scenario is bounded in requests and time.
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=$(realpath "${1:-target/release/taskdash}")
shift || true
scenarios=("${@:-storm sigkill sigkillkeys pgrestart rolling claims claimkill feed feedrolling feeddeleted feedpg}")
scenarios=(${scenarios[*]})

export LB_DIR; LB_DIR=$(mktemp -d /tmp/taskdash-lb-XXXXXX)
chmod 755 "$LB_DIR"
# Below the ephemeral port range (32768-60999 here), where a port may be the local end of a
# client connection when PostgreSQL binds it: once, on 55432 right after the Schemathesis run
# (thousands of connections), PostgreSQL did not start (cause not captured then; now it is).
pg_port=25432
export LB_PORT=18200
replica_ports=(18201 18202 18203)
export LB_REPLICA_PORTS="18201,18202,18203"
# Short keep-alives on the event streams, so that the feed clients' watchdog (5 heartbeats)
# notices a silent stream quickly.
export LB_EVENTS_HEARTBEAT_SECS=2
pg_bin=$(dirname "$(realpath "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb | tail -n 1)")")
run_as_pg=""
if [ "$(id -u)" = 0 ]; then run_as_pg="runuser -u postgres --"; fi
url="postgres://postgres@127.0.0.1:$pg_port/taskdash"
export LB_PSQL="psql -h 127.0.0.1 -p $pg_port -U postgres -d taskdash"

cleanup() {
    set +e
    for n in 1 2 3; do [ -f "$LB_DIR/replica-$n.pid" ] && kill -KILL "$(cat "$LB_DIR/replica-$n.pid")" 2>/dev/null; done
    [ -f "$LB_DIR/nginx.pid" ] && kill "$(cat "$LB_DIR/nginx.pid")" 2>/dev/null
    "$LB_DIR/pg.sh" stop -m immediate >/dev/null 2>&1
    sleep 0.5
    [ -n "${LB_KEEP:-}" ] && echo "kept $LB_DIR" || rm -rf "$LB_DIR"
}
trap cleanup EXIT

# Helper scripts the driver calls to disrupt things. LB_PG_EXTRA: more PostgreSQL settings,
# for experiments (e.g. LB_PG_EXTRA="-c jit=off").
cat >"$LB_DIR/pg.sh" <<SCRIPT
#!/usr/bin/env bash
exec $run_as_pg "$pg_bin/pg_ctl" -D "$LB_DIR/pg" -l "$LB_DIR/pg.log" \
    -o "-p $pg_port -k $LB_DIR/sock -c listen_addresses=127.0.0.1 -c max_connections=200 ${LB_PG_EXTRA:-}" "\$@"
SCRIPT
cat >"$LB_DIR/start-replica.sh" <<SCRIPT
#!/usr/bin/env bash
n=\$1; port=\$((18200 + n))
"$binary" --bind 127.0.0.1:\$port --database-url "$url" --pool-size 12 --pool-timeout-secs 2 \
    --drain-secs 1 --events-heartbeat-secs $LB_EVENTS_HEARTBEAT_SECS --log warn --log-format json \
    >>"$LB_DIR/replica-\$n.log" 2>&1 &
echo \$! >"$LB_DIR/replica-\$n.pid"
for _ in \$(seq 1 100); do curl -fs "http://127.0.0.1:\$port/health/ready" >/dev/null && exit 0; sleep 0.1; done
echo "replica \$n did not become ready"; exit 1
SCRIPT
cat >"$LB_DIR/kill-replica.sh" <<SCRIPT
#!/usr/bin/env bash
kill -KILL "\$(cat "$LB_DIR/replica-\$1.pid")"
SCRIPT
cat >"$LB_DIR/roll-replica.sh" <<SCRIPT
#!/usr/bin/env bash
pid=\$(cat "$LB_DIR/replica-\$1.pid")
kill -TERM "\$pid"
while kill -0 "\$pid" 2>/dev/null; do sleep 0.05; done
exec "$LB_DIR/start-replica.sh" "\$1"
SCRIPT
chmod +x "$LB_DIR"/*.sh

echo "==> PostgreSQL on 127.0.0.1:$pg_port"
mkdir "$LB_DIR/pg" "$LB_DIR/sock"
touch "$LB_DIR/pg.log"
if [ -n "$run_as_pg" ]; then chown postgres "$LB_DIR/pg" "$LB_DIR/sock" "$LB_DIR/pg.log"; fi
$run_as_pg "$pg_bin/initdb" -D "$LB_DIR/pg" -U postgres --auth=trust --no-locale -E UTF8 --no-sync >/dev/null
if ! "$LB_DIR/pg.sh" start -w >/dev/null; then
    # Say why (the log goes away with the directory).
    echo "PostgreSQL did not start; its log ends with:"; tail -n 30 "$LB_DIR/pg.log"
    ss -ltnp 2>/dev/null | grep ":$pg_port " || true
    exit 1
fi
$run_as_pg "$pg_bin/createdb" -h 127.0.0.1 -p $pg_port -U postgres taskdash

echo "==> three replicas started at the same moment on the fresh database"
for n in 1 2 3; do "$LB_DIR/start-replica.sh" $n & done
wait
export LB_KEY
LB_KEY=$("$binary" tenant create loadbalancer --database-url "$url" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')

echo "==> nginx on 127.0.0.1:$LB_PORT (deploy/nginx.conf, loopback upstreams)"
mkdir -p "$LB_DIR/nginx"
sed -e "s/taskdash-\([123]\):8080/127.0.0.1:1820\1/" -e "s/listen 80;/listen 127.0.0.1:$LB_PORT;/" \
    deploy/nginx.conf >"$LB_DIR/nginx.conf"
nginx -p "$LB_DIR/nginx" -c "$LB_DIR/nginx.conf" -e "$LB_DIR/nginx-error.log" \
    -g "pid $LB_DIR/nginx.pid; error_log $LB_DIR/nginx-error.log;"
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$LB_PORT/health" >/dev/null && break; sleep 0.1; done

# Not a test (nothing is asserted on speed): create throughput through nginx with three
# replicas, then with one, in the same run. Used by docs/deployment.md.
throughput() {
    local project
    project=$(curl -fs -H "Authorization: Bearer $LB_KEY" -H 'Content-Type: application/json' \
        "http://127.0.0.1:$LB_PORT/projects" -d '{"name": "wrk", "slug": "wrk"}' \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    for replicas in 3 1; do
        if [ "$replicas" = 1 ]; then
            for n in 2 3; do
                pid=$(cat "$LB_DIR/replica-$n.pid"); kill -TERM "$pid"
                while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
            done
        fi
        echo "--- $replicas replica(s), 64 connections, 15 s"
        BENCH_MODE=create TASKDASH_KEY=$LB_KEY wrk -t2 -c64 -d15s -s bench/load.lua \
            "http://127.0.0.1:$LB_PORT/projects/$project/tasks"
    done
}

status=0
for scenario in "${scenarios[@]}"; do
    echo "==> $scenario"
    if [ "$scenario" = throughput ]; then throughput; continue; fi
    case $scenario in feed*) script=feed.py ;; claim*) script=claims.py ;; *) script=driver.py ;; esac
    started=$SECONDS
    timeout 300 python3 "e2e/loadbalancer/$script" "$scenario" || status=1
    echo "    ($scenario: $((SECONDS - started)) s)"
done
if grep -h '"level":"ERROR"' "$LB_DIR"/replica-*.log | head -5 | grep -q .; then
    echo "errors logged by the replicas:"; grep -h '"level":"ERROR"' "$LB_DIR"/replica-*.log | head -5
fi
exit $status
