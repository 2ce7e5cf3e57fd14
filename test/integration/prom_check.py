#!/usr/bin/env python3
"""prom_check.py — checks Prometheus text expositions (format 0.0.4) scraped from
taskexecutord's /metrics, with the reference parser of the Prometheus Python client
(Debian: python3-prometheus-client) as the oracle, plus the naming rules the parser
does not enforce.

usage: prom_check.py FIRST.txt SECOND.txt JOB_ID
       prom_check.py --jobmanager METRICS.txt [NAME{LABELS}=VALUE ...]
  The second form checks a tejobmanager's /metrics: the rules, its families, and each
  series given equal to its value (labels as in the text, e.g. te_jobmanager_jobs{state="FINISHED"}=2).
  Both files must parse and follow the rules below; JOB_ID's tasks must be present
  with the labels job_id, task_name, subtask; every counter of FIRST must be <= its
  value in SECOND, and the job's records counters must have grown between the two.
  Prints a one-line summary; exits 1 with the reason otherwise.

Rules: every family has exactly one # HELP and one # TYPE, before its samples, and
its samples are contiguous; names start with te_ (or process_, the client-library
standard); counters end in _total; no series (name + label set) appears twice;
values are finite numbers (NaN allowed for gauges only)."""
import math
import re
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.stderr.write("prom_check: the Prometheus Python client is missing "
                     "(Debian: apt-get install python3-prometheus-client)\n")
    sys.exit(2)

TASK_LABELS = {"job_id", "task_name", "subtask"}
TASK_COUNTERS = ["te_task_records_in_total", "te_task_records_out_total",
                 "te_task_bytes_in_total", "te_task_bytes_out_total",
                 "te_task_backpressured_seconds_total", "te_task_busy_seconds_total",
                 "te_task_idle_seconds_total"]
TASK_GAUGES = ["te_task_is_back_pressured", "te_task_in_pool_usage", "te_task_out_pool_usage",
               "te_task_state", "te_task_start_time_seconds"]
DAEMON = ["te_build_info", "te_uptime_seconds", "te_slots", "te_tasks", "te_rpc_connections",
          "te_network_segments", "te_network_segments_available", "process_resident_memory_bytes"]


def die(msg):
    sys.stderr.write("prom_check: FAIL: %s\n" % msg)
    sys.exit(1)


# A sample line by the 0.0.4 grammar: the Python parser accepts some malformed label
# values (an unescaped quote inside one), this does not.
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*=' + LABEL_VALUE
SAMPLE = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:%s(?:,%s)*,?)?\})? '
                    r'(?:[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|NaN|[-+]Inf)'
                    r'(?: -?[0-9]+)?$' % (LABEL, LABEL))


def lint(path, text):
    """The rules the parser leaves out, checked line by line."""
    helps, types, done = {}, {}, set()
    current = None
    for n, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        m = re.match(r"# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$", line)
        if m:
            kind, name, rest = m.groups()
            seen = helps if kind == "HELP" else types
            if name in seen:
                die("%s:%d: second # %s for %s" % (path, n, kind, name))
            if name in done:
                die("%s:%d: # %s for %s after its samples ended" % (path, n, kind, name))
            seen[name] = rest
            if current and current != name:
                done.add(current)
            current = name
            continue
        if line.startswith("#"):
            continue
        if not SAMPLE.match(line):
            die("%s:%d: not a valid sample line: %r" % (path, n, line))
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        if types.get(current) in ("summary", "histogram") and name in (current + "_sum", current + "_count",
                                                                        current + "_bucket"):
            continue
        if name != current:
            die("%s:%d: sample %s outside its family block (current family %s)"
                % (path, n, name, current))
    for name in set(helps) | set(types):
        if name not in helps or name not in types:
            die("%s: %s lacks # HELP or # TYPE" % (path, name))
        if not (name.startswith("te_") or name.startswith("process_")):
            die("%s: %s has neither the te_ nor the process_ prefix" % (path, name))
        if types[name] == "counter" and not name.endswith("_total"):
            die("%s: counter %s does not end in _total" % (path, name))
        if types[name] != "counter" and name.endswith("_total"):
            die("%s: %s ends in _total but is a %s" % (path, name, types[name]))
    return types


def parse(path):
    text = open(path, encoding="utf-8").read()
    types = lint(path, text)
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and friends on bad input
        die("%s: the Prometheus parser rejected the text: %r" % (path, e))
    series = {}
    for fam in families:
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            if key in series:
                die("%s: duplicate series %s%s" % (path, s.name, dict(key[1])))
            if math.isinf(s.value) or (math.isnan(s.value) and fam.type == "counter"):
                die("%s: %s%s = %r" % (path, s.name, s.labels, s.value))
            if fam.type == "counter" and s.value < 0:
                die("%s: negative counter %s%s" % (path, s.name, s.labels))
            series[key] = (fam.type, s.value)
    return types, series


def job_series(series, name, job):
    return {k: v[1] for k, v in series.items() if k[0] == name and dict(k[1]).get("job_id") == job}


JOBMANAGER = ["te_build_info", "te_jobmanager_jobs", "te_jobmanager_jobs_submitted_total",
              "te_jobmanager_job_restarts_total", "te_jobmanager_checkpoints_completed_total",
              "te_jobmanager_checkpoints_failed_total", "te_jobmanager_checkpoint_duration_seconds",
              "te_jobmanager_taskexecutors", "te_jobmanager_taskexecutors_lost_total", "te_jobmanager_slots",
              "te_jobmanager_slots_free", "process_resident_memory_bytes"]


def main_jobmanager(path, expected):
    types, series = parse(path)
    for name in JOBMANAGER:
        if name not in types:
            die("%s: family %s missing" % (path, name))
    for want in expected:
        key, value = want.rsplit("=", 1)
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$", key)
        labels = tuple(sorted(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', m.group(2) or "")))
        got = series.get((m.group(1), labels))
        if got is None or got[1] != float(value):
            die("%s: %s is %r, expected %s" % (path, key, got[1] if got else None, value))
    print("prom_check: ok: %d families, %d series, %d values as expected" % (len(types), len(series), len(expected)))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--jobmanager":
        return main_jobmanager(sys.argv[2], sys.argv[3:])
    if len(sys.argv) != 4:
        die("usage: prom_check.py FIRST.txt SECOND.txt JOB_ID  or  prom_check.py --jobmanager METRICS.txt [SERIES=VALUE ...]")
    first, second, job = sys.argv[1], sys.argv[2], sys.argv[3]
    t1, s1 = parse(first)
    t2, s2 = parse(second)
    for name in DAEMON + TASK_COUNTERS + TASK_GAUGES:
        if name not in t2:
            die("%s: family %s missing" % (second, name))
    for name in TASK_COUNTERS:
        if t2[name] != "counter":
            die("%s is a %s, expected a counter" % (name, t2[name]))
    if not any(k[0] == "te_build_info" and dict(k[1]).get("version") and v[1] == 1
               for k, v in s2.items()):
        die("te_build_info{version=...} 1 missing")
    for name in TASK_COUNTERS + TASK_GAUGES:
        rows = job_series(s2, name, job)
        if not rows:
            die("%s: no %s series for job %s" % (second, name, job))
        for k in rows:
            labels = set(dict(k[1]))
            if not TASK_LABELS <= labels:
                die("%s%s lacks one of the labels %s" % (name, dict(k[1]), sorted(TASK_LABELS)))
    # counters never go down between the two scrapes
    for key, (typ, v1) in s1.items():
        if typ == "counter" and key in s2 and s2[key][1] < v1:
            die("counter %s%s went down: %r -> %r" % (key[0], dict(key[1]), v1, s2[key][1]))
    grew = {}
    for name in ["te_task_records_out_total", "te_task_records_in_total"]:
        a = sum(job_series(s1, name, job).values())
        b = sum(job_series(s2, name, job).values())
        if not b > a:
            die("%s of job %s did not grow between the scrapes: %r -> %r" % (name, job, a, b))
        grew[name] = (a, b)
    running = [dict(k[1]) for k, v in job_series(s2, "te_task_state", job).items()
               if dict(k[1]).get("state") == "RUNNING" and v == 1]
    print("prom_check: ok: %d families, %d series; records out %d -> %d, in %d -> %d; %d tasks RUNNING"
          % (len(t2), len(s2), grew["te_task_records_out_total"][0], grew["te_task_records_out_total"][1],
             grew["te_task_records_in_total"][0], grew["te_task_records_in_total"][1], len(running)))


if __name__ == "__main__":
    main()
