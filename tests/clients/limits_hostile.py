"""The server's limits on hostile input, against a server started with
--login-attempts-per-minute 5 --max-statement-kb 4 --max-body-mb 1 --max-json-rows 10:
each refusal is a clear error of its own. Arguments: FLIGHT_URL HTTP_URL TOKEN.
"""

import json

import adbc_driver_flightsql.dbapi as flight_sql
from adbc_driver_flightsql import DatabaseOptions

from common import args, check, expect_error, http

flight, base, token = args()


def sql(text, accept="application/json", bearer=token):
    return http("POST", f"{base}/api/sql", bearer, text, {"Accept": accept})


# A statement longer than the limit.
long = "SELECT 1 AS a -- " + "x" * 5000
status, _, body = sql(long)
check(status == 429 and "the server accepts at most 4096" in json.loads(body)["error"],
      f"an over-long statement over HTTP: {status} {body[:120]}")
conn = flight_sql.connect(flight, db_kwargs={"username": "admin", "password": token}, autocommit=True)
expect_error(lambda: conn.cursor().execute(long), "accepts at most 4096", "ResourceExhausted",
             what="an over-long statement over Flight SQL")

# A body larger than the limit.
status, headers, body = http("POST", f"{base}/api/groups/x/tags/y/evaluation/labels", token,
                             b"a" * (2 << 20), {"Content-Type": "text/csv"})
err = json.loads(body)
check(status == 413 and err["code"] == "resource_exhausted" and "--max-body-mb" in err["error"],
      f"an over-large body: {status} {err}")

# JSON answers hold at most 10 rows; the streaming formats any number.
status, _, body = sql("SELECT value FROM generate_series(1, 100)")
err = json.loads(body)
check(status == 429 and "more than 10 rows" in err["error"] and "ndjson" in err["error"],
      f"a JSON answer past the row limit names the way out: {err}")
status, _, body = sql("SELECT value FROM generate_series(1, 100)", accept="application/x-ndjson")
check(status == 200 and len(body.splitlines()) == 100, "the same rows as NDJSON")
status, _, body = sql("SELECT value FROM generate_series(1, 5)")
check(status == 200 and json.loads(body)["row_count"] == 5, "a small JSON answer")

# Failed sign-ins: five a minute from one address; past them, wrong credentials are refused
# as too many, while a valid token still signs in (nobody is locked out by another's guesses).
for i in range(5):
    status, _, body = sql("SELECT 1", bearer=f"wrong-token-{i:016d}")
    check(status == 401, f"wrong token {i + 1} -> 401")
status, _, body = sql("SELECT 1", bearer="wrong-token-again-0123")
err = json.loads(body)
check(status == 429 and "too many failed sign-ins" in err["error"],
      f"past the limit a wrong token is refused as too many: {status} {err}")
status, _, body = sql("SELECT 1")
check(status == 200, f"the right token still signs in: {status}")


def wrong_handshake():
    c = flight_sql.connect(flight, db_kwargs={"username": "admin", "password": "wrong-password"})
    c.cursor().execute("SELECT 1")


expect_error(wrong_handshake, "too many failed sign-ins", what="and over Flight SQL")
ok = flight_sql.connect(flight, db_kwargs={DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}"},
                        autocommit=True)
cur = ok.cursor()
cur.execute("SELECT 1")
check(cur.fetchall() == [(1,)], "a valid token over Flight SQL too")
print("hostile limits: all checks passed")
