"""The crash test's client: `publish` asks for a new version (the server is set to crash while
scoring it); `watch VERSION ROWS` reads dt_topics_visual over and over while a restarted
server re-runs the job, checking that every read sees one whole version, until the new
version is scored.
"""

import json
import sys
import time

from common import args, check, http

_, HTTP, TOKEN = args()
mode = sys.argv[4]


def call(method, path, body=None):
    status, _, raw = http(method, f"{HTTP}{path}", TOKEN, body)
    return status, json.loads(raw) if raw else None


if mode == "publish":
    status, data = call("POST", "/api/groups/topics/publish", {})
    check(status == 202 and "queued" in data["message"], f"publishing queued the job ({status} {data})")
    sys.exit(0)

version, rows = int(sys.argv[5]), int(sys.argv[6])
reads_while_queued = attempts_seen = 0
deadline = time.time() + 120
while True:
    assert time.time() < deadline, "the job did not finish within 120 s"
    status, data = call("POST", "/api/sql", {"sql": "SELECT group_version AS v, count(*) AS n FROM dt_topics_visual GROUP BY 1"})
    assert status == 200, data
    seen = data["rows"]
    assert len(seen) == 1 and seen[0]["n"] == rows, f"a read saw a partial or mixed table: {seen}"
    _, jobs = call("GET", "/api/scoring-jobs")
    queued = [j for j in jobs["rows"] if j["group_slug"] == "topics"]
    if queued:
        assert seen[0]["v"] == version - 1, f"while the job runs readers see the previous version: {seen}"
        reads_while_queued += 1
        attempts_seen = max(attempts_seen, queued[0]["job_attempt"] or 0)
    elif seen[0]["v"] == version:
        break
    time.sleep(0.05)
check(reads_while_queued > 0, f"{reads_while_queued} reads while the job re-ran saw version {version - 1} whole")
check(attempts_seen == 2, "the job was claimed a second time after the crash")
_, groups = call("GET", "/api/datasets/news/groups")
g = [x for x in groups["rows"] if x["table_prefix"] == "dt_topics"][0]
check(g["scoring_status"] == "scored" and g["applied_version"] == version, f"scored version {version}")
print("fault: all checks passed")
