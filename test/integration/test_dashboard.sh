# The dashboard at / in Debian's headless Chromium while a job runs: the page's
# script fetches the JSON endpoints and renders them; the DOM Chromium dumps holds
# every running task (names and states as /v1/tasks reports them), non-zero record
# counts no larger than the JSON counters read afterwards, the daemon's identity and
# the slot grid. A task name holding HTML markup shows up as text, never as markup.
# Skips only where no Chromium can be found.
. "$(dirname "$0")/lib.sh"

find_chromium

start_daemon tm -D taskmanager.numberOfTaskSlots=3
http_get "$tm_STATUS/"
[ "$HTTP_CODE" = 200 ] || fail "GET / -> $HTTP_CODE"
grep -q "id='task-rows'" <<<"$HTTP_BODY" || fail "GET / is not the dashboard page"
! grep -qiE "(src|href)=['\"]?(https?:)?//" <<<"$HTTP_BODY" || fail "the page references an external asset"

cat >"$WORK/job.json" <<'JSON'
{ "name": "dashboard", "vertices": [
    { "id": "numbers", "parallelism": 1, "chain": [ { "op": "sequence", "unbounded": "true", "rate": "2000" } ] },
    { "id": "<i>sink</i>", "parallelism": 1, "chain": [ { "op": "discard" } ] } ],
  "edges": [ { "from": "numbers", "to": "<i>sink</i>", "partitioner": "forward" } ] }
JSON
submit_running "$WORK/tectl.out" 2 "$tm_STATUS" "$WORK/job.json" --executor "$tm_RPC"
tectl_pid=$SUBMIT_PID
flowing() { [ "$(http_body "$tm_STATUS/v1/tasks" | json 'min(t["metrics"]["numRecordsIn"] + t["metrics"]["numRecordsOut"] for t in d["tasks"])')" -gt 0 ]; }
wait_until 20 flowing || fail "no records flowing"

chromium_dump "$tm_STATUS/" "$WORK/dom.html"
http_body "$tm_STATUS/v1/tasks" >"$WORK/tasks.json"
http_body "$tm_STATUS/v1/overview" >"$WORK/overview.json"

python3 - "$WORK/dom.html" "$WORK/tasks.json" "$WORK/overview.json" <<'PY' || { head -c 6000 "$WORK/dom.html"; fail "the rendered dashboard does not match the JSON endpoints"; }
import json, sys
from html.parser import HTMLParser

class Dom(HTMLParser):
    """Collects the task rows, the header identity and the slot tiles."""
    def __init__(self):
        super().__init__()
        self.rows, self.stack, self.slots, self.ids = [], [], [], {}
        self.markup_in_name = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        ctx = {"tag": tag, "cls": cls, "id": a.get("id"), "attrs": a}
        if tag == "tr" and "task-row" in cls:
            self.rows.append({"id": a.get("id"), "state_attr": a.get("data-state"), "name": "", "state": ""})
        if self.rows and self.inside("task-name") and tag in ("i", "b", "img", "script"):
            self.markup_in_name.append(tag)
        if tag == "div" and "slot" in cls:
            self.slots.append(cls)
        if self.rows and self.inside("task-row") and tag == "td":
            for k in ("records-in", "records-out"):
                if k in cls:
                    self.rows[-1][k] = int(a.get("data-value", "-1"))
        if tag in ("br", "meta", "link", "img", "input"):
            return
        self.stack.append(ctx)
    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break
    def inside(self, cls):
        return any(cls in c["cls"] for c in self.stack)
    def handle_data(self, data):
        if self.rows and self.inside("task-row"):
            if self.inside("name-text"):
                self.rows[-1]["name"] += data
            elif self.inside("task-state"):
                self.rows[-1]["state"] += data
        for c in self.stack:
            if c["id"] in ("resource-id", "version"):
                self.ids[c["id"]] = self.ids.get(c["id"], "") + data

dom = Dom()
dom.feed(open(sys.argv[1], encoding="utf-8").read())
tasks = {t["execution_id"]: t for t in json.load(open(sys.argv[2]))["tasks"]}
ov = json.load(open(sys.argv[3]))
assert not dom.markup_in_name, "task name rendered as markup: %s" % dom.markup_in_name
assert dom.ids.get("resource-id") == ov["resource_id"], (dom.ids, ov["resource_id"])
assert dom.ids.get("version") == ov["version"], dom.ids
rows = {r["id"]: r for r in dom.rows}
want = {"task-" + e for e, t in tasks.items() if t["state"] == "RUNNING"}
assert want and want <= set(rows), "running tasks %s, rows in the DOM %s" % (want, set(rows))
for rid in want:
    r, t = rows[rid], tasks[rid[len("task-"):]]
    assert r["name"] == t["name"], (r["name"], t["name"])
    assert r["state"] == "RUNNING" and r["state_attr"] == "RUNNING", r
    m = t["metrics"]
    # counts only grow: what the page showed is at most what the JSON says now
    assert 0 <= r["records-in"] <= m["numRecordsIn"] and 0 <= r["records-out"] <= m["numRecordsOut"], (r, m)
sink = [rows[i] for i in want if rows[i]["name"].startswith("<i>sink</i>")]
src = [rows[i] for i in want if rows[i]["name"].startswith("numbers")]
assert len(sink) == 1 and len(src) == 1, rows
assert sink[0]["records-in"] > 0, "the sink's record count is 0 in the page: %s" % sink[0]
assert src[0]["records-out"] > 0, "the source's record count is 0 in the page: %s" % src[0]
assert len(dom.slots) == ov["slots"]["total"], dom.slots
active = sum(1 for c in dom.slots if "state-ACTIVE" in c)
assert active == ov["slots"]["active"], (dom.slots, ov["slots"])
print("dashboard ok: %d task rows; sink records in %d, source records out %d" %
      (len(want), sink[0]["records-in"], src[0]["records-out"]))
PY

kill -INT "$tectl_pid"
rc=0; wait "$tectl_pid" || rc=$?
[ "$rc" = 130 ] || { cat "$WORK/tectl.out"; fail "tectl exit code after Ctrl-C is $rc, expected 130"; }
wait_until 20 daemon_idle "$tm_STATUS" || fail "daemon not idle after cancel"
