"""te_wire — a hand-written client of the daemon's control-plane RPC for tests (and
the scheduler guide's example): protobuf fields encoded and parsed here, independently
of the daemon's protobuf-c code, framed as `u32 big-endian length | RpcMessage`.
Field numbers are those of proto/rpc.proto and proto/tdd.proto."""
import os
import socket
import struct

ERROR_CODES = {0: "OK", 1: "MALFORMED_MESSAGE", 2: "FRAME_TOO_LARGE", 3: "UNKNOWN_JOB", 4: "JOB_MASTER_MISMATCH",
               5: "SLOT_NOT_FOUND", 6: "SLOT_NOT_AVAILABLE", 7: "INCONSISTENT_IDS", 8: "INVALID_CHAIN",
               9: "INSUFFICIENT_BUFFERS", 10: "DUPLICATE_EXECUTION", 11: "UNKNOWN_TASK", 12: "INVALID_ARGUMENT",
               13: "INTERNAL", 14: "SHUTTING_DOWN", 15: "UNKNOWN_TASK_EXECUTOR", 16: "SLOT_OFFER_REJECTED",
               17: "NOT_LEADER", 18: "STALE_EPOCH"}
# RpcMessage body fields (proto/rpc.proto): calls 10..29, Response 30, pushes 40..49.
REGISTER_JOB_MANAGER, REQUEST_SLOT, SUBMIT_TASK, CANCEL_TASK, FREE_SLOT = 10, 11, 12, 13, 14
TRIGGER_CHECKPOINT, CONFIRM_CHECKPOINT, ABORT_CHECKPOINT, HEARTBEAT, DISCONNECT_JOB_MANAGER = 15, 16, 17, 18, 19
REQUEST_SLOT_REPORT, REQUEST_TASK_REPORT = 20, 21
RESPONSE, TASK_EXECUTION_STATE, ACKNOWLEDGE_CHECKPOINT, DECLINE_CHECKPOINT = 30, 40, 41, 42
STATES = ["CREATED", "DEPLOYING", "RUNNING", "FINISHED", "CANCELING", "CANCELED", "FAILED"]
SLOT_STATES = ["FREE", "ALLOCATED", "ACTIVE", "RELEASING"]

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, v):
    return varint(num << 3 | 0) + varint(v)


def field_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def read_varint(buf, i):
    shift = v = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def parse(buf):
    """Top-level fields of a protobuf message: {num: [values]}"""
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            v = buf[i:i + n]
            i += n
        elif wt == 1:
            v = buf[i:i + 8]; i += 8
        elif wt == 5:
            v = buf[i:i + 4]; i += 4
        else:
            raise ValueError("bad wire type")
        out.setdefault(num, []).append(v)
    return out


def field_sint(num, v):
    """An int32 field (negative values as 10-byte two's complement varints)."""
    return field_varint(num, v & 0xFFFFFFFFFFFFFFFF if v < 0 else v)


def msg_field(msg, num, default=None):
    """The first value of field num of a parse()d message."""
    return msg.get(num, [default])[0]


# Replies take milliseconds; the generous timeout only matters under valgrind.
TIMEOUT = float(os.environ.get("TE_RPC_TEST_TIMEOUT", "30"))



def connect(address):
    host, port = address.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def read_frame(s):
    hdr = b""
    while len(hdr) < 4:
        c = s.recv(4 - len(hdr))
        if not c:
            return None
        hdr += c
    (n,) = struct.unpack(">I", hdr)
    body = b""
    while len(body) < n:
        c = s.recv(n - len(body))
        if not c:
            return None
        body += c
    return body


def response_of(body):
    msg = parse(body)
    assert 30 in msg, "reply is not a Response: %r" % msg
    r = parse(msg[30][0])
    code = r.get(1, [0])[0]
    text = r.get(2, [b""])[0].decode(errors="replace")
    return ERROR_CODES.get(code, str(code)), text


def call(s, call_id, field_num, body, epoch=0):
    """One call (RpcMessage.epoch = epoch when not 0); its (code name, message)."""
    s.sendall(frame(field_varint(1, call_id) + (field_varint(2, epoch) if epoch else b"") + field_bytes(field_num, body)))
    while True:
        f = read_frame(s)
        assert f is not None, "connection closed while waiting for call %d" % call_id
        m = parse(f)
        if m.get(1, [0])[0] == call_id:
            return response_of(f)


def call_full(s, call_id, field_num, body, pushes=None):
    """Like call, but returns (code, message, the Response's parsed fields); pushes that
    arrive meanwhile are appended to `pushes` as (field number, parsed body)."""
    s.sendall(frame(field_varint(1, call_id) + field_bytes(field_num, body)))
    while True:
        f = read_frame(s)
        assert f is not None, "connection closed while waiting for call %d" % call_id
        m = parse(f)
        if RESPONSE in m and m.get(1, [0])[0] == call_id:
            r = parse(m[RESPONSE][0])
            code = r.get(1, [0])[0]
            return ERROR_CODES.get(code, str(code)), r.get(2, [b""])[0].decode(errors="replace"), r
        if pushes is not None:
            for num in (TASK_EXECUTION_STATE, ACKNOWLEDGE_CHECKPOINT, DECLINE_CHECKPOINT):
                if num in m:
                    pushes.append((num, parse(m[num][0])))


def read_push(s):
    """The next push on the connection as (field number, parsed body); None at EOF."""
    while True:
        f = read_frame(s)
        if f is None:
            return None
        m = parse(f)
        for num in (TASK_EXECUTION_STATE, ACKNOWLEDGE_CHECKPOINT, DECLINE_CHECKPOINT):
            if num in m:
                return num, parse(m[num][0])


def new_id():
    return os.urandom(16)
