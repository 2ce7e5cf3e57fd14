#!/usr/bin/env python3
"""Runs the worked example of proto/SCHEDULER.md on a real daemon: the job's values
(every id, name, parameter) are read from the document's JSON block and the enum
numbers from proto/tdd.proto, encoded by hand (te_wire), and sent in the order the
document gives; every claim of its step list is checked. The output is compared
with Python's range by the calling test.
Usage: scheduler_guide.py HOST:PORT OUT_DIR"""
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import te_wire as w  # noqa: E402

address, out_dir = sys.argv[1], sys.argv[2]
doc = open(os.path.join(ROOT, "proto", "SCHEDULER.md")).read()
m = re.search(r"<!-- example:begin -->\s*```json\n(.*?)```\s*<!-- example:end -->", doc, re.S)
assert m, "SCHEDULER.md has no example block"
raw = m.group(1)

# Enum values by name, from the contract itself.
enums = {}
for em in re.finditer(r"enum (\w+) \{(.*?)\}", open(os.path.join(ROOT, "proto", "tdd.proto")).read(), re.S):
    for name, num in re.findall(r"(\w+)\s*=\s*(\d+);", em.group(2)):
        enums[name] = int(num)

s = w.connect(address)
call_id = [0]
pushes = []


def call(num, body):
    call_id[0] += 1
    code, text, resp = w.call_full(s, call_id[0], num, body, pushes)
    return code, text, resp


def b(hexid):
    assert re.fullmatch(r"[0-9a-f]{32}", hexid), hexid
    return bytes.fromhex(hexid)


ex0 = json.loads(raw)
# 1. RegisterJobManager
code, text, _ = call(w.REGISTER_JOB_MANAGER, w.field_bytes(1, b(ex0["job_id"])) +
                     w.field_bytes(2, b(ex0["job_master_id"])) + w.field_bytes(3, ex0["job_name"]))
assert code == "OK", (code, text)
# 2. RequestSlotReport -> data_address
code, text, resp = call(w.REQUEST_SLOT_REPORT, b"")
assert code == "OK", (code, text)
data_address = w.msg_field(w.parse(resp[3][0]), 3, b"").decode()
assert re.fullmatch(r".+:\d+", data_address), data_address
ex = json.loads(raw.replace("$OUT", out_dir).replace("$DATA_ADDRESS", data_address))
job, master = b(ex["job_id"]), b(ex["job_master_id"])

# 3. RequestSlot for each slot
for sl in ex["slots"]:
    code, text, resp = call(w.REQUEST_SLOT, w.field_bytes(1, job) + w.field_bytes(2, master) +
                            w.field_bytes(3, b(sl["allocation_id"])) + w.field_sint(4, sl["slot_index"]))
    assert code == "OK", (code, text)
    assert w.msg_field(resp, 4, 0) == sl["slot_index"], resp


def kv(k, v):
    return w.field_bytes(1, k) + w.field_bytes(2, v)


def schema_of(sc):
    """A Schema message: its fields (name, FieldType, nullable)."""
    return b"".join(w.field_bytes(1, w.field_bytes(1, f["name"]) + w.field_varint(2, enums[f["type"]]) +
                                  w.field_varint(3, int(f.get("nullable", False))))
                    for f in sc["fields"])


def tdd_of(t):
    ti = t["task_information"]
    chain = b"".join(w.field_bytes(6, w.field_bytes(1, op["name"]) +
                                   b"".join(w.field_bytes(3, kv(k, v)) for k, v in op["params"].items()))
                     for op in ti["chain"])
    info = (w.field_bytes(1, b(ti["job_vertex_id"])) + w.field_bytes(2, ti["task_name"]) +
            w.field_varint(3, ti["number_of_subtasks"]) + w.field_varint(4, ti["max_parallelism"]) +
            w.field_varint(5, enums[ti["invokable"]]) + chain)
    jinfo = w.field_bytes(1, ex["job_name"]) + b"".join(
        w.field_bytes(2, kv(k, v)) for k, v in t.get("job_configuration", {}).items())
    out = b""
    for p in t.get("produced_partitions", []):
        out += w.field_bytes(9, w.field_bytes(1, b(p["partition_id"])) + w.field_bytes(2, b(p["result_id"])) +
                             w.field_varint(3, enums[p["type"]]) + w.field_varint(4, p["number_of_subpartitions"]) +
                             w.field_varint(5, enums[p["partitioner"]]) +
                             (w.field_bytes(9, schema_of(p["schema"])) if "schema" in p else b""))
    for g in t.get("input_gates", []):
        sds = b"".join(w.field_bytes(3, w.field_bytes(1, b(sd["partition_id"])) +
                                     w.field_bytes(2, b(sd["producer_execution_id"])) +
                                     w.field_bytes(3, sd["producer_address"]) + w.field_varint(4, int(sd["local"])))
                       for sd in g["shuffle_descriptors"])
        out += w.field_bytes(10, w.field_bytes(1, b(g["consumed_result_id"])) +
                             w.field_varint(2, g["consumed_subpartition_index"]) + sds +
                             w.field_varint(4, g["input_index"]) +
                             (w.field_bytes(5, schema_of(g["schema"])) if "schema" in g else b""))
    return (w.field_bytes(1, job) + w.field_bytes(2, b(t["execution_attempt_id"])) +
            w.field_bytes(3, b(t["allocation_id"])) + w.field_varint(4, t["subtask_index"]) +
            w.field_varint(5, t["attempt_number"]) + w.field_sint(6, t["target_slot_number"]) +
            w.field_bytes(7, jinfo) + w.field_bytes(8, info) + out)


# 4. SubmitTask for each task, in order (the sinks before their source)
names = {}
for t in ex["tasks"]:
    code, text, _ = call(w.SUBMIT_TASK, w.field_bytes(1, master) + w.field_bytes(2, tdd_of(t)))
    assert code == "OK", (t["task_information"]["task_name"], code, text)
    names[b(t["execution_attempt_id"])] = t["task_information"]["task_name"]
    print("submitted", t["task_information"]["task_name"], t["execution_attempt_id"])

# 5-7. follow the pushes: trigger the checkpoint once the source runs, confirm it once
# every task acknowledged it, until every task is final
by_name = {v: k for k, v in names.items()}
ck = ex["checkpoint"]
states = {e: [] for e in names}
final = {}
acks = {}
triggered = confirmed = False
deadline = time.monotonic() + 120
last_heartbeat = 0.0
while len(final) < len(names):
    assert time.monotonic() < deadline, "the job did not finish: %s" % states
    if not pushes:
        if time.monotonic() - last_heartbeat > 1:
            code, text, _ = call(w.HEARTBEAT, w.field_bytes(1, job))
            assert code == "OK", (code, text)
            last_heartbeat = time.monotonic()
            continue
        push = w.read_push(s)
        assert push is not None, "connection closed"
        pushes.append(push)
    num, body = pushes.pop(0)
    exe = w.msg_field(body, 2)
    assert exe in names, "a push for an unknown execution"
    if num == w.TASK_EXECUTION_STATE:
        assert w.msg_field(body, 1) == job
        st = w.STATES[w.msg_field(body, 3, 0)]
        states[exe].append(st)
        print("%-11s %s" % (names[exe], st))
        if st in ("FINISHED", "CANCELED", "FAILED"):
            final[exe] = (st, w.msg_field(body, 4, b"").decode(), w.msg_field(body, 5, 0), w.msg_field(body, 6, 0))
        if names[exe] == ck["trigger_task"] and st == "RUNNING" and not triggered:
            code, text, _ = call(w.TRIGGER_CHECKPOINT, w.field_bytes(1, exe) + w.field_varint(2, ck["id"]) +
                                 w.field_varint(3, int(time.time() * 1000)))
            assert code == "OK", ("TriggerCheckpoint", code, text)
            triggered = True
    elif num == w.ACKNOWLEDGE_CHECKPOINT:
        assert w.msg_field(body, 3) == ck["id"], body
        handles = [w.parse(h) for h in body.get(4, [])]
        assert len(handles) == 1, body
        acks[exe] = handles[0]
        print("%-11s acknowledged checkpoint %d: %s" % (names[exe], ck["id"], w.msg_field(handles[0], 2).decode()))
        if len(acks) == len(names) and not confirmed:
            for e in names:
                code, text, _ = call(w.CONFIRM_CHECKPOINT, w.field_bytes(1, e) + w.field_varint(2, ck["id"]))
                assert code == "OK", ("ConfirmCheckpoint", names[e], code, text)
            confirmed = True
    else:
        raise AssertionError("DeclineCheckpoint of %s: %s" % (names[exe], w.msg_field(body, 4, b"").decode()))

# 7. states and record counts as the document says
for e, seen in states.items():
    assert seen == ["DEPLOYING", "RUNNING", "FINISHED"], (names[e], seen, final[e])
src = by_name["src (1/1)"]
assert final[src][3] == 5000 and final[src][2] == 0, final[src]
sinks = [e for e in names if e != src]
assert sum(final[e][2] for e in sinks) == 5000, [final[e] for e in sinks]
assert all(final[e][3] == 0 for e in sinks), [final[e] for e in sinks]
assert triggered and confirmed and len(acks) == 3, (triggered, confirmed, len(acks))
# the handles: the writer's subtask and parallelism, the file where the document says
for e, h in acks.items():
    t = next(t for t in ex["tasks"] if b(t["execution_attempt_id"]) == e)
    ti = t["task_information"]
    path = w.msg_field(h, 2).decode()
    want = "%s/%s/chk-%d/%s-%d" % (t["job_configuration"]["state.checkpoints.dir"], ex["job_id"], ck["id"],
                                   ti["job_vertex_id"], t["subtask_index"])
    assert path == want, (path, want)
    assert os.path.isfile(path), path
    assert w.msg_field(h, 5, 0) == t["subtask_index"] and w.msg_field(h, 6, 0) == ti["number_of_subtasks"], h

# 8. FreeSlot, then both slots FREE
for sl in ex["slots"]:
    code, text, _ = call(w.FREE_SLOT, w.field_bytes(1, b(sl["allocation_id"])) + w.field_bytes(2, "done"))
    assert code == "OK", (code, text)
code, text, resp = call(w.REQUEST_SLOT_REPORT, b"")
for raw_slot in w.parse(resp[3][0]).get(2, []):
    st = w.parse(raw_slot)
    assert w.SLOT_STATES[w.msg_field(st, 2, 0)] == "FREE", st
s.close()
print("scheduler guide example: 3 tasks FINISHED, checkpoint %d acknowledged by all and confirmed" % ck["id"])
