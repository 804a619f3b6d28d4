"""Every attack of the security issue, as a viewer, an editor, a read-only token, no token and
a wrong token, over Flight SQL (the ADBC driver) and HTTP: the exact refusal, no file
written anywhere, nothing stored changed; then what remote callers may do (sessions per
connection, session settings, labels files under files/ or sent in the request, the audit
table).

Arguments: FLIGHT_URL HTTP_URL ADMIN_TOKEN DATA_DIR CANARY_DIR VIEWER_TOKEN EDITOR_TOKEN
READ_ONLY_TOKEN (the editor's read-only token).
"""

import hashlib
import json
import os
import sys

import adbc_driver_flightsql.dbapi as flight_sql
from adbc_driver_flightsql import DatabaseOptions

from common import check, expect_error, http

flight, base, admin_token = sys.argv[1], sys.argv[2], sys.argv[3]
data, canary = sys.argv[4], sys.argv[5]
viewer_token, editor_token, ro_token = sys.argv[6], sys.argv[7], sys.argv[8]


def fingerprint():
    """Every stored file but the audit trail (which records the attempts), with its hash."""
    out = {}
    for root, _, files in os.walk(data):
        rel = os.path.relpath(root, data)
        if rel == "audit" or rel.startswith("audit" + os.sep):
            continue
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, data)] = hashlib.sha256(fh.read()).hexdigest()
    return out


DF_DENIED = "permission denied"
FILES = "is a server-side file access statement"
TABLES = "is a data definition or change statement"
SETTING = "changes the server beyond this session"

# (what, SQL, the refusal every signed-in caller gets whatever their role)
ANY_ROLE = [
    ("COPY to a path of the host", f"COPY (SELECT 'x' AS a) TO '{canary}/copy.csv' STORED AS CSV", "COPY " + FILES),
    ("COPY into the data root", f"COPY (SELECT 'x' AS a) TO '{data}/datasets/news/evil.csv' STORED AS CSV", "COPY " + FILES),
    ("COPY a dt_ table out", f"COPY dt_topics_visual TO '{canary}/scores.parquet' STORED AS PARQUET", "COPY " + FILES),
    ("EXPLAIN of a COPY", f"EXPLAIN COPY (SELECT 1) TO '{canary}/explain.csv' STORED AS CSV", "COPY " + FILES),
    ("CREATE EXTERNAL TABLE on /etc", "CREATE EXTERNAL TABLE leak STORED AS CSV LOCATION '/etc/hostname'",
     "CREATE EXTERNAL TABLE " + FILES),
    ("INSERT", "INSERT INTO coactive_videos (coactive_video_id) VALUES ('x')", "INSERT INTO " + TABLES),
    ("DROP TABLE", "DROP TABLE coactive_table", "DROP TABLE " + TABLES),
    ("CREATE TABLE AS", "CREATE TABLE t AS SELECT 1 AS a", "CREATE TABLE " + TABLES),
    ("CREATE VIEW", "CREATE VIEW v AS SELECT 1 AS a", "CREATE VIEW " + TABLES),
    ("DELETE", "DELETE FROM coactive_table", "DELETE FROM " + TABLES),
    ("SET the spill directory", f"SET datafusion.runtime.temp_directory = '{canary}'",
     "SET datafusion.runtime.temp_directory " + SETTING),
    ("SET the memory limit", "SET datafusion.runtime.memory_limit = '100G'", "SET datafusion.runtime.memory_limit " + SETTING),
    ("SET the catalog location", f"SET datafusion.catalog.location = '{canary}'", "SET datafusion.catalog.location " + SETTING),
    ("act as another user", "SET SESSION AUTHORIZATION editor", "SET SESSION AUTHORIZATION is for `dyntag sql`"),
]

LABELS_HOST = "LABEL EVALUATION OF TAG 'football' IN GROUP topics FROM FILE '/etc/passwd'"
LABELS_UP = "LABEL EVALUATION OF TAG 'football' IN GROUP topics FROM FILE '../access/_log/0000000001.json'"
LABELS_ABS_DATA = f"LABEL EVALUATION OF TAG 'football' IN GROUP topics FROM FILE '{data}/files/labels.csv'"
ALTER = "ALTER TAG 'football' IN GROUP topics SET THRESHOLD 0.9"
DROP_GROUP = "DROP TAG GROUP topics"
CREATE_USER = "CREATE USER mallory ORG ADMIN"
GRANT = "GRANT ADMIN ON DATASET news TO viewer"
NOT_UNDER_FILES = "is not a file under the data root's files/ folder"
READ_ONLY = "which a read-only login may not run"

# identity -> (statement, refusal) beyond ANY_ROLE
BY_ROLE = {
    "viewer": [
        (LABELS_HOST, "LABEL EVALUATION (a tag edit statement) on tag group 'Topics' needs the editor role on dataset 'news' (you are a viewer there)"),
        (LABELS_UP, "LABEL EVALUATION (a tag edit statement) on tag group 'Topics' needs the editor role on dataset 'news'"),
        (ALTER, "ALTER TAG (a tag edit statement) on tag group 'Topics' needs the editor role on dataset 'news' (you are a viewer there)"),
        (DROP_GROUP, "DROP TAG GROUP (a tag edit statement) on tag group 'Topics' needs the editor role"),
        (CREATE_USER, "CREATE USER (an admin statement) needs the organisation admin role"),
        (GRANT, "GRANT (an admin statement) needs the admin role on dataset 'news' (you are a viewer there)"),
    ],
    "editor": [
        (LABELS_HOST, "'/etc/passwd' " + NOT_UNDER_FILES),
        (LABELS_UP, NOT_UNDER_FILES),
        (LABELS_ABS_DATA, NOT_UNDER_FILES),
        (CREATE_USER, "CREATE USER (an admin statement) needs the organisation admin role"),
        (GRANT, "GRANT (an admin statement) needs the admin role on dataset 'news' (you are an editor there)"),
    ],
    "read-only": [
        (LABELS_HOST, "LABEL EVALUATION is a tag edit statement, " + READ_ONLY),
        (ALTER, "ALTER TAG is a tag edit statement, " + READ_ONLY),
        (DROP_GROUP, "DROP TAG GROUP is a tag edit statement, " + READ_ONLY),
        (CREATE_USER, "CREATE USER is an admin statement, " + READ_ONLY),
        (GRANT, "GRANT is an admin statement, " + READ_ONLY),
        ("CREATE TOKEN FOR USER editor", "CREATE TOKEN is an admin statement, " + READ_ONLY),
    ],
}

CREDENTIALS = {
    "viewer": ("viewer", viewer_token),
    "editor": ("editor", editor_token),
    "read-only": ("editor", ro_token),
}


def adbc(user=None, password=None, bearer=None):
    kwargs = {}
    if user is not None:
        kwargs = {"username": user, "password": password}
    if bearer is not None:
        kwargs = {DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {bearer}"}
    return flight_sql.connect(flight, db_kwargs=kwargs, autocommit=True)


def run_flight(conn, sql):
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchall()


def http_sql(token, sql, session=None):
    headers = {"X-Dyntag-Session": session} if session else {}
    status, _, body = http("POST", f"{base}/api/sql", token, sql, headers)
    return status, json.loads(body) if body.startswith(b"{") else body


before = fingerprint()
check(len(before) > 10, f"the data root holds {len(before)} files before the attacks")

# Signed in: the exact refusal over both protocols, as a permission error.
for who, (user, token) in CREDENTIALS.items():
    conn = adbc(user, token)
    attacks = [(sql, refusal) for _, sql, refusal in ANY_ROLE] + BY_ROLE[who]
    for sql, refusal in attacks:
        expect_error(lambda: run_flight(conn, sql), DF_DENIED, refusal, "PermissionDenied",
                     what=f"{who} over Flight SQL: {sql[:60]}")
        status, body = http_sql(token, sql)
        check(status == 403 and body["code"] == "permission_denied" and refusal.lower() in body["error"].lower(),
              f"{who} over HTTP: {sql[:60]} -> 403 {body}")
    conn.close()

# Not signed in, or with a wrong token: nothing is even looked at.
for sql in [ANY_ROLE[0][1], ANY_ROLE[4][1], LABELS_HOST, ALTER]:
    status, body = http_sql(None, sql)
    check(status == 401 and body["code"] == "unauthenticated", f"no token over HTTP: {sql[:50]} -> 401")
    status, body = http_sql("wrong-token-0123456789", sql)
    check(status == 401 and body["code"] == "unauthenticated", f"a wrong token over HTTP: {sql[:50]} -> 401")
    expect_error(lambda: run_flight(adbc(bearer="wrong-token-0123456789"), sql), "unauthenticated",
                 what=f"a wrong bearer token over Flight SQL: {sql[:50]}")
    expect_error(lambda: run_flight(adbc("editor", "wrong-password"), sql), "unauthenticated",
                 what=f"a wrong password over Flight SQL: {sql[:50]}")
expect_error(lambda: run_flight(adbc(), "SELECT 1"), "unauthenticated", what="no credentials over Flight SQL")

# The HTTP lifecycle route for labels files: the same rule.
route = f"{base}/api/groups/topics/tags/football/evaluation/labels"
status, _, body = http("POST", route, editor_token, {"file": "/etc/passwd"})
first = json.loads(body)
status2, _, body2 = http("POST", route, editor_token, {"file": "/etc/no-such-file"})
second = json.loads(body2)
check(status == 403 and status2 == 403 and first["code"] == "permission_denied",
      f"a host path in the labels route is refused: {first}")
check(first["error"].replace("/etc/passwd", "X") == second["error"].replace("/etc/no-such-file", "X"),
      "the refusal says nothing of whether the host file exists")
status, _, body = http("POST", route, viewer_token, "asset_id,tag,label\nx,football,1\n", {"Content-Type": "text/csv"})
check(status == 403 and "needs the editor role" in json.loads(body)["error"], "a viewer cannot upload labels")

# Nothing appeared, nothing changed.
check(os.listdir(canary) == [], f"no file appeared in the canary folder: {os.listdir(canary)}")
after = fingerprint()
added = sorted(set(after) - set(before))
changed = sorted(k for k in before if after.get(k) != before[k])
check(not added and not changed, f"nothing stored changed (added {added}, changed {changed})")

# Sessions belong to connections: two connections with one bearer token.
a, b = adbc(bearer=admin_token), adbc(bearer=admin_token)
check(len(run_flight(a, "SHOW TAG GROUPS")) == 1, "connection A starts in news (one group)")
run_flight(a, "USE archive")
check(len(run_flight(a, "SHOW TAG GROUPS")) == 0, "connection A switched to archive")
check(len(run_flight(b, "SHOW TAG GROUPS")) == 1, "connection B, same token, is still in news")
setting = "SELECT value FROM information_schema.df_settings WHERE name = 'datafusion.execution.time_zone'"
default_tz = run_flight(b, setting)[0][0]
run_flight(a, "SET datafusion.execution.time_zone = '+05:00'")
check(run_flight(a, setting)[0][0] == "+05:00", "a session setting lasts for its connection")
check(run_flight(b, setting)[0][0] == default_tz, "and only for it")
a.close()
b.close()
status, _ = http_sql(admin_token, "USE archive", session="one")
check(status == 200, "USE over an HTTP session")
status, body = http_sql(admin_token, "SHOW TAG GROUPS", session="one")
check(body["row_count"] == 0, "the HTTP session stays in archive")
status, body = http_sql(admin_token, "SHOW TAG GROUPS", session="two")
check(body["row_count"] == 1, "another HTTP session with the same token is still in news")

# What a read-only login may do: queries and SHOWs.
ro = adbc("editor", ro_token)
check(run_flight(ro, "SELECT count(*) FROM dt_topics_visual")[0][0] > 0, "a read-only login queries dt_ tables")
check(len(run_flight(ro, "SHOW TAGS IN GROUP topics")) == 2, "and runs SHOW statements")
expect_error(lambda: run_flight(ro, "SELECT * FROM system.audit"), "not found",
             what="the audit table does not exist for a read-only login")
ro.close()

# Labels files a remote editor may use: under files/, or sent with the request.
status, _, body = http("POST", route, editor_token, {"file": "labels.csv"})
check(status == 200 and "labelled" in json.loads(body)["message"], f"a labels file under files/: {body}")
status, _, body = http("POST", route, editor_token, {"file": "missing.csv"})
check(status == 404 and "under the data root's files/ folder" in json.loads(body)["error"], f"a missing one: {body}")
status, _, body = http("POST", route + "?name=mine.csv", editor_token,
                       "asset_id,tag,label\nkf_foot_1,football,1\nkf_cook_1,football,0\n", {"Content-Type": "text/csv"})
check(status == 200 and "mine.csv" in json.loads(body)["message"], f"a labels file sent as the body: {body}")
status, _, body = http("POST", route, editor_token, {"csv": "asset_id,tag,label\nkf_foot_2,football,yes\n"})
check(status == 200, f"a labels file sent as JSON: {body}")
status, _, body = http("POST", route, editor_token, "PAR1 not parquet", {"Content-Type": "application/vnd.apache.parquet"})
check(status == 400 and "not a readable Parquet file" in json.loads(body)["error"], f"a corrupt upload is named: {body}")
editor = adbc("editor", editor_token)
run_flight(editor, "LABEL EVALUATION OF TAG 'football' IN GROUP topics FROM FILE 'labels.csv'")
editor.close()

# The audit trail: organisation admins see every tag and access statement, refusals too.
admin = adbc("admin", admin_token)
rows = run_flight(admin, "SELECT user_name, kind, outcome, statement, error FROM system.audit")
denied = [r for r in rows if r[2] == "denied"]
check(any(r[0] == "viewer" and r[3] == ALTER for r in denied), "the audit trail holds the viewer's refused ALTER TAG")
check(any(r[0] == "editor" and r[1] == "admin" and "CREATE USER" in r[3] for r in denied),
      "and the editor's refused CREATE USER")
check(any(r[0] == "editor" and r[2] == "done" and "LABEL EVALUATION" in r[3] for r in rows),
      "and the labels the editor gave")
check(any(r[0] == "viewer" and r[1] == "server-side file access" and r[2] == "denied" and "COPY" in r[3]
          for r in rows), "refused statements of every kind are audited: the viewer's COPY")
check(not any(r[1] == "read" for r in rows), "queries are logged, not audited")
admin.close()
viewer = adbc("viewer", viewer_token)
expect_error(lambda: run_flight(viewer, "SELECT * FROM system.audit"), "not found",
             what="the audit table does not exist for a viewer")
viewer.close()
print("security: all checks passed")
