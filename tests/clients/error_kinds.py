"""Every kind of error, as Flight SQL (the ADBC driver) and HTTP clients see it: the status
each protocol gives follows from the kind (one classification, `src/server/errors.rs`), and no
message carries a path of the server.

Arguments: FLIGHT_URL HTTP_URL ADMIN_TOKEN READ_ONLY_TOKEN. The server holds dataset `news`
with an unpublished tag group `topics` (tags football, cooking; at revision 2) and `archive`, and its LLM
endpoint (DYNTAG_LLM_URL) points at a port where nothing listens.
"""

import json
import sys

import adbc_driver_flightsql.dbapi as flight_sql
from adbc_driver_flightsql import DatabaseOptions

from common import check, expect_error, http

flight, base, admin, read_only = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]


def connect(token):
    return flight_sql.connect(flight, db_kwargs={
        DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}",
    })


def run_flight(token, sql):
    with connect(token) as conn:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall()


def run_http(token, sql):
    status, _, body = http("POST", f"{base}/api/sql", token, sql)
    return status, json.loads(body)


# (kind, SQL, token, gRPC status name as the driver prints it, HTTP status, JSON code, words
# of the message)
CASES = [
    ("a syntax error", "SELEC 1", admin, "InvalidArgument", 400, "invalid_argument", "syntax"),
    ("an unknown tag group", "ALTER TAG 'x' IN GROUP nosuch SET THRESHOLD 0.5", admin,
     "NotFound", 404, "not_found", "tag group 'nosuch' not found"),
    ("a group that exists", "CREATE TAG GROUP topics ON DATASET news TAGS ('a')", admin,
     "AlreadyExists", 409, "already_exists", "already exists"),
    ("an edit of a stale revision",
     "ALTER TAG 'football' IN GROUP topics SET THRESHOLD 0.6 AT REVISION 1", admin,
     "Aborted", 409, "conflict", "changed concurrently"),
    ("applying an unpublished group", "APPLY TAG GROUP topics TO DATASET archive", admin,
     "FailedPrecondition", 409, "failed_precondition", "is secret"),
    ("a read-only token editing", "CREATE TAG GROUP other ON DATASET news TAGS ('a')", read_only,
     "PermissionDenied", 403, "permission_denied", "permission denied"),
    ("a wrong token", "SELECT 1", "not-a-token", "Unauthenticated", 401, "unauthenticated",
     "token"),
    ("the LLM endpoint down", "SUGGEST PROMPTS FOR TAG 'football' IN GROUP topics", admin,
     "Unavailable", 502, "unavailable", "LLM endpoint"),
]

for what, sql, token, grpc, status, code, words in CASES:
    text = expect_error(lambda: run_flight(token, sql), grpc, words, what=f"Flight SQL: {what}")
    check("/tmp/" not in text and "/root" not in text, f"Flight SQL: {what} names no server path")
    got, body = run_http(token, sql)
    check(got == status and body.get("code") == code and words.lower() in body["error"].lower(),
          f"HTTP: {what} -> {got} {body.get('code')} (expected {status} {code}): {body.get('error', '')[:120]}")
    check("/tmp/" not in body["error"] and "/root" not in body["error"],
          f"HTTP: {what} names no server path")

# Nothing of the refused statements was stored: topics keeps its two tags, and football the
# threshold of revision 2.
status, body = run_http(admin, "SHOW TAGS IN GROUP topics")
tags = {r["tag_name"]: r for r in body["rows"]}
check(status == 200 and sorted(tags) == ["cooking", "football"]
      and abs(tags["football"]["threshold"] - 0.55) < 1e-9,
      "the refused statements changed nothing")
print("error kinds: all checks passed", flush=True)
