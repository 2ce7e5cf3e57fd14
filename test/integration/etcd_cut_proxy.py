#!/usr/bin/env python3
"""etcd_cut_proxy.py — a TCP proxy between one JobManager and an etcd member that kills
the JobManager at an exact moment: after etcd has committed the JobManager's Nth write of
a checkpoint pointer (a /v3/kv/txn whose operations name a key containing
"/checkpoints/"), and before the JobManager reads etcd's answer. The checkpoint is then
completed in etcd but was never confirmed to the tasks by the leader that took it — the
window a new leader has to close (issue 15).

usage: etcd_cut_proxy.py LISTEN_PORT_FILE UPSTREAM_HOST:PORT PID_FILE N MARKER

Prints its port into LISTEN_PORT_FILE once listening. Requests pass through unchanged
(HTTP/1.1, one request at a time per connection, as the JobManager's client sends them:
Content-Length bodies); answers are streamed back unchanged (watch streams included).
At the cut it reads the JobManager's pid from PID_FILE, kills it with SIGKILL only
once etcd's answer has begun to arrive (the txn committed), writes "<checkpoint id>" to
MARKER, closes that connection, and from then on passes nothing (the JobManager is
gone).
"""
import base64
import json
import os
import re
import signal
import socket
import sys
import threading

port_file, upstream, pid_file, nth, marker = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
up_host, up_port = upstream.rsplit(":", 1)
lock = threading.Lock()
state = {"seen": 0, "done": False}


def read_request(sock, buf):
    """One HTTP request (headers + Content-Length body) from sock: (bytes, rest) or (None, b"")."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None, b""
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(rest) < n:
        data = sock.recv(65536)
        if not data:
            return None, b""
        rest += data
    return head + b"\r\n\r\n" + rest[:n], rest[n:]


def pointer_id(request):
    """The checkpoint id a txn writes as a pointer, or None when it writes none."""
    if not request.startswith(b"POST /v3/kv/txn"):
        return None
    try:
        body = json.loads(request.partition(b"\r\n\r\n")[2])
    except ValueError:
        return None
    for op in body.get("success", []):
        put = op.get("requestPut") or op.get("request_put")
        if not put:
            continue
        key = base64.b64decode(put.get("key", "")).decode(errors="replace")
        if "/checkpoints/" in key:
            value = json.loads(base64.b64decode(put.get("value", "")))
            return value.get("id")
    return None


def close(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()


def serve(client):
    try:
        server = socket.create_connection((up_host, int(up_port)))
    except OSError:
        client.close()
        return
    cut = threading.Event()
    cut_id = []

    def answers():  # etcd -> JobManager
        try:
            while True:
                data = server.recv(65536)
                if not data:
                    break
                if cut.is_set():  # the txn is committed: the leader dies before it hears so
                    with open(pid_file) as f:
                        os.kill(int(f.read().strip()), signal.SIGKILL)
                    with open(marker, "w") as f:
                        f.write("%s\n" % cut_id[0])
                    break
                with lock:
                    if state["done"]:
                        break
                client.sendall(data)
        except OSError:
            pass
        close(client, server)

    threading.Thread(target=answers, daemon=True).start()
    buf = b""
    try:
        while True:
            req, buf = read_request(client, buf)
            if req is None:
                break
            cid = pointer_id(req)
            if cid is not None:
                with lock:
                    state["seen"] += 1
                    if state["seen"] == nth and not state["done"]:
                        state["done"] = True
                        cut_id.append(cid)
                        cut.set()
            server.sendall(req)
            if cut.is_set():
                return  # answers() kills the JobManager when etcd's answer arrives
    except OSError:
        pass
    close(client, server)


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(64)
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % listener.getsockname()[1])
os.rename(port_file + ".tmp", port_file)
while True:
    c, _ = listener.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
