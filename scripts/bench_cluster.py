#!/usr/bin/env python3
"""bench_cluster.py — cluster-mode figures for `make bench` (one JSON line each), with
the limit measured in the same run where there is one:

  cluster_submit_to_running_ms   REST submit -> every subtask RUNNING, jobs of 1, 10 and
                                 100 subtasks on 2 TaskExecutors (p50 / p99 over 20 jobs);
                                 beside it the fsync'd write of one job store record
                                 (the floor of an acknowledged submit) measured here
  cluster_te_start_to_registered_ms / cluster_te_start_to_first_offer_ms
                                 a taskexecutord started -> registered -> its first slot
                                 offered to a job waiting for slots
  cluster_te_loss_to_running_ms  a TaskExecutor of a running job lost -> the job RUNNING
                                 again on the others: kill -9 (connection loss) and
                                 SIGSTOP (silent: heartbeat.timeout 2 s)
  jobmanager_start_to_ready_ms / jobmanager_idle_rss_bytes
  ha_failover_to_leader_ms / ha_failover_to_checkpoint_ms / ha_failover_records
                                 high availability on a 3-member etcd cluster (Debian's
                                 etcd, started here): the leader kill -9'd mid-job,
                                 BENCH_HA_TRIALS (10) times -> the standby serving REST
                                 as leader, -> its first completed checkpoint (p50 / max
                                 beside the target, lease TTL + 1 s); records lost and
                                 repeated in the committed output at the end (0 / 0)
  ha_failover_throughput_ratio   the throughput dip: the sinks' lowest 500 ms rate from
                                 the kill to the first checkpoint after it, over their
                                 rate before the kill (1.0: no dip; the new leader adopts
                                 the running tasks), beside the same figure for the 3 s
                                 before the kill (the sampling's noise)

usage: bench_cluster.py BUILD_DIR   (BENCH_ONLY="submit te_loss" runs some of them)"""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

BUILD = sys.argv[1]
WORK = tempfile.mkdtemp(prefix="te-bench-cluster.")
PROCS = []


def daemon(args, log):
    f = open(os.path.join(WORK, log), "w")
    p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT)
    PROCS.append(p)
    path = os.path.join(WORK, log)
    for _ in range(400):
        text = open(path).read()
        m = re.search(r" READY (.*)", text)
        if m:
            return p, dict(kv.split("=", 1) for kv in m.group(1).split())
        if p.poll() is not None:
            sys.exit("bench_cluster: %s exited: %s" % (args[0], text[-2000:]))
        time.sleep(0.01)
    sys.exit("bench_cluster: %s never READY" % args[0])


def jobmanager(name, timeout="2s"):
    return daemon([BUILD + "/tejobmanager", "-D", "jobmanager.rpc.port=0", "-D", "jobmanager.rest.port=0",
                   "-D", "jobmanager.store.dir=%s/%s-store" % (WORK, name), "-D",
                   "state.checkpoints.dir=%s/%s-ckpt" % (WORK, name), "-D", "heartbeat.interval=500ms",
                   "-D", "heartbeat.timeout=" + timeout], name + ".log")


def executor(name, jm_rpc, slots):
    return daemon([BUILD + "/taskexecutord", "-D", "taskmanager.rpc.port=0", "-D", "taskmanager.data.port=0",
                   "-D", "taskmanager.status.port=0", "-D", "jobmanager.address=127.0.0.1:" + jm_rpc,
                   "-D", "taskmanager.numberOfTaskSlots=%d" % slots, "-D", "heartbeat.interval=500ms",
                   "-D", "heartbeat.timeout=2s"], name + ".log")


class Rest:
    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)

    def call(self, method, path, body=None):
        self.c.request(method, path, body=json.dumps(body) if body is not None else None)
        r = self.c.getresponse()
        return r.status, json.loads(r.read() or b"null")


def wait(pred, seconds=30, step=0.002):
    end = time.time() + seconds
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    sys.exit("bench_cluster: timed out waiting")


def seq_job(subtasks):
    if subtasks == 1:
        return {"name": "one", "vertices": [{"id": "s", "parallelism": 1, "chain": [
            {"op": "sequence", "unbounded": True, "rate": 100}, {"op": "discard"}]}]}
    p = subtasks // 2
    return {"name": "j%d" % subtasks, "vertices": [
        {"id": "s", "parallelism": p, "chain": [{"op": "sequence", "unbounded": True, "rate": 100}]},
        {"id": "d", "parallelism": p, "chain": [{"op": "discard"}]}],
        "edges": [{"from": "s", "to": "d", "partitioner": "forward"}]}


def running_at(rest, job, after_seq=0, need_restart=False):
    """The JobManager's time (wall ms) of the job's last move to RUNNING after after_seq."""
    st, d = rest.call("GET", "/v1/jobs/%s/events?since=%d" % (job, after_seq))
    seen_restart = not need_restart
    for e in d["events"]:
        if e["event"] == "restart":
            seen_restart = True
        if seen_restart and e["event"] == "job_state" and e["to"] == "RUNNING":
            return e["time_ms"]
    return None


def free_slots(rest):
    return rest.call("GET", "/v1/overview")[1]["slots_free"]


def pct(xs, q):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 2)


def fsync_floor():
    times = []
    d = os.path.join(WORK, "fsync")
    os.makedirs(d, exist_ok=True)
    for i in range(20):
        t0 = time.perf_counter()
        tmp = os.path.join(d, ".r.tmp")
        with open(tmp, "wb") as f:
            f.write(b"x" * 2048)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(d, "r.json"))
        fd = os.open(d, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        times.append((time.perf_counter() - t0) * 1000)
    return pct(times, 0.5)


def bench_submit():
    jm, jr = jobmanager("submit")
    executor("s1", jr["rpc_port"], 64)
    executor("s2", jr["rpc_port"], 64)
    rest = Rest(jr["rest_port"])
    wait(lambda: rest.call("GET", "/v1/overview")[1]["slots_free"] == 128)
    floor = fsync_floor()
    for size in (1, 10, 100):
        lat = []
        for _ in range(20):
            t0 = time.time() * 1000
            st, d = rest.call("POST", "/v1/jobs", seq_job(size))
            assert st == 202, d
            job = d["job_id"]
            lat.append(wait(lambda: running_at(rest, job)) - t0)
            rest.call("DELETE", "/v1/jobs/" + job)
            wait(lambda: rest.call("GET", "/v1/jobs/" + job)[1]["state"] == "CANCELED" and free_slots(rest) == 128)
        print(json.dumps({"figure": "cluster_submit_to_running_ms", "subtasks": size, "taskexecutors": 2,
                          "jobs": len(lat), "p50": pct(lat, 0.5), "p99": pct(lat, 0.99),
                          "target_p50_100_subtasks": 20, "store_write_fsync_ms_p50": floor}), flush=True)
    jm.terminate()


def bench_te_start():
    jm, jr = jobmanager("testart")
    rest = Rest(jr["rest_port"])
    reg, offer = [], []
    for i in range(5):
        st, d = rest.call("POST", "/v1/jobs", seq_job(1))
        job = d["job_id"]
        t0 = time.time() * 1000
        te, tr = executor("ts%d" % i, jr["rpc_port"], 2)
        rid = "127.0.0.1:" + tr["rpc_port"]

        def tm():
            for t in rest.call("GET", "/v1/taskmanagers")[1]["taskmanagers"]:
                if t["resource_id"] == rid and t["first_offer_ms"]:
                    return t
        t = wait(tm)
        reg.append(t["registered_ms"] - t0)
        offer.append(t["first_offer_ms"] - t0)
        rest.call("DELETE", "/v1/jobs/" + job)
        wait(lambda: rest.call("GET", "/v1/jobs/" + job)[1]["state"] == "CANCELED")
        te.terminate()
        te.wait()
        wait(lambda: not rest.call("GET", "/v1/taskmanagers")[1]["taskmanagers"], step=0.01)
    print(json.dumps({"figure": "cluster_te_start_to_registered_ms", "runs": len(reg), "p50": pct(reg, 0.5),
                      "max": round(max(reg), 2)}), flush=True)
    print(json.dumps({"figure": "cluster_te_start_to_first_offer_ms", "runs": len(offer), "p50": pct(offer, 0.5),
                      "max": round(max(offer), 2)}), flush=True)
    jm.terminate()


def bench_te_loss():
    jm, jr = jobmanager("loss", timeout="2s")
    rest = Rest(jr["rest_port"])
    tes = {}
    for i in range(4):
        p, r = executor("tl%d" % i, jr["rpc_port"], 2)
        tes["127.0.0.1:" + r["rpc_port"]] = p
    wait(lambda: len(rest.call("GET", "/v1/taskmanagers")[1]["taskmanagers"]) == 4, step=0.01)
    st, d = rest.call("POST", "/v1/jobs", {"job": seq_job(4), "restart_attempts": 100, "restart_backoff": 0})
    job = d["job_id"]
    wait(lambda: running_at(rest, job))
    results = {"kill": [], "stop": []}
    for how in ("kill", "kill", "kill", "stop", "stop", "stop"):
        last = rest.call("GET", "/v1/jobs/%s/events" % job)[1]["last_seq"]
        used = {s["taskmanager"] for v in rest.call("GET", "/v1/jobs/" + job)[1]["vertices"] for s in v["subtasks"]}
        victim = sorted(used & set(tes))[0]
        t0 = time.time() * 1000
        os.kill(tes[victim].pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
        results[how].append(wait(lambda: running_at(rest, job, last, True), step=0.005) - t0)
        if how == "stop":
            os.kill(tes[victim].pid, signal.SIGKILL)
        tes.pop(victim).wait()
        p, r = executor("tl-new-%d" % len(results[how]) + how, jr["rpc_port"], 2)
        tes["127.0.0.1:" + r["rpc_port"]] = p
    for how, xs in results.items():
        print(json.dumps({"figure": "cluster_te_loss_to_running_ms", "loss": "kill -9" if how == "kill" else
                          "SIGSTOP (silent)", "heartbeat_timeout_ms": 2000, "runs": len(xs), "p50": pct(xs, 0.5),
                          "max": round(max(xs), 2), "target_ms": 2500}), flush=True)
    rest.call("DELETE", "/v1/jobs/" + job)
    jm.terminate()


def time_to_ready(args, runs=10, on_last=None):
    """Milliseconds from spawning args to its READY line on stderr (sorted)."""
    times = []
    for i in range(runs):
        t0 = time.monotonic()
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in p.stderr:
            if " READY " in line:
                break
        times.append((time.monotonic() - t0) * 1000)
        if on_last is not None and i == runs - 1:
            on_last(p)
        p.terminate()
        p.wait()
    return sorted(times)


def bench_jm_start():
    rss = []

    def measure_rss(p):
        time.sleep(1.0)
        rss.append(int([l for l in open("/proc/%d/status" % p.pid) if l.startswith("VmRSS")][0].split()[1]) * 1024)
    times = time_to_ready([BUILD + "/tejobmanager", "-D", "jobmanager.rpc.port=0", "-D", "jobmanager.rest.port=0",
                           "-D", "jobmanager.store.dir=%s/start-store" % WORK], on_last=measure_rss)
    # the floor on this machine now: a shell that prints READY at once, spawned the same way
    floor = time_to_ready(["/bin/sh", "-c", "echo ' READY ' >&2; sleep 1"])
    print(json.dumps({"figure": "jobmanager_start_to_ready_ms", "p50": pct(times, 0.5), "min": round(min(times), 2),
                      "runs": len(times), "target_ms": 10, "spawn_floor_ms_p50": pct(floor, 0.5)}), flush=True)
    print(json.dumps({"figure": "jobmanager_idle_rss_bytes", "rss": rss[0], "target_bytes": 10 * 1024 * 1024}),
          flush=True)


def free_ports(n):
    import socket
    ss = [socket.socket() for _ in range(n)]
    for so in ss:
        so.bind(("127.0.0.1", 0))
    ports = [so.getsockname()[1] for so in ss]
    for so in ss:
        so.close()
    return ports


def etcd_cluster(n):
    ports = free_ports(2 * n)
    urls = ["http://127.0.0.1:%d" % ports[2 * i] for i in range(n)]
    peers = ["http://127.0.0.1:%d" % ports[2 * i + 1] for i in range(n)]
    cluster = ",".join("e%d=%s" % (i, peers[i]) for i in range(n))
    for i in range(n):
        f = open(os.path.join(WORK, "etcd-%d.log" % i), "w")
        PROCS.append(subprocess.Popen(
            ["/usr/bin/etcd", "--name", "e%d" % i, "--data-dir", os.path.join(WORK, "etcd-%d" % i),
             "--listen-client-urls", urls[i], "--advertise-client-urls", urls[i], "--listen-peer-urls", peers[i],
             "--initial-advertise-peer-urls", peers[i], "--initial-cluster", cluster,
             "--initial-cluster-token", "bench", "--initial-cluster-state", "new"], stdout=f, stderr=subprocess.STDOUT))

    def healthy():
        for u in urls:
            try:
                c = http.client.HTTPConnection(u[7:].split(":")[0], int(u.rsplit(":", 1)[1]), timeout=2)
                c.request("GET", "/health")
                if b'"true"' not in c.getresponse().read():
                    return False
            except OSError:
                return False
        return True
    if not wait(healthy, 30, 0.1):
        sys.exit("bench_cluster: etcd did not become healthy")
    return ",".join(urls)


def bench_ha_failover():
    if not os.access("/usr/bin/etcd", os.X_OK):
        print(json.dumps({"figure": "ha_failover_to_leader_ms", "skipped": "etcd is not installed "
                          "(apt-get install etcd-server)"}), flush=True)
        return
    trials = int(os.environ.get("BENCH_HA_TRIALS", "10"))
    ttl_s = int(os.environ.get("BENCH_HA_TTL_S", "5"))
    endpoints = etcd_cluster(3)
    ports = free_ports(4)
    jm_args = {}

    def start_jm(k):
        args = [BUILD + "/tejobmanager", "-D", "jobmanager.rpc.port=%d" % ports[2 * k], "-D",
                "jobmanager.rest.port=%d" % ports[2 * k + 1], "-D", "high-availability.type=etcd", "-D",
                "high-availability.etcd.endpoints=" + endpoints, "-D", "high-availability.cluster-id=bench", "-D",
                "high-availability.etcd.lease-ttl=%ds" % ttl_s, "-D", "state.checkpoints.dir=%s/ha-ckpt" % WORK,
                "-D", "heartbeat.interval=200ms", "-D", "heartbeat.timeout=20s"]
        jm_args[k] = daemon(args, "ha-jm%d-%d.log" % (k, time.time_ns()))[0]

    def leads(k):
        try:
            return Rest(ports[2 * k + 1]).call("GET", "/v1/leader")[1].get("leader") is True
        except (OSError, ValueError, http.client.HTTPException):
            return False
    start_jm(0)
    wait(lambda: leads(0), 20, 0.01)
    start_jm(1)
    addrs = "127.0.0.1:%d,127.0.0.1:%d" % (ports[0], ports[2])
    status_ports = []
    for i in range(2):
        status_ports.append(daemon([BUILD + "/taskexecutord", "-D", "taskmanager.rpc.port=0", "-D", "taskmanager.data.port=0", "-D",
                "taskmanager.status.port=0", "-D", "jobmanager.address=" + addrs, "-D",
                "taskmanager.numberOfTaskSlots=2", "-D", "heartbeat.interval=200ms", "-D", "heartbeat.timeout=20s",
                "-D", "cluster.registration.max-timeout=200ms"], "ha-te%d.log" % i)[1]["status_port"])

    # The throughput dip: the sinks' records in, summed over both TaskExecutors (whose
    # status endpoints answer through the failover), sampled every 50 ms.
    samples = []
    sampling = threading.Event()

    def sample():
        conns = [Rest(p) for p in status_ports]
        while not sampling.is_set():
            total = 0
            try:
                for c in conns:
                    for t in c.call("GET", "/v1/tasks")[1]["tasks"]:
                        if t.get("name", "").startswith("sink"):
                            total += t["metrics"]["numRecordsIn"]
                samples.append((time.monotonic(), total))
            except (OSError, ValueError, KeyError, http.client.HTTPException):
                conns = [Rest(p) for p in status_ports]
            time.sleep(0.05)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    def rate_between(a, b):
        xs = [(t, n) for t, n in samples if a <= t <= b]
        return (xs[-1][1] - xs[0][1]) / (xs[-1][0] - xs[0][0]) if len(xs) >= 2 and xs[-1][0] > xs[0][0] else None
    rate = 5000
    n = rate * (trials * (ttl_s + 6) + 10)
    out = os.path.join(WORK, "ha-out")
    os.makedirs(out)
    job = {"name": "ha-bench", "vertices": [
        {"id": "seq", "parallelism": 1, "chain": [{"op": "sequence", "from": 0, "to": n - 1, "rate": rate,
                                                   "uid": "seq"}]},
        {"id": "sink", "parallelism": 2, "chain": [{"op": "file_sink", "path": out + "/part-{subtask}.txt",
                                                    "uid": "sink"}]}],
        "edges": [{"from": "seq", "to": "sink", "partitioner": "rebalance"}]}
    leader = 0
    st, d = Rest(ports[1]).call("POST", "/v1/jobs", {"job": job, "checkpoint_interval": "200ms",
                                                      "restart_attempts": 100})
    job_id = d["job_id"]

    def job_view(k):
        try:
            st, v = Rest(ports[2 * k + 1]).call("GET", "/v1/jobs/" + job_id)
            return v if st == 200 else None
        except (OSError, ValueError, http.client.HTTPException):
            return None

    def checkpointed(k, count):
        v = job_view(k)
        return v is not None and v["state"] == "RUNNING" and v["checkpoints"]["completed"] >= count
    to_leader, to_ckpt, dips = [], [], []
    for _ in range(trials):
        if not wait(lambda: checkpointed(leader, 2), 60, 0.01):
            sys.exit("bench_cluster: the job does not checkpoint on the leader")
        time.sleep(0.05 + 0.4 * (time.time_ns() % 1000) / 1000)
        jm_args[leader].kill()
        t0 = time.monotonic()
        other = 1 - leader
        if not wait(lambda: leads(other), ttl_s + 30, 0.005):
            sys.exit("bench_cluster: the standby did not take over")
        to_leader.append((time.monotonic() - t0) * 1000)
        if not wait(lambda: checkpointed(other, 1), 60, 0.005):
            sys.exit("bench_cluster: no checkpoint after the failover")
        to_ckpt.append((time.monotonic() - t0) * 1000)
        time.sleep(0.6)
        # the lowest 500 ms rate from the kill until 0.5 s after the first checkpoint
        # after it, relative to the rate of the 2 s before the kill
        before = rate_between(t0 - 3.0, t0)

        def lowest(a0, a1):
            xs = [rate_between(a, a + 0.5) for a, _ in samples if a0 <= a <= a1]
            xs = [x for x in xs if x is not None]
            return min(xs) if xs else None
        during, calm = lowest(t0, t0 + to_ckpt[-1] / 1000), lowest(t0 - 3.0, t0 - 0.5)
        if before and during is not None and calm is not None:
            dips.append((during / before, calm / before))
        jm_args[leader].wait()
        start_jm(leader)  # the killed one comes back as the standby
        leader = other
    target = ttl_s * 1000 + 1000
    for fig, xs in (("ha_failover_to_leader_ms", to_leader), ("ha_failover_to_checkpoint_ms", to_ckpt)):
        print(json.dumps({"figure": fig, "p50": pct(xs, 0.5), "max": round(max(xs), 2), "runs": len(xs),
                          "lease_ttl_ms": ttl_s * 1000, "target_ms": target}), flush=True)
    if dips:
        during = sorted(d for d, _ in dips)
        calm = sorted(c for _, c in dips)
        print(json.dumps({"figure": "ha_failover_throughput_ratio", "what": "lowest 500 ms rate of the sinks from "
                          "the kill to the first checkpoint after it / their rate in the 3 s before the kill",
                          "p50": round(during[len(during) // 2], 3), "min": round(during[0], 3),
                          "baseline_p50": round(calm[len(calm) // 2], 3), "baseline_min": round(calm[0], 3),
                          "baseline": "the same lowest-500-ms figure over the 3 s before the kill (the "
                          "sampling's own noise: buffers arrive every buffer-timeout)",
                          "runs": len(dips), "source_rate": rate}), flush=True)
    wait(lambda: (job_view(leader) or {}).get("state") in ("FINISHED", "FAILED", "CANCELED"), 600, 0.1)
    sampling.set()
    seen = {}
    for name in os.listdir(out):
        if ".inprogress-" in name or ".pending-" in name:
            continue
        for line in open(os.path.join(out, name)):
            seen[int(line)] = seen.get(int(line), 0) + 1
    lost = sum(1 for i in range(n) if i not in seen)
    repeated = sum(c - 1 for c in seen.values() if c > 1)
    print(json.dumps({"figure": "ha_failover_records", "records": n, "lost": lost, "repeated": repeated,
                      "state": (job_view(leader) or {}).get("state"), "failovers": trials}), flush=True)


try:
    for name in os.environ.get("BENCH_ONLY", "jm_start submit te_start te_loss ha_failover").split():
        globals()["bench_" + name]()
finally:
    for p in PROCS:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)
            except OSError:
                pass
            p.terminate()
    for p in PROCS:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(WORK, ignore_errors=True)
