"""Limits of a server started with --query-timeout 3 --memory-per-query-mb 32
--max-concurrent-queries 2 --queue-timeout 1: a query past its deadline, a query past its
memory that cannot spill, a sort that spills and succeeds, a query refused when all slots
stay busy — each a precise error a user can act on."""

import json
import threading

import pyarrow as pa

from common import ENDLESS, args, check, http, wait_until_idle

flight, base, token = args()
sql_url = f"{base}/api/sql"

status, _, body = http("POST", sql_url, token, f"SELECT count(*) FROM ({ENDLESS})")
err = json.loads(body)
check(status == 504 and err["code"] == "deadline_exceeded" and "3 s" in err["error"], f"timeout: {err}")

status, _, body = http("POST", sql_url, token,
                       "SELECT count(*) FROM generate_series(1, 6000000) a JOIN generate_series(1, 6000000) b "
                       "ON a.value = b.value")
err = json.loads(body)
check(status == 429 and err["code"] == "resource_exhausted" and "memory" in err["error"], f"memory: {err}")

status, _, body = http("POST", sql_url, token, "SELECT value FROM generate_series(1, 3000000) ORDER BY value DESC",
                       {"Accept": "application/vnd.apache.arrow.stream"})
check(status == 200, "spilling sort answered" if status == 200 else f"spilling sort: {status} {body[:300]!r}")
t = pa.ipc.open_stream(body).read_all()
check(t.num_rows == 3_000_000 and t.column(0)[0].as_py() == 3_000_000, "a sort larger than the limit spills and succeeds")

# Two slots kept busy; a third query waits 1 s and is refused.
busy = [threading.Thread(target=http, args=("POST", sql_url, token, f"SELECT count(*) FROM ({ENDLESS})"))
        for _ in range(2)]
for b in busy:
    b.start()
import time  # noqa: E402

for _ in range(100):
    if len(json.loads(http("GET", f"{base}/api/running", token)[2])["running"]) == 2:
        break
    time.sleep(0.05)
status, _, body = http("POST", sql_url, token, "SELECT 1")
err = json.loads(body)
check(status == 429 and "maximum of 2" in err["error"], f"queue full: {err}")
for b in busy:
    b.join()
wait_until_idle(base, token)
status, _, _ = http("POST", sql_url, token, "SELECT 1")
check(status == 200, "slots free again")
print("limits: all checks passed")
