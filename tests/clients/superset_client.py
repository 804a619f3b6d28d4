"""Apache Superset, installed with dyntag's engine spec (clients/python/dyntag-superset), against
a real `dyntag serve`: a fresh Superset with SQLite metadata is started here, the dyntag database
is registered over its REST API with a read-only login, SQL Lab runs queries (joins, dt_score,
SHOW TAG GROUPS) and refuses dyntag's mutating statements while "Allow DML" is off, a dataset is
made on a dt_ table and charts are fetched: a time series with a day grain and a bar chart.

Runs with the Python of .venv-superset. Arguments: FLIGHT_URL HTTP_URL TOKEN WORK_DIR USER USER_TOKEN
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

from common import check

flight, http_url, token, work, user, user_token = sys.argv[1:7]
superset = os.path.join(os.path.dirname(sys.executable), "superset")
os.makedirs(work, exist_ok=True)
config = os.path.join(work, "superset_config.py")
with open(config, "w") as f:
    f.write(f"""
SECRET_KEY = "dyntag-superset-test-0123456789abcdefghijklmnopqrstuvwxyz"
SQLALCHEMY_DATABASE_URI = "sqlite:///{work}/superset.db"
WTF_CSRF_ENABLED = False
TALISMAN_ENABLED = False
RATELIMIT_ENABLED = False
""")
env = dict(os.environ, SUPERSET_CONFIG_PATH=config, FLASK_APP="superset", SUPERSET_LOAD_EXAMPLES="no")


def run(*args):
    out = subprocess.run([superset, *args], env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise AssertionError(f"superset {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")


t0 = time.time()
run("db", "upgrade")
run("fab", "create-admin", "--username", "admin", "--firstname", "A", "--lastname", "D",
    "--email", "admin@example.com", "--password", "admin")
run("init")
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
log = open(os.path.join(work, "superset.log"), "w")
server = subprocess.Popen([superset, "run", "-h", "127.0.0.1", "-p", str(port), "--with-threads"],
                          env=env, stdout=log, stderr=subprocess.STDOUT)
base = f"http://127.0.0.1:{port}"


def call(method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"raw": raw[:500].decode(errors="replace")}


try:
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError):
            pass
        if time.time() > deadline or server.poll() is not None:
            raise AssertionError("Superset did not start: " + open(os.path.join(work, "superset.log")).read()[-3000:])
        time.sleep(0.5)
    check(True, f"Superset is up in {time.time() - t0:.0f} s")

    status, body = call("POST", "/api/v1/security/login",
                        {"username": "admin", "password": "admin", "provider": "db", "refresh": True})
    check(status == 200, f"signed in to Superset ({status})")
    auth = body["access_token"]

    status, body = call("GET", "/api/v1/database/available/", token=auth)
    entries = body.get("databases", body) if isinstance(body, dict) else body
    check(isinstance(entries, list), f"the available engines: {json.dumps(body)[:300]}")
    engines = {e.get("engine"): e for e in entries}
    check("datafusion" in engines and engines["datafusion"]["name"] == "dyntag",
          "dyntag's engine spec is found through its entry point")

    host = urlparse(flight)
    uri = f"datafusion+flightsql://{user}:{user_token}@{host.hostname}:{host.port}?insecure=true"
    status, body = call("POST", "/api/v1/database/test_connection/", {"sqlalchemy_uri": uri}, auth)
    check(status == 200, f"the connection test passes with datafusion+flightsql:// ({status} {body})")
    status, body = call("POST", "/api/v1/database/test_connection/",
                        {"sqlalchemy_uri": uri.replace(user_token, "wrong-token-0123456789")}, auth)
    check(status == 422 and "did not accept the user name and token" in json.dumps(body),
          f"a wrong token is a readable error: {json.dumps(body)[:300]}")
    status, body = call("POST", "/api/v1/database/", {"database_name": "dyntag", "sqlalchemy_uri": uri,
                                                      "expose_in_sqllab": True, "allow_dml": False}, auth)
    check(status == 201, f"the database is registered ({status} {body})")
    db = body["id"]
    check(user_token not in json.dumps(body), "Superset answers the URI without the token")

    status, body = call("GET", f"/api/v1/database/{db}/schemas/", token=auth)
    check("demo" in body["result"], f"schemas: {body['result']}")
    status, body = call("GET", f"/api/v1/database/{db}/tables/?q=(schema_name:demo)", token=auth)
    tables = [t["value"] for t in body["result"]]
    check("dt_subjects_visual" in tables and "coactive_videos" in tables, f"tables: {tables}")
    status, body = call("GET", f"/api/v1/database/{db}/table_metadata/?name=coactive_table_adv&schema=demo",
                        token=auth)
    kinds = {c["name"]: c["type"] for c in body["columns"]}
    check(kinds.get("embedding", "").startswith(("ARRAY", "FLOAT[]")) and kinds.get("coactive_image_id") in ("TEXT", "VARCHAR"),
          f"column types: embedding {kinds.get('embedding')} (not BLOB), ids {kinds.get('coactive_image_id')}")

    def sqllab(sql):
        return call("POST", "/api/v1/sqllab/execute/", {"database_id": db, "sql": sql, "runAsync": False,
                                                        "queryLimit": 1000, "schema": "demo", "client_id": f"c{time.time_ns() % 10**9}"}, auth)

    status, body = sqllab("SELECT d.tag_name, count(*) AS n FROM dt_subjects_visual d "
                          "JOIN coactive_table t USING (coactive_image_id) WHERE d.threshold_decision GROUP BY 1")
    check(status == 200 and len(body["data"]) > 3, f"SQL Lab runs a join ({status})")
    status, body = sqllab("SELECT coactive_image_id, dt_score(embedding, 'subjects', 'birds') AS s "
                          "FROM coactive_table_adv ORDER BY s DESC LIMIT 3")
    check(status == 200 and len(body["data"]) == 3, f"SQL Lab scores on the fly ({status} {json.dumps(body)[:600]})")
    status, body = sqllab("SHOW TAG GROUPS")
    check(status == 200 and body["data"][0].get("group_name") == "Subjects", f"SHOW TAG GROUPS is a read ({status})")
    for statement in ["DROP TAG GROUP subjects", "CREATE USER mallory", "PUBLISH TAG GROUP subjects",
                      "ALTER TAG 'birds' IN GROUP subjects SET THRESHOLD 0.9", "GRANT ADMIN ON DATASET demo TO bi"]:
        status, body = sqllab(statement)
        kinds = [e.get("error_type") for e in body.get("errors", [])]
        check(status >= 400 and "DML_NOT_ALLOWED_ERROR" in kinds,
              f"without Allow DML, Superset refuses {statement.split(' (')[0][:30]!r}: {kinds}")
    status, body = sqllab("SELEC 1")
    check(status >= 400 and "syntax" in json.dumps(body).lower(), "a syntax error reads as one")

    # A physical dataset on a dt_ table: a bar chart of tagged keyframes per tag.
    status, body = call("POST", "/api/v1/dataset/", {"database": db, "schema": "demo",
                                                     "table_name": "dt_subjects_visual"}, auth)
    check(status == 201, f"a dataset on dt_subjects_visual ({status} {body})")
    bars = body["id"]
    status, body = call("POST", "/api/v1/chart/data", {
        "datasource": {"id": bars, "type": "table"},
        "queries": [{"columns": ["tag_name"], "metrics": ["count"],
                     "filters": [{"col": "threshold_decision", "op": "==", "val": True}],
                     "orderby": [["count", False]], "row_limit": 100}],
    }, auth)
    rows = body["result"][0]["data"] if status == 200 else []
    check(status == 200 and len(rows) > 3 and rows[0]["count"] >= rows[-1]["count"],
          f"a bar chart: tagged keyframes per tag ({status} {json.dumps(body)[:300]})")

    # A virtual dataset over dt_ shots and the videos' air dates: a day-grain time series.
    status, body = call("POST", "/api/v1/dataset/", {
        "database": db, "schema": "demo", "table_name": "tagged_shots_by_air_date",
        "sql": 'SELECT v."AirDate" AS air_date, s.tag_name, s.score FROM dt_subjects_shot s '
               "JOIN coactive_videos v USING (coactive_video_id) WHERE s.threshold_decision"}, auth)
    check(status == 201, f"a dataset on dt_subjects_shot joined with the videos ({status} {body})")
    series = body["id"]
    status, body = call("POST", "/api/v1/chart/data", {
        "datasource": {"id": series, "type": "table"},
        "queries": [{"columns": [{"columnType": "BASE_AXIS", "sqlExpression": "air_date", "label": "air_date",
                                  "expressionType": "SQL", "timeGrain": "P1D"}],
                     "metrics": ["count"],
                     "filters": [{"col": "air_date", "op": "TEMPORAL_RANGE",
                                  "val": "2026-03-01T00:00:00 : 2026-04-01T00:00:00"}],
                     "orderby": [["air_date", True]], "row_limit": 1000}],
        "result_format": "json", "result_type": "full"}, auth)
    result = body["result"][0] if status == 200 else {}
    rows = result.get("data", [])
    check(status == 200 and len(rows) >= 5, f"a time series with a day grain: {len(rows)} days "
                                            f"({status} {json.dumps(body)[:400]})")
    check("date_trunc" in result.get("query", "").lower(), "grouped with date_trunc('day', …)")
    query = result.get("query", "")
    check("DATE '2026-03-01'" in query or "TIMESTAMP '2026-03-01" in query,
          f"bounded with the engine spec's date literals: {query[:400]}")
    print("superset: all checks passed")
finally:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
