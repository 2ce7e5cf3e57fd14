#!/usr/bin/env python3
"""Network memory benchmarks (called by scripts/bench.sh; issue 20). One JSON line per
figure, with the target and the baseline measured in the same run.

1. all_to_all_max_parallelism: the largest parallelism P in BENCH_NETMEM_PS (32 64 96
   128 by default; max_parallelism of the job is 128) at which an all-to-all job
   (sequence -> rebalance -> upper -> hash -> discard) runs with the default 64 MB
   arena, on one daemon (P slots) and on two (P/2 slots each). Target >= 128; Flink's
   formula (subpartitions + 1 per partition, buffers-per-channel per remote channel)
   needs `flink_formula_segments` of the 2048 segments.
2. floating_vs_exclusive_throughput: records/s of sequence -> rebalance -> discard at
   parallelism 8 across two daemons, the consumer daemon with floating-only gates
   (buffers-per-channel 0) vs exclusive buffers (2 per channel), two runs of each in
   turn, the faster of each (a job of 10^8 records runs ~2 s; with 2*10^7, ~0.4 s, the
   ratio of single runs swung between 0.93 and 0.99); target >= 95 %.
3. debloat_aligned_checkpoint_ms: the median duration of aligned checkpoints (every 500
   ms) of sequence -> rebalance -> slow map (slow_sink plugin, forward) -> file sink at
   parallelism 2 and 8 on two daemons (P/2 slots each), without and with buffer
   debloating (target 1s, Flink's default, and 100 ms; one line per parallelism and
   target, the baseline measured in the same run; checkpoint 1 left out); target >= 5x
   shorter. Two shapes (`shape`):
   - "flush_100ms": the map takes 20 k records/s per subtask and buffers are flushed
     every 100 ms (execution.buffer-timeout's default), so a backpressured gate holds a
     few buffer timeouts of data (0.15-0.4 s): less than a 1 s target, which then cannot
     shorten anything; the 100 ms target can.
   - "full_buffers": the backlog debloating exists for: full buffers only
     (execution.buffer-timeout -1) and a map taking 1 k records/s per subtask at
     parallelism 2, so the buffers in flight hold seconds of processing; the default
     1 s target only. Checkpoint 1 (left out of the medians, reported beside them)
     waits behind the backlog built before the gates' first throughput measurement,
     with and without debloating.
Environment: BENCH_NETMEM_RECORDS (records of figure 2, 100000000; 0 skips it),
BENCH_DEBLOAT_RECORDS (records of figure 3's flush_100ms shape per two subtasks, 480000,
about 12 s of the slow map; 0 skips it), BENCH_DEBLOAT_PS (its parallelisms, "2 8"),
BENCH_DEBLOAT_FULL_RECORDS (records of the full_buffers shape, 120000: about 60 s of
the slow map, run twice; 0 skips it).
"""
import json, os, re, statistics, subprocess, sys, tempfile, time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
daemon, tectl = os.path.join(build, "taskexecutord"), os.path.join(build, "tectl")
work = tempfile.mkdtemp(prefix="te-bench-netmem.")
procs = []


def start(name, *conf):
    log = open(os.path.join(work, name + ".log"), "w+")
    args = [daemon, "-D", "taskmanager.rpc.port=0", "-D", "taskmanager.data.port=0", "-D",
            "taskmanager.status.port=0", "-D", "taskmanager.state.local.dir=" + os.path.join(work, name + ".state")]
    for c in conf:
        args += ["-D", c]
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    procs.append(p)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        log.seek(0)
        for line in log:
            if " READY " in line:
                port = line.split("rpc_port=")[1].split()[0]
                return p, "127.0.0.1:" + port
        time.sleep(0.05)
    raise SystemExit("bench_netmem: daemon %s did not start" % name)


def stop(ps):
    for p in ps:
        p.terminate()
        p.wait()
        procs.remove(p)


def submit(job, executors, timeout=300, extra=()):
    path = os.path.join(work, "job.json")
    with open(path, "w") as f:
        json.dump(job, f)
    args = [tectl, "submit", path] + list(extra)
    for e in executors:
        args += ["--executor", e]
    t0 = time.monotonic()
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return r.returncode == 0, time.monotonic() - t0, r.stdout


def a2a(p, n=100000):
    return {"name": "a2a-%d" % p, "max_parallelism": 128,
            "vertices": [{"id": "src", "parallelism": p, "chain": [{"op": "sequence", "from": "1", "to": str(n)}]},
                         {"id": "mid", "parallelism": p, "chain": [{"op": "upper"}]},
                         {"id": "snk", "parallelism": p, "chain": [{"op": "discard"}]}],
            "edges": [{"from": "src", "to": "mid", "partitioner": "rebalance"},
                      {"from": "mid", "to": "snk", "partitioner": "hash", "key_field": 0}]}


try:
    ps = [int(x) for x in os.environ.get("BENCH_NETMEM_PS", "32 64 96 128").split()]  # empty: skip figure 1
    for n_daemons in (1, 2) if ps else ():
        best, refused = 0, None
        for p in ps:
            ds = [start("d%d" % i, "taskmanager.numberOfTaskSlots=%d" % (p // n_daemons)) for i in range(n_daemons)]
            ok, _, out = submit(a2a(p), [d[1] for d in ds])
            stop([d[0] for d in ds])
            if not ok:
                refused = p
                break
            best = p
        # Flink's requirement for the largest P tried: per daemon its share of the 2P
        # partitions (P + 1 each) and, across daemons, of the gates' remote channels.
        pmax = ps[-1]
        flink = (2 * pmax * (pmax + 1) + (2 * pmax * (pmax - pmax // n_daemons) * 2 + 2 * pmax * 8 if n_daemons > 1 else 0)) // n_daemons
        print(json.dumps({"figure": "all_to_all_max_parallelism", "daemons": n_daemons, "max_parallelism_run": best,
                          "first_refused": refused, "target": 128, "arena_segments": 2048,
                          "flink_formula_segments_at_%d" % pmax: flink}))
    n = int(os.environ.get("BENCH_NETMEM_RECORDS", "100000000"))
    if n > 0:
        rates = {}
        for mode, bpc in (("exclusive", 2), ("floating_only", 0)) * 2:
            a = start("a", "taskmanager.numberOfTaskSlots=8", "taskmanager.network.memory.buffers-per-channel=%d" % bpc)
            b = start("b", "taskmanager.numberOfTaskSlots=8")
            job = {"name": "tp-" + mode,
                   "vertices": [{"id": "src", "parallelism": 8, "chain": [{"op": "sequence", "from": "1", "to": str(n)}]},
                                {"id": "snk", "parallelism": 8, "chain": [{"op": "discard"}]}],
                   "edges": [{"from": "src", "to": "snk", "partitioner": "rebalance"}]}
            ok, dt, out = submit(job, [a[1], b[1]])
            stop([a[0], b[0]])
            if not ok:
                raise SystemExit("bench_netmem: %s job failed:\n%s" % (mode, out[-2000:]))
            rates[mode] = max(rates.get(mode, 0), n / dt)
        print(json.dumps({"figure": "floating_vs_exclusive_throughput", "parallelism": 8, "records": n,
                          "exclusive_records_per_s": round(rates["exclusive"]),
                          "floating_only_records_per_s": round(rates["floating_only"]),
                          "ratio": round(rates["floating_only"] / rates["exclusive"], 3), "target_ratio": 0.95}))
    n = int(os.environ.get("BENCH_DEBLOAT_RECORDS", "480000"))
    if n > 0 or int(os.environ.get("BENCH_DEBLOAT_FULL_RECORDS", "120000")) > 0:
        plugins = os.path.join(build, "plugins")

        def checkpoint_ms(par, mode, *conf, records=n, every="20", buffer_timeout=None):
            slots = "taskmanager.numberOfTaskSlots=%d" % (par // 2)
            a = start("a", slots, "plugins.dir=" + plugins, *conf)
            b = start("b", slots, "plugins.dir=" + plugins, *conf)
            mode = "p%d-%s" % (par, mode)
            out_dir = os.path.join(work, "debloat-" + mode)
            config = {"execution.checkpointing.tolerable-failed-checkpoints": "1000000"}
            if buffer_timeout is not None:
                config["execution.buffer-timeout"] = buffer_timeout
            job = {"name": "debloat-" + mode, "config": config,
                   "vertices": [{"id": "seq", "parallelism": par,
                                 "chain": [{"op": "sequence", "from": "1", "to": str(records * par // 2)}]},
                                {"id": "slow", "parallelism": par,
                                 "chain": [{"op": "plugin", "library": "slow_sink.so", "every": every, "sleep_us": "1000",
                                            "forward": "true"},
                                           {"op": "file_sink", "path": out_dir + "/part-{subtask}.txt"}]}],
                   "edges": [{"from": "seq", "to": "slow", "partitioner": "rebalance"}]}
            # a checkpoint may wait behind tens of seconds of data (full_buffers): a timeout
            # well above that
            ok, _, out = submit(job, [a[1], b[1]], extra=["--checkpoint-interval", "500ms", "--checkpoint-timeout",
                                                          "300s", "--checkpoint-dir", os.path.join(work, "chk-" + mode)])
            stop([a[0], b[0]])
            if not ok:
                raise SystemExit("bench_netmem: debloat %s job failed:\n%s" % (mode, out[-2000:]))
            # the first checkpoint waits for the job's start (and the debloater's first
            # period), so it is left out
            done = {int(c): int(d) for c, d in re.findall(r"checkpoint (\d+) completed in (\d+) ms", out)}
            ms = [d for c, d in done.items() if c > 1]
            if not ms:
                raise SystemExit("bench_netmem: debloat %s: no checkpoint completed" % mode)
            return statistics.median(ms), len(ms), done.get(1)

        def compare(shape, par, targets, **kw):
            off, n_off, first_off = checkpoint_ms(par, shape + "-off", **kw)
            for target in targets:
                on, n_on, first_on = checkpoint_ms(par, shape + "-on-" + target, "taskmanager.network.memory.buffer-debloat.enabled=true",
                                         "taskmanager.network.memory.buffer-debloat.target=" + target, **kw)
                print(json.dumps({"figure": "debloat_aligned_checkpoint_ms", "shape": shape, "parallelism": par,
                                  "debloat_target": target, "records": kw.get("records", n) * par // 2,
                                  "without_debloating_median_ms": off, "checkpoints_without": n_off,
                                  "with_debloating_median_ms": on, "checkpoints_with": n_on,
                                  "ratio": round(off / max(on, 1), 2), "target_ratio": 5,
                                  "checkpoint_1_ms_without": first_off, "checkpoint_1_ms_with": first_on}))

        for par in [int(x) for x in os.environ.get("BENCH_DEBLOAT_PS", "2 8").split()] if n > 0 else []:
            compare("flush_100ms", par, ("1s", "100ms"))
        full = int(os.environ.get("BENCH_DEBLOAT_FULL_RECORDS", "120000"))
        if full > 0:
            compare("full_buffers", 2, ("1s",), records=full, every="1", buffer_timeout="-1")
finally:
    for p in procs:
        p.terminate()
        p.wait()
    subprocess.run(["rm", "-rf", work])
