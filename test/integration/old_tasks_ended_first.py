#!/usr/bin/env python3
"""old_tasks_ended_first.py T LOG... — no duplicate writers across a JobManager restart:
every task the TaskExecutors (their logs) deployed before time T (a kill, seconds since
the epoch) ended before the first task deployed after T on ANY of them. Exits 1 naming
the first old task that overlapped a new one."""
import datetime
import re
import sys

killed = float(sys.argv[1])


def ts(line):
    t = datetime.datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


deployed, ended = {}, {}
for path in sys.argv[2:]:
    for line in open(path, errors="replace"):
        m = re.search(r"deployed .* \(([0-9a-f]{32})\) of job", line)
        if m:
            deployed[m.group(1)] = (ts(line), path)
        m = re.search(r"\] ([0-9a-f]{32}) -> (FINISHED|FAILED|CANCELED)", line)
        if m:
            ended[m.group(1)] = ts(line)
old = [(e, p) for e, (t, p) in deployed.items() if t < killed]
new = [t for e, (t, p) in deployed.items() if t >= killed]
if not new:
    sys.exit("no task was deployed after the restart")
first = min(new)
for e, p in old:
    if e not in ended:
        sys.exit("%s: old task %s never ended" % (p, e))
    if ended[e] > first:
        sys.exit("%s: old task %s ended %.3f s after the first new task was deployed" % (p, e, ended[e] - first))
print("%d old tasks ended before the first of %d new ones" % (len(old), len(new)))
