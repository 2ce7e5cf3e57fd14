#!/usr/bin/env python3
"""rest_contract.py — drives a tejobmanager's REST API with Python's http.client (the
oracle: status codes, JSON shapes and the job store on disk, never the code under test).

usage: rest_contract.py URL STORE_DIR OUT_DIR
  URL is http://host:port of the REST API; STORE_DIR its jobmanager.store.dir; OUT_DIR a
  scratch directory for the jobs' output. Prints one line per check; exits 1 with the
  reason on the first failure."""
import http.client
import json
import os
import shutil
import socket
import sys
import time
import urllib.parse

URL, STORE, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
HOST, PORT = urllib.parse.urlparse(URL).hostname, urllib.parse.urlparse(URL).port


def die(msg):
    sys.stderr.write("rest_contract: FAIL: %s\n" % msg)
    sys.exit(1)


def call(method, path, body=None, raw=None, headers=None):
    c = http.client.HTTPConnection(HOST, PORT, timeout=30)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    c.request(method, path, body=data, headers=headers or {})
    r = c.getresponse()
    text = r.read()
    c.close()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    return r.status, doc, text, dict(r.getheaders())


def expect(method, path, status, body=None, raw=None, what=""):
    got, doc, text, headers = call(method, path, body, raw)
    if got != status:
        die("%s %s %s: %d, expected %d: %r" % (method, path, what, got, status, text[:300]))
    if status >= 400 and status != 413 and not (isinstance(doc, dict) and isinstance(doc.get("error"), str)):
        die("%s %s: %d without a JSON error: %r" % (method, path, got, text[:300]))
    print("ok  %-6s %-44s %d %s" % (method, path[:44], got, what))
    return doc, headers


def stored():
    return sorted(f for f in os.listdir(STORE) if f.endswith(".json"))


def wait_state(job, states, seconds=30):
    end = time.time() + seconds
    while time.time() < end:
        doc, _ = expect_quiet("GET", "/v1/jobs/" + job)
        if doc["state"] in states:
            return doc
        time.sleep(0.1)
    die("job %s never reached %s" % (job, states))


def expect_quiet(method, path):
    got, doc, text, headers = call(method, path)
    if got != 200:
        die("%s %s: %d: %r" % (method, path, got, text[:300]))
    return doc, headers


def seq_job(name, to, rate=0, unbounded=False, sink="discard"):
    src = {"op": "sequence", "from": 0}
    if unbounded:
        src["unbounded"] = True
    else:
        src["to"] = to
    if rate:
        src["rate"] = rate
    chain = [{"op": "discard"}] if sink == "discard" else [{"op": "file_sink", "path": os.path.join(OUT, name + "-{subtask}.txt")}]
    return {"name": name, "vertices": [{"id": "seq", "parallelism": 1, "chain": [src]},
                                       {"id": "sink", "parallelism": 2, "chain": chain}],
            "edges": [{"from": "seq", "to": "sink", "partitioner": "rebalance"}]}


# -- reading, nothing there yet ---------------------------------------------------------
doc, _ = expect("GET", "/v1/jobs", 200)
if doc != {"jobs": []}:
    die("no job expected: %r" % doc)
doc, _ = expect("GET", "/v1/taskmanagers", 200)
if len(doc["taskmanagers"]) != 2 or any(t["slots_total"] != 2 for t in doc["taskmanagers"]):
    die("two TaskExecutors with 2 slots expected: %r" % doc)
doc, _ = expect("GET", "/v1/overview", 200)
if doc["taskmanagers"] != 2 or doc["slots_free"] != 4:
    die("overview: %r" % doc)
expect("GET", "/", 200, what="(dashboard)")

# -- bad submissions: 400, nothing stored -------------------------------------------------------
before = stored()
expect("POST", "/v1/jobs", 400, raw=b"", what="(empty body)")
expect("POST", "/v1/jobs", 400, raw=b"{\"name\": ", what="(not JSON)")
expect("POST", "/v1/jobs", 400, raw=b"[1, 2]", what="(not an object)")
doc, _ = expect("POST", "/v1/jobs", 400, body={"name": "x", "vertices": []}, what="(invalid graph)")
if not doc["error"].startswith("invalid job: "):
    die("an invalid graph's error does not start with 'invalid job: ': %r" % doc["error"])
# a chain the scheduler cannot plan (an unknown operator, a field its input lacks): 400
# with INVALID_CHAIN as tectl says it, before anything is stored or started
bad = seq_job("x", 10)
bad["vertices"][1]["chain"] = [{"op": "tokenise"}, {"op": "discard"}]
doc, _ = expect("POST", "/v1/jobs", 400, body=bad, what="(unknown operator)")
if "INVALID_CHAIN" not in doc["error"] or "did you mean 'tokenize'" not in doc["error"]:
    die("an unknown operator's error: %r" % doc["error"])
bad["vertices"][1]["chain"] = [{"op": "select", "fields": "7"}, {"op": "discard"}]
doc, _ = expect("POST", "/v1/jobs", 400, body=bad, what="(field out of range)")
if "INVALID_CHAIN" not in doc["error"] or "7" not in doc["error"]:
    die("a field out of range's error: %r" % doc["error"])
doc, _ = expect("POST", "/v1/jobs", 400, body={"job": seq_job("x", 10), "checkpoint_intervall": "1s"}, what="(unknown option)")
if "checkpoint_intervall" not in doc["error"]:
    die("the unknown option is not named: %r" % doc["error"])
expect("POST", "/v1/jobs", 400, body={"job": seq_job("x", 10), "checkpoint_dir": "relative/dir"}, what="(relative dir)")
expect("POST", "/v1/jobs", 400, body={"job": seq_job("x", 10), "restart_attempts": -1}, what="(bad restarts)")
expect("POST", "/v1/jobs", 400, body={"job": seq_job("x", 10), "from_savepoint": "/nonexistent/sp"}, what="(no savepoint)")
if stored() != before:
    die("a refused job left a store record: %r" % stored())

# -- a job that finishes ----------------------------------------------------------------------------
doc, _ = expect("POST", "/v1/jobs", 202, body={"job": seq_job("finite", 999, sink="file"), "restart_attempts": 2})
job = doc["job_id"]
if job + ".json" not in stored():
    die("the accepted job %s is not in the store %s" % (job, stored()))
doc = wait_state(job, ("FINISHED", "FAILED", "CANCELED"))
if doc["state"] != "FINISHED":
    die("the job ended %s: %s" % (doc["state"], doc.get("failure_cause")))
lines = []
for f in os.listdir(OUT):
    if f.startswith("finite-"):
        lines += open(os.path.join(OUT, f)).read().split()
if sorted(map(int, lines)) != list(range(1000)):
    die("the finite job's output is not 0..999")
subtasks = [s for v in doc["vertices"] for s in v["subtasks"]]
if len(subtasks) != 3 or any(s["state"] != "FINISHED" or not s["taskmanager"] for s in subtasks):
    die("subtasks: %r" % subtasks)
if doc["options"]["restart_attempts"] != 2 or doc["max_restarts"] != 2:
    die("options not kept: %r" % doc["options"])
expect("GET", "/v1/jobs/%s/checkpoints" % job, 200)
doc, _ = expect("GET", "/v1/jobs/%s/events?since=0" % job, 200)
if doc["events"][-1]["event"] != "end" or doc["events"][-1]["result"] != "finished":
    die("the last event is not the end: %r" % doc["events"][-1])
doc2, _ = expect("GET", "/v1/jobs/%s/events?since=%d" % (job, doc["last_seq"]), 200, what="(nothing new)")
if doc2["events"] != []:
    die("events after last_seq: %r" % doc2["events"])
rec = json.load(open(os.path.join(STORE, job + ".json")))
if rec["status"] != "FINISHED" or rec["job"]["name"] != "finite":
    die("store record: %r" % rec)
doc, _ = expect("DELETE", "/v1/jobs/" + job, 409, what="(cancel a finished job)")

# -- unknown, malformed, wrong method ---------------------------------------------------------------------
unknown = "0123456789abcdef0123456789abcdef"
for m, p in [("GET", "/v1/jobs/" + unknown), ("DELETE", "/v1/jobs/" + unknown),
             ("GET", "/v1/jobs/%s/checkpoints" % unknown), ("GET", "/v1/jobs/%s/events" % unknown),
             ("GET", "/v2/jobs"), ("GET", "/v1/nothing")]:
    expect(m, p, 404)
for p in ["/v1/jobs/xyz", "/v1/jobs/%s" % ("g" * 32), "/v1/jobs/%s/checkpoints" % ("0" * 31)]:
    expect("GET", p, 400)
doc, headers = expect("PUT", "/v1/jobs", 405)
if "GET" not in headers.get("Allow", "") or "POST" not in headers.get("Allow", ""):
    die("405 without Allow: GET, POST: %r" % headers)
expect("POST", "/v1/taskmanagers", 405)

# -- cancel a running job ----------------------------------------------------------------------------------
doc, _ = expect("POST", "/v1/jobs", 202, body=seq_job("forever", 0, rate=2000, unbounded=True))
forever = doc["job_id"]
wait_state(forever, ("RUNNING",))
doc, _ = expect("DELETE", "/v1/jobs/" + forever, 202)
doc = wait_state(forever, ("CANCELED", "FAILED", "FINISHED"))
if doc["state"] != "CANCELED":
    die("cancelled job ended %s" % doc["state"])

# -- too large and garbage: refused, the JobManager serves on ------------------------------------------------
def post_big(size, chunked):
    """Sends a body of `size` bytes (declared, or chunked) until the server stops reading;
    returns the status line it answered."""
    s = socket.create_connection((HOST, PORT), timeout=30)
    head = "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else "Content-Length: %d\r\n\r\n" % size
    s.sendall(head.encode())
    chunk = b"x" * (1 << 20)
    try:
        for _ in range(size >> 20):
            s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
    except OSError:
        pass  # the server stopped reading: its answer is already on the way
    try:
        status = s.recv(4096).split(b"\r\n", 1)[0].decode()
    except OSError:
        status = "connection reset"
    s.close()
    return status


for chunked in (False, True):
    status = post_big(50 << 20, chunked)
    if " 413 " not in status:
        die("50 MB body (%s): %r, expected 413" % ("chunked" if chunked else "Content-Length", status))
    print("ok  POST   /v1/jobs (50 MB body, %s)  413" % ("chunked" if chunked else "declared"))
for data in [b"\x00\xff\x13garbage\r\n\r\n", b"POST /v1/jobs HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
             b"GET /v1/jobs HTTP/1.1\r\nX: " + b"a" * 100000 + b"\r\n\r\n"]:
    s = socket.create_connection((HOST, PORT), timeout=5)
    try:
        s.sendall(data)
        s.recv(1000)
    except (OSError, socket.timeout):
        pass
    s.close()
expect("GET", "/v1/jobs", 200, what="(after garbage)")

# -- the store cannot be written: 503, nothing half-created ----------------------------------------------------
jobs_before = len(expect_quiet("GET", "/v1/jobs")[0]["jobs"])
shutil.move(STORE, STORE + ".moved")
open(STORE, "w").close()  # a file where the directory was: no write can succeed (root included)
doc, _ = expect("POST", "/v1/jobs", 503, body=seq_job("nostore", 9), what="(store unwritable)")
if len(expect_quiet("GET", "/v1/jobs")[0]["jobs"]) != jobs_before:
    die("a job refused with 503 is listed")
os.remove(STORE)
shutil.move(STORE + ".moved", STORE)
doc, _ = expect("POST", "/v1/jobs", 202, body=seq_job("again", 9), what="(store back)")
wait_state(doc["job_id"], ("FINISHED",))
print("rest_contract: every endpoint and error code as specified")
