#!/usr/bin/env python3
"""A stand-in for systemd's notification socket: binds a unix datagram socket (a path,
or an abstract name when it starts with '@'), appends every datagram received to OUT
as one JSON line {"msg": text, "log_ready": bool} — log_ready tells whether the
daemon's log (LOG) already held its READY line when the datagram arrived.
Usage: notify_server.py SOCKET OUT LOG"""
import json, os, socket, sys

path, out, log = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + path[1:] if path.startswith("@") else path)
with open(out + ".bound", "w"):
    pass
while True:
    data = s.recv(65536)
    try:
        with open(log, "rb") as f:
            ready = b" READY " in f.read()
    except OSError:
        ready = False
    with open(out, "a") as f:
        f.write(json.dumps({"msg": data.decode("utf-8", "replace"), "log_ready": ready}) + "\n")
