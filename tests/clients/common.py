"""Shared by the client tests: where the server is, and small assertion helpers.

Each script takes FLIGHT_URL HTTP_URL TOKEN on the command line (the Rust test harness starts
`dyntag serve` on free ports and passes what it printed), prints what it checked, and exits
non-zero on the first failure.
"""

import json
import sys
import time
import urllib.error
import urllib.request


def args():
    if len(sys.argv) < 4:
        sys.exit(f"usage: {sys.argv[0]} FLIGHT_URL HTTP_URL TOKEN [...]")
    return sys.argv[1], sys.argv[2], sys.argv[3]


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok  {what}", flush=True)


def expect_error(fn, *needles, what):
    """Runs fn, which must raise; the error text must contain every needle (any case)."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - any client error type
        text = f"{type(e).__name__}: {e}"
        missing = [n for n in needles if n.lower() not in text.lower()]
        if missing:
            raise AssertionError(f"{what}: error lacks {missing}: {text}") from e
        print(f"ok  {what} -> {text.splitlines()[0][:160]}", flush=True)
        return text
    raise AssertionError(f"{what}: no error raised")


def http(method, url, token=None, body=None, headers=None):
    """(status, headers, body bytes) of an HTTP call; never raises on HTTP errors."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = body
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        data = body.encode()
        h.setdefault("Content-Type", "text/plain")
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def running(http_url, token):
    status, _, body = http("GET", f"{http_url}/api/running", token)
    assert status == 200, body
    return json.loads(body)


def wait_until_idle(http_url, token, seconds=10.0):
    """Waits until the caller has no running statement; the last /api/running answer."""
    deadline = time.time() + seconds
    while True:
        r = running(http_url, token)
        if not r["running"] or time.time() > deadline:
            return r
        time.sleep(0.1)

# A statement that produces rows for minutes: cancelled or timed out midway in the tests.
ENDLESS = "SELECT value, value * 2 AS twice FROM generate_series(1, 2000000000)"

JOIN = """
SELECT d.tag_name, t.coactive_video_id, t.keyframe_time_ms, t."SeriesName", t."EpisodeName", d.score
FROM dt_subjects_visual d JOIN coactive_table t USING (coactive_image_id)
WHERE d.threshold_decision AND t.coactive_video_id IS NOT NULL
ORDER BY d.score DESC LIMIT 20
"""


def adbc_connect(url, token):
    """An ADBC Flight SQL connection to `url` as the admin (the token as password)."""
    import adbc_driver_flightsql.dbapi as flight_sql

    return flight_sql.connect(url, db_kwargs={"username": "admin", "password": token},
                              autocommit=True)


def sorted_rows(conn, sql):
    """The rows `sql` returns on `conn`, as sorted tuples (a cluster may order them otherwise)."""
    cur = conn.cursor()
    cur.execute(sql)
    table = cur.fetch_arrow_table()
    cur.close()
    return sorted(tuple(r.values()) for r in table.to_pylist())
