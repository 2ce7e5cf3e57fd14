#!/usr/bin/env python3
"""Contracts of proto/rpc.proto and the configuration, through a hand-encoded client
(te_wire), against a daemon started with taskmanager.slot.timeout=1s,
taskmanager.network.partition-request-timeout=1s and request-backoff.max=60s:
  - RequestSlot for a slot index out of range answers SLOT_NOT_AVAILABLE;
  - a SubmitTask refused after its slot was marked ACTIVE (here: an unknown operator)
    leaves a slot holding no task ALLOCATED again, and its taskmanager.slot.timeout
    then frees it (it used to stay ACTIVE, with no task, forever);
  - a consumer whose local producer never registers fails after
    taskmanager.network.partition-request-timeout (it used to wait request-backoff.max);
  - RegisterJobManager answers with the job's tasks on the daemon (Response.task_report):
    a running task RUNNING, and after it was cancelled CANCELED (a JobManager adopting
    tasks learns there which ones still run).
Usage: rpc_contract.py HOST:PORT N_SLOTS"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import te_wire as w  # noqa: E402

address, n_slots = sys.argv[1], int(sys.argv[2])
s = w.connect(address)
job, master = w.new_id(), w.new_id()
code, text = w.call(s, 1, w.REGISTER_JOB_MANAGER, w.field_bytes(1, job) + w.field_bytes(2, master))
assert code == "OK", (code, text)


def request_slot(call_id, index, alloc):
    return w.call(s, call_id, w.REQUEST_SLOT, w.field_bytes(1, job) + w.field_bytes(2, master) +
                  w.field_bytes(3, alloc) + w.field_sint(4, index))


def slot_state(index):
    code, text, r = w.call_full(s, 50 + index, w.REQUEST_SLOT_REPORT, b"")
    assert code == "OK", (code, text)
    for raw in w.parse(r[3][0]).get(2, []):
        st = w.parse(raw)
        if w.msg_field(st, 1, 0) == index:
            return w.SLOT_STATES[w.msg_field(st, 2, 0)]
    raise AssertionError("slot %d missing from the report" % index)


# 14: out of range -> SLOT_NOT_AVAILABLE (the proto's code for taken / out of range / none free)
code, text = request_slot(2, n_slots + 5, w.new_id())
print("RequestSlot slot_index=%d of %d slots -> %s: %s" % (n_slots + 5, n_slots, code, text))
assert code == "SLOT_NOT_AVAILABLE", (code, text)
assert "out of range" in text, text

# 15: a refused SubmitTask does not leave its slot ACTIVE with no task
alloc = w.new_id()
code, text = request_slot(3, 1, alloc)
assert code == "OK", (code, text)
assert slot_state(1) == "ALLOCATED"
task_info = (w.field_bytes(2, "refused (1/1)") + w.field_varint(3, 1) + w.field_varint(4, 128) +
             w.field_varint(5, 1) + w.field_bytes(6, w.field_bytes(1, "no_such_operator")))
tdd = (w.field_bytes(1, job) + w.field_bytes(2, w.new_id()) + w.field_bytes(3, alloc) + w.field_varint(6, 1) +
       w.field_bytes(8, task_info))
code, text = w.call(s, 4, w.SUBMIT_TASK, w.field_bytes(1, master) + w.field_bytes(2, tdd))
print("SubmitTask with an unknown operator ->", code, text)
assert code == "INVALID_CHAIN", (code, text)
state = slot_state(1)
print("slot 1 after the refusal:", state)
assert state == "ALLOCATED", "a refused deployment left slot 1 %s with no task" % state
deadline = time.monotonic() + 60  # the slot timeout is 1 s; generous for loaded machines
while slot_state(1) != "FREE":
    assert time.monotonic() < deadline, "slot 1 was never freed by its slot timeout"
    time.sleep(0.1)
print("slot 1 freed by taskmanager.slot.timeout")
# A slot freed so can be requested again.
alloc = w.new_id()
code, text = request_slot(5, 1, alloc)
assert code == "OK", (code, text)

# 16: the partition request timeout is its own key (it was filled from request-backoff.max)
gate = w.field_bytes(3, w.field_bytes(1, w.new_id()) + w.field_varint(4, 1))  # local, never registered
task_info = (w.field_bytes(2, "orphan (1/1)") + w.field_varint(3, 1) + w.field_varint(4, 128) +
             w.field_varint(5, 2) + w.field_bytes(6, w.field_bytes(1, "discard")))
exe = w.new_id()
tdd = (w.field_bytes(1, job) + w.field_bytes(2, exe) + w.field_bytes(3, alloc) + w.field_varint(6, 1) +
       w.field_bytes(8, task_info) + w.field_bytes(10, gate))
code, text = w.call(s, 6, w.SUBMIT_TASK, w.field_bytes(1, master) + w.field_bytes(2, tdd))
assert code == "OK", (code, text)
while True:
    push = w.read_push(s)
    assert push is not None, "connection closed before the task's final state"
    num, body = push
    if num != w.TASK_EXECUTION_STATE or w.msg_field(body, 2) != exe:
        continue
    state = w.STATES[w.msg_field(body, 3, 0)]
    if state in ("FINISHED", "CANCELED", "FAILED"):
        cause = w.msg_field(body, 4, b"").decode()
        break
print("consumer of a partition never registered ->", state, cause)
assert state == "FAILED", state
assert "PartitionNotFound" in cause and "within 1000 ms" in cause, cause


# RegisterJobManager lists the job's tasks here (Response.task_report, TaskStatus fields
# 3 execution_attempt_id and 5 state).
def registered_tasks(call_id):
    code, text, r = w.call_full(s, call_id, w.REGISTER_JOB_MANAGER, w.field_bytes(1, job) + w.field_bytes(2, master))
    assert code == "OK", (code, text)
    assert 5 in r, "RegisterJobManager's answer carries no task_report: %r" % r
    tasks = {}
    for raw in w.parse(r[5][0]).get(2, []):
        st = w.parse(raw)
        tasks[w.msg_field(st, 3)] = w.STATES[w.msg_field(st, 5, 0)]
    return tasks


def kv(k, v):
    return w.field_bytes(3, w.field_bytes(1, k) + w.field_bytes(2, v))


alloc2 = w.new_id()
code, text = request_slot(7, 0, alloc2)
assert code == "OK", (code, text)
runner = w.new_id()
task_info = (w.field_bytes(2, "runner (1/1)") + w.field_varint(3, 1) + w.field_varint(4, 128) + w.field_varint(5, 1) +
             w.field_bytes(6, w.field_bytes(1, "sequence") + kv("from", "0") + kv("to", "1000000000") +
                           kv("rate", "100")) + w.field_bytes(6, w.field_bytes(1, "discard")))
tdd = (w.field_bytes(1, job) + w.field_bytes(2, runner) + w.field_bytes(3, alloc2) + w.field_varint(6, 0) +
       w.field_bytes(8, task_info))
code, text = w.call(s, 8, w.SUBMIT_TASK, w.field_bytes(1, master) + w.field_bytes(2, tdd))
assert code == "OK", (code, text)
deadline = time.monotonic() + 60
while (tasks := registered_tasks(9)).get(runner) != "RUNNING":
    assert time.monotonic() < deadline, "the running task is not listed RUNNING: %r" % tasks
    time.sleep(0.1)
assert tasks.get(exe) == "FAILED", "the failed consumer (its slot still allocated) is not listed: %r" % tasks
print("RegisterJobManager lists the job's tasks:", sorted(tasks.values()))
code, text = w.call(s, 10, w.CANCEL_TASK, w.field_bytes(1, runner))
assert code == "OK", (code, text)
while (tasks := registered_tasks(11)).get(runner) != "CANCELED":
    assert time.monotonic() < deadline, "the cancelled task is not listed CANCELED: %r" % tasks
    time.sleep(0.1)
print("after CancelTask it lists the task CANCELED")
s.close()
