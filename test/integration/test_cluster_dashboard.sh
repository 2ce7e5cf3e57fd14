# The JobManager's dashboard (GET / of its REST port) in Debian's headless Chromium
# while a job runs: the DOM Chromium dumps holds the job (state as GET /v1/jobs says),
# its subtasks with their state and TaskExecutor as GET /v1/jobs/<id> says, record
# counts no larger than the JSON counters read afterwards, and every registered
# TaskExecutor with as many slot tiles as it has slots. A vertex id holding HTML markup
# shows up as text, never as markup. Skips only where no Chromium can be found.
. "$(dirname "$0")/lib.sh"
find_chromium

start_jobmanager jm
start_executor te1 jm -D taskmanager.numberOfTaskSlots=2
start_executor te2 jm -D taskmanager.numberOfTaskSlots=3
wait_until 10 registered jm 2 || fail "the TaskExecutors did not register"
http_get "$jm_URL/"
[ "$HTTP_CODE" = 200 ] || fail "GET / -> $HTTP_CODE"
grep -q "id='job-rows'" <<<"$HTTP_BODY" || fail "GET / is not the JobManager's dashboard"
! grep -qiE "(src|href)=['\"]?(https?:)?//" <<<"$HTTP_BODY" || fail "the page references an external asset"

cat >"$WORK/job.json" <<'JSON'
{ "name": "dash<b>board</b>", "vertices": [
    { "id": "numbers", "parallelism": 2, "chain": [ { "op": "sequence", "unbounded": "true", "rate": "2000" } ] },
    { "id": "<i>sink</i>", "parallelism": 2, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "numbers", "to": "<i>sink</i>", "partitioner": "forward" } ] }
JSON
job=$("$TECTL" submit "$WORK/job.json" --jobmanager "$jm_REST") || fail "submit"
flowing() { [ "$(job_field jm "$job" 'd["state"] == "RUNNING" and min(s["records_in"] + s["records_out"] for v in d["vertices"] for s in v["subtasks"]) > 0')" = True ]; }
wait_until 20 flowing || fail "the job never ran with records flowing"

chromium_dump "$jm_URL/" "$WORK/dom.html"
curl -s "$jm_URL/v1/jobs/$job" >"$WORK/job.out.json"
curl -s "$jm_URL/v1/taskmanagers" >"$WORK/tms.json"

python3 - "$WORK/dom.html" "$WORK/job.out.json" "$WORK/tms.json" <<'PY' || { head -c 6000 "$WORK/dom.html"; fail "the rendered dashboard does not match the REST API"; }
import json, sys
from html.parser import HTMLParser

class Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.jobs, self.subtasks, self.tms, self.markup = [], {}, {}, {}, []
        self.cur = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "tr" and "job-row" in cls:
            self.cur = self.jobs.setdefault(a["id"], {"state": a.get("data-state"), "text": ""})
        elif tag == "tr" and "subtask-row" in cls:
            self.cur = self.subtasks.setdefault(a["id"], {"state": a.get("data-state"), "cells": []})
        elif tag == "tr" and "tm-row" in cls:
            self.cur = self.tms.setdefault(a["id"], {"slots": 0, "cells": []})
        if tag in ("i", "b", "script", "img") and self.stack and any(c in ("job-row", "subtask-row") for s in self.stack for c in s):
            self.markup.append(tag)
        if tag == "div" and "slot" in cls and self.cur is not None and "slots" in self.cur:
            self.cur["slots"] += 1
        if tag == "td" and self.cur is not None and "cells" in self.cur:
            self.cur["cells"].append({"cls": cls, "text": "", "value": a.get("data-value")})
        if tag not in ("meta", "link", "br", "img", "input"):
            self.stack.append(cls)
    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()
        if tag == "tr":
            self.cur = None
    def handle_data(self, data):
        if self.cur is None:
            return
        if "cells" in self.cur and self.cur["cells"]:
            self.cur["cells"][-1]["text"] += data
        elif "text" in self.cur:
            self.cur["text"] += data

dom = Dom()
dom.feed(open(sys.argv[1], encoding="utf-8").read())
job = json.load(open(sys.argv[2]))
tms = json.load(open(sys.argv[3]))["taskmanagers"]
assert not dom.markup, "names rendered as markup: %s" % dom.markup
row = dom.jobs.get("job-" + job["job_id"])
assert row and row["state"] == "RUNNING" and "dash<b>board</b>" in row["text"], row
subs = {s["execution_id"]: s for v in job["vertices"] for s in v["subtasks"]}
assert len(subs) == 4 and len(dom.subtasks) == 4, (len(subs), dom.subtasks.keys())
for rid, r in dom.subtasks.items():
    s = subs[rid[len("subtask-"):]]
    cells = {c: x for x in r["cells"] for c in x["cls"]}
    assert r["state"] == "RUNNING" and cells["subtask-name"]["text"] == s["name"], (r, s)
    assert cells["subtask-tm"]["text"] == s["taskmanager"], (cells["subtask-tm"], s)
    rin, rout = int(cells["records-in"]["value"]), int(cells["records-out"]["value"])
    assert 0 <= rin <= s["records_in"] and 0 <= rout <= s["records_out"], (rin, rout, s)
assert any(int(c["value"]) > 0 for r in dom.subtasks.values() for c in r["cells"] if "records-out" in c["cls"]), "no records in the page"
for t in tms:
    r = dom.tms.get("tm-" + t["resource_id"])
    assert r and r["slots"] == t["slots_total"], (t["resource_id"], r)
print("JobManager dashboard ok: job RUNNING, %d subtasks, %d TaskExecutors" % (len(dom.subtasks), len(dom.tms)))
PY
"$TECTL" cancel "$job" --jobmanager "$jm_REST" >/dev/null || fail "cancel"
wait_until 20 job_in_state jm "$job" CANCELED || fail "the job was not cancelled"
