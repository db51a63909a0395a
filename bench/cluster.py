"""The bench's private PostgreSQL: a cluster of its own, psql and pgbench against it, and the
check of the maintained counts (task_counts) against count(*)."""

import glob
import os
import re
import shutil
import subprocess
import tempfile

from settings import DURATION, PG_PORT


def pg_bin():
    initdb = shutil.which("initdb") or sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]
    return os.path.dirname(os.path.realpath(initdb))


def as_postgres(cmd):
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.geteuid() == 0 else cmd


def pin(pid, cpus):
    """Moves a process, all its threads, onto `cpus` (a taskset list)."""
    subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], check=True, capture_output=True)


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

    def pgbench(self, script, clients, variables, cpus=None):
        """Runs pgbench for DURATION seconds (on `cpus` only, a taskset list, when given); returns
        (tps, [latency_ms...])."""
        logdir = tempfile.mkdtemp(prefix="pgbench-", dir="/tmp")
        os.chmod(logdir, 0o777)
        args = [f"{self.bin}/pgbench", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-n",
                "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(DURATION),
                "-f", script, "-l", "--log-prefix", os.path.join(logdir, "log")]
        for name, value in variables.items():
            args += ["-D", f"{name}={value}"]
        pin = ["taskset", "-c", cpus] if cpus else []
        out = subprocess.run(pin + args + ["taskdash"], check=True, capture_output=True, text=True).stdout
        tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
        latencies = []
        for path in glob.glob(os.path.join(logdir, "log*")):
            with open(path) as f:
                latencies += [int(line.split()[2]) / 1000 for line in f if line.strip()]
        shutil.rmtree(logdir)
        return tps, latencies

    def pin(self, cpus):
        """Moves PostgreSQL (the postmaster, so every backend it starts from now on, and every
        process it runs now) onto `cpus`, a taskset list."""
        with open(os.path.join(self.dir, "postmaster.pid")) as f:
            postmaster = f.readline().strip()
        children = subprocess.run(["pgrep", "-P", postmaster], capture_output=True, text=True).stdout.split()
        for pid in [postmaster, *children]:
            pin(pid, cpus)

    def quiesce(self):
        """Settles what the previous scenario left behind (dead rows, tables due for autovacuum,
        dirty buffers), so that no scenario pays for its predecessor: an autovacuum of the run
        events table, due after the events scenarios, used to land on the claim scenarios."""
        self.psql("VACUUM ANALYZE")
        self.psql("CHECKPOINT")

    def count_tasks(self, project):
        return int(self.psql(f"SELECT count(*) FROM tasks WHERE project_id = {project}"))

    def stop(self):
        self.ctl("stop", "-m", "fast")


def counter_drift(cluster, db):
    """(project, milestone, status) keys whose maintained count differs from count(*)."""
    return int(cluster.psql(
        "SELECT count(*) FROM (SELECT project_id, COALESCE(milestone_id, 0) AS milestone_id, status, count(*) AS n "
        "FROM tasks GROUP BY 1, 2, 3) r FULL JOIN (SELECT project_id, milestone_id, status, sum(n) AS n "
        "FROM task_counts GROUP BY 1, 2, 3 HAVING sum(n) <> 0) c USING (project_id, milestone_id, status) "
        "WHERE r.n IS DISTINCT FROM c.n", db))
