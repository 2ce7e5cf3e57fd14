#!/usr/bin/env python3
"""Sends bad input to a daemon's RPC port and checks each gets an error reply or a
closed connection, and that the daemon serves the next client. Protobuf messages are
encoded here by hand (independently of the daemon's protobuf-c code)."""
import os
import random
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from te_wire import (call, connect as wire_connect, field_bytes, field_varint, frame, parse, read_frame,
                     response_of)

ADDRESS = sys.argv[1]


def connect():
    return wire_connect(ADDRESS)


def error_or_close(s, what):
    """After bad input: an error Response or EOF. Returns a description."""
    try:
        f = read_frame(s)
    except (socket.timeout, ConnectionResetError):
        f = None
    if f is None:
        return "closed"
    code, text = response_of(f)
    assert code != "OK", "%s was answered OK" % what
    return "%s: %s" % (code, text)


def healthy():
    s = connect()
    code, text = call(s, 99, 18, b"")  # Heartbeat (liveness)
    s.close()
    assert code == "OK", "heartbeat after bad input: %s %s" % (code, text)


rng = random.Random(1234)
checks = 0

# 1. Random bytes.
for n in (1, 7, 100, 5000):
    s = connect()
    s.sendall(bytes(rng.getrandbits(8) for _ in range(n)))
    s.shutdown(socket.SHUT_WR)
    print("random %d bytes ->" % n, error_or_close(s, "random bytes"))
    s.close()
    healthy(); checks += 1

# 2. Oversized length: rejected before any allocation, with FRAME_TOO_LARGE.
s = connect()
s.sendall(struct.pack(">I", 0x7FFFFFF0) + b"xxxx")
res = error_or_close(s, "oversized frame")
print("oversized ->", res)
assert res.startswith("FRAME_TOO_LARGE") or res == "closed", res
s.close()
healthy(); checks += 1

# 3. A valid frame of garbage protobuf.
s = connect()
s.sendall(frame(b"\xff" * 16))
res = error_or_close(s, "garbage protobuf")
print("garbage protobuf ->", res)
assert res.startswith("MALFORMED_MESSAGE") or res == "closed", res
s.close()
healthy(); checks += 1

# 4. SubmitTask for an unknown allocation (after a proper RegisterJobManager).
job, master, alloc, exe = (os.urandom(16) for _ in range(4))
s = connect()
code, text = call(s, 1, 10, field_bytes(1, job) + field_bytes(2, master) + field_bytes(3, "bad-rpc"))
assert code == "OK", (code, text)
task_info = field_bytes(2, "t (1/1)") + field_varint(3, 1) + field_varint(4, 128) + field_varint(5, 1) + \
    field_bytes(6, field_bytes(1, "sequence") + field_bytes(3, field_bytes(1, "to") + field_bytes(2, "5")))
tdd = field_bytes(1, job) + field_bytes(2, exe) + field_bytes(3, alloc) + field_bytes(8, task_info)
code, text = call(s, 2, 12, field_bytes(1, master) + field_bytes(2, tdd))
print("submit into unknown allocation ->", code, text)
assert code == "SLOT_NOT_FOUND", (code, text)
assert alloc.hex() in text, "the error does not name the allocation"
# Wrong fencing token.
code, text = call(s, 3, 12, field_bytes(1, os.urandom(16)) + field_bytes(2, tdd))
print("submit with a wrong job master id ->", code, text)
assert code == "JOB_MASTER_MISMATCH", (code, text)
# Unknown job.
tdd2 = field_bytes(1, os.urandom(16)) + field_bytes(2, exe) + field_bytes(3, alloc) + field_bytes(8, task_info)
code, text = call(s, 4, 12, field_bytes(1, master) + field_bytes(2, tdd2))
print("submit for an unknown job ->", code, text)
assert code == "UNKNOWN_JOB", (code, text)
# A call with no body.
s.sendall(frame(field_varint(1, 5)))
f = read_frame(s)
code, text = response_of(f)
print("empty call ->", code, text)
assert code == "MALFORMED_MESSAGE", (code, text)
s.close()
healthy(); checks += 1

# 5. A duplicate execution id, and a submit into a slot allocated to another job.
job, master, alloc, exe = (os.urandom(16) for _ in range(4))
s = connect()
code, text = call(s, 10, 10, field_bytes(1, job) + field_bytes(2, master) + field_bytes(3, "dup"))
assert code == "OK", (code, text)
code, text = call(s, 11, 11, field_bytes(1, job) + field_bytes(2, master) + field_bytes(3, alloc) + field_varint(4, 0xFFFFFFFFFFFFFFFF))
assert code == "OK", ("RequestSlot", code, text)
task_info = field_bytes(2, "dup (1/1)") + field_varint(3, 1) + field_varint(4, 128) + field_varint(5, 1) + \
    field_bytes(6, field_bytes(1, "sequence") + field_bytes(3, field_bytes(1, "unbounded") + field_bytes(2, "true"))) + \
    field_bytes(6, field_bytes(1, "discard"))
tdd = field_bytes(1, job) + field_bytes(2, exe) + field_bytes(3, alloc) + field_bytes(8, task_info)
code, text = call(s, 12, 12, field_bytes(1, master) + field_bytes(2, tdd))
assert code == "OK", ("first submit", code, text)
code, text = call(s, 13, 12, field_bytes(1, master) + field_bytes(2, tdd))
print("the same execution id again ->", code, text)
assert code == "DUPLICATE_EXECUTION", (code, text)
assert exe.hex() in text, "the error does not name the execution id"
# another job cannot use this job's allocation
job2, master2 = os.urandom(16), os.urandom(16)
code, text = call(s, 14, 10, field_bytes(1, job2) + field_bytes(2, master2) + field_bytes(3, "other"))
tdd2 = field_bytes(1, job2) + field_bytes(2, os.urandom(16)) + field_bytes(3, alloc) + field_bytes(8, task_info)
code, text = call(s, 15, 12, field_bytes(1, master2) + field_bytes(2, tdd2))
print("another job's allocation ->", code, text)
assert code == "SLOT_NOT_FOUND", (code, text)
code, text = call(s, 16, 13, field_bytes(1, exe))   # CancelTask
assert code == "OK", (code, text)
code, text = call(s, 17, 14, field_bytes(1, alloc))  # FreeSlot
assert code == "OK", (code, text)
s.close()
healthy(); checks += 1

# 5b. A TDD whose schemas differ from what the daemon derives (proto/ROWS.md): the
# scheduler claims `sequence` emits (value:string); the daemon derives (value:int64).
job, master, alloc, exe = (os.urandom(16) for _ in range(4))
s = connect()
code, text = call(s, 20, 10, field_bytes(1, job) + field_bytes(2, master) + field_bytes(3, "schema"))
assert code == "OK", (code, text)
code, text = call(s, 21, 11, field_bytes(1, job) + field_bytes(2, master) + field_bytes(3, alloc) + field_varint(4, 0xFFFFFFFFFFFFFFFF))
assert code == "OK", ("RequestSlot", code, text)
wrong = field_bytes(1, field_bytes(1, "value") + field_varint(2, 4))     # Schema{Field{value, STRING}}
task_info = field_bytes(2, "schema (1/1)") + field_varint(3, 1) + field_varint(4, 128) + field_varint(5, 1) + \
    field_bytes(6, field_bytes(1, "sequence") + field_bytes(3, field_bytes(1, "to") + field_bytes(2, "5")) +
                field_bytes(4, wrong)) + field_bytes(6, field_bytes(1, "discard"))
tdd = field_bytes(1, job) + field_bytes(2, exe) + field_bytes(3, alloc) + field_bytes(8, task_info)
code, text = call(s, 22, 12, field_bytes(1, master) + field_bytes(2, tdd))
print("a TDD with a wrong schema ->", code, text)
assert code == "INVALID_CHAIN", (code, text)
assert "operator 'sequence' (#0) output" in text and "(value:string)" in text and "(value:int64)" in text, text
code, text = call(s, 23, 14, field_bytes(1, alloc))  # FreeSlot
assert code == "OK", (code, text)
s.close()
healthy(); checks += 1

# 6. Many connections opened and dropped.
for _ in range(300):
    c = connect()
    c.close()
healthy(); checks += 1
print("bad RPC input: %d checks, daemon still serving" % checks)
