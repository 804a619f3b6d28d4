"""The HTTP SQL API: POST /api/sql as JSON, NDJSON, CSV and an Arrow stream; the
asynchronous mode (submit → status → results, cancel); errors; login; the OpenAPI document."""

import csv
import io
import json
import time

import pyarrow as pa

from common import ENDLESS, JOIN, args, check, http, wait_until_idle

flight, base, token = args()
sql_url = f"{base}/api/sql"

status, _, body = http("GET", f"{base}/api/health")
check(status == 200 and json.loads(body)["status"] == "ok", "health without a token")

# One statement, four formats.
status, headers, body = http("POST", sql_url, token, {"sql": JOIN, "dataset": "demo"})
check(status == 200 and headers["content-type"].startswith("application/json"), "JSON answer")
answer = json.loads(body)
check(answer["row_count"] == len(answer["rows"]) > 0 and answer["columns"][0]["name"] == "tag_name",
      f"JSON: {answer['row_count']} rows, columns {[c['name'] for c in answer['columns']]}")
n = answer["row_count"]
status, _, body = http("POST", sql_url, token, JOIN, {"Accept": "application/x-ndjson"})
lines = [json.loads(x) for x in body.decode().splitlines()]
check(status == 200 and len(lines) == n and "score" in lines[0], "NDJSON answer (plain-text body)")
status, headers, body = http("POST", sql_url, token, JOIN, {"Accept": "text/csv"})
rows = list(csv.reader(io.StringIO(body.decode())))
check(status == 200 and rows[0][0] == "tag_name" and len(rows) == n + 1, "CSV answer with a header")
status, headers, body = http("POST", sql_url, token, JOIN,
                             {"Accept": "application/vnd.apache.arrow.stream"})
table = pa.ipc.open_stream(body).read_all()
check(status == 200 and table.num_rows == n and "SeriesName" in table.column_names, "Arrow IPC answer")

# A tag statement over HTTP.
status, _, body = http("POST", sql_url, token, "ALTER TAG 'music' IN GROUP subjects SET THRESHOLD 0.5")
check(status == 200, f"tag statement: {body[:200]!r}")

# Errors.
status, _, body = http("POST", sql_url, None, "SELECT 1")
check(status == 401 and json.loads(body)["code"] == "unauthenticated", "no token → 401")
status, _, body = http("POST", sql_url, "wrong-token", "SELECT 1")
check(status == 401, "bad token → 401")
status, _, body = http("POST", sql_url, token, "SELEC 1")
err = json.loads(body)
check(status == 400 and err["code"] == "invalid_argument" and "SELEC" in err["error"], f"malformed → 400: {err}")
status, _, body = http("POST", sql_url, token, "SELECT * FROM dt_nothing_visual")
check(status == 400 and "dt_nothing_visual" in json.loads(body)["error"], "unknown table → 400 naming it")
status, _, body = http("POST", sql_url, token, "SELECT 1", {"Accept": "image/png"})
check(status == 400 and "accept" in json.loads(body)["error"].lower(), "unsupported Accept → 400")
status, _, body = http("POST", sql_url, token, b"{not json", {"Content-Type": "application/json"})
check(status == 400, "malformed JSON body → 400")

# Login with basic credentials → a session token that works.
status, _, body = http("POST", f"{base}/api/login", None, {"user": "admin", "password": token})
session = json.loads(body)["token"]
check(status == 200 and session != token, "login returns a session token")
status, _, _ = http("POST", sql_url, session, "SELECT 1")
check(status == 200, "the session token works")
status, _, _ = http("POST", f"{base}/api/login", None, {"user": "admin", "password": "nope"})
check(status == 401, "wrong password → 401")

# Asynchronous: submit → poll → results; results in another format; cancel.
status, _, body = http("POST", f"{base}/api/queries", token, {"sql": JOIN})
job = json.loads(body)
check(status == 202 and job["status"] in ("running", "succeeded"), f"submitted {job['id']}")
for _ in range(600):
    status, _, body = http("GET", f"{base}/api/queries/{job['id']}", token)
    job = json.loads(body)
    if job["status"] != "running":
        break
    time.sleep(0.05)
check(job["status"] == "succeeded" and job["rows"] == n and job["expires_in_s"] > 0, f"status {job}")
status, _, body = http("GET", f"{base}/api/queries/{job['id']}/results", token)
check(status == 200 and json.loads(body)["row_count"] == n, "results as JSON")
status, _, body = http("GET", f"{base}/api/queries/{job['id']}/results", token,
                       headers={"Accept": "application/vnd.apache.arrow.stream"})
check(pa.ipc.open_stream(body).read_all().num_rows == n, "results as Arrow")
status, _, body = http("GET", f"{base}/api/queries", token)
check(any(q["id"] == job["id"] for q in json.loads(body)), "listed among the caller's queries")

status, _, body = http("POST", f"{base}/api/queries", token, {"sql": "SELECT count(*) FROM (" + ENDLESS + ")"})
long_job = json.loads(body)
time.sleep(0.5)
status, _, body = http("GET", f"{base}/api/queries/{long_job['id']}/results", token)
check(status == 409 and "still running" in json.loads(body)["error"], "results of a running query → 409")
status, _, body = http("DELETE", f"{base}/api/queries/{long_job['id']}", token)
check(status == 200 and json.loads(body)["status"] == "cancelled", "cancelled")
idle = wait_until_idle(base, token)
check(not idle["running"], "the cancelled query stopped on the server")
status, _, body = http("GET", f"{base}/api/queries/nope", token)
check(status == 404, "unknown query → 404")

# A failing asynchronous query reports its error.
status, _, body = http("POST", f"{base}/api/queries", token, {"sql": "SELECT * FROM nowhere"})
fid = json.loads(body)["id"]
for _ in range(200):
    failed = json.loads(http("GET", f"{base}/api/queries/{fid}", token)[2])
    if failed["status"] != "running":
        break
    time.sleep(0.05)
check(failed["status"] == "failed" and "nowhere" in failed["error"]["message"], "failed query's error")

# The OpenAPI document lists the routes.
status, _, body = http("GET", f"{base}/api/openapi.json", token)
doc = json.loads(body)
check(status == 200 and {"/api/sql", "/api/queries", "/api/queries/{id}/results"} <= set(doc["paths"]),
      "OpenAPI document")
print("http: all checks passed")
