"""A bounded load test on loopback: CLIENTS concurrent clients (three in four over Flight SQL
with ADBC, one in four over HTTP) run a mix of queries for SECONDS. Prints one JSON line:
queries run, failures (with the first few errors), p50/p99 latency in ms.

    load.py FLIGHT_URL HTTP_URL TOKEN [SECONDS] [CLIENTS]
"""

import json
import random
import sys
import threading
import time

import adbc_driver_flightsql.dbapi as flight_sql

from common import JOIN, args, http

flight, base, token = args()
seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
clients = int(sys.argv[5]) if len(sys.argv) > 5 else 32

MIX = [
    JOIN,
    "SELECT tag_name, count(*) AS n, avg(score) AS mean FROM dt_subjects_visual WHERE threshold_decision GROUP BY 1 ORDER BY 2 DESC",
    "SELECT v.\"SeriesName\", s.tag_name, count(*) AS shots FROM dt_subjects_shot s "
    "JOIN coactive_videos v USING (coactive_video_id) WHERE s.threshold_decision GROUP BY 1, 2",
    "SELECT coactive_image_id, dt_score(embedding, 'subjects', 'birds') AS s FROM coactive_table_adv ORDER BY s DESC LIMIT 10",
    "SELECT coactive_video_id, tag_name, score FROM dt_subjects_video WHERE score > 0.3",
    "SELECT * FROM dt_subjects_transcript WHERE tag_name = 'music' ORDER BY score DESC LIMIT 5",
    "SHOW TAG GROUPS",
]

lat, errors = [], []
lock = threading.Lock()
deadline = time.time() + seconds


def record(t0, err=None):
    with lock:
        if err is None:
            lat.append((time.perf_counter() - t0) * 1000)
        else:
            errors.append(err)


def flight_client(i):
    rnd = random.Random(i)
    conn = flight_sql.connect(flight, db_kwargs={"username": "admin", "password": token}, autocommit=True)
    cur = conn.cursor()
    while time.time() < deadline:
        sql = rnd.choice(MIX)
        t0 = time.perf_counter()
        try:
            cur.execute(sql)
            cur.fetch_arrow_table()
            record(t0)
        except Exception as e:  # noqa: BLE001
            record(t0, f"flight: {sql[:40]}: {e}")
    conn.close()


def http_client(i):
    rnd = random.Random(1000 + i)
    while time.time() < deadline:
        sql = rnd.choice(MIX)
        t0 = time.perf_counter()
        status, _, body = http("POST", f"{base}/api/sql", token, sql,
                               {"Accept": "application/vnd.apache.arrow.stream"})
        record(t0, None if status == 200 else f"http {status}: {body[:200]!r}")


threads = [threading.Thread(target=http_client if i % 4 == 3 else flight_client, args=(i,))
           for i in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
lat.sort()


def pct(p):
    return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))], 1) if lat else None


print(json.dumps({"clients": clients, "seconds": seconds, "queries": len(lat) + len(errors),
                  "failed": len(errors), "errors": errors[:5], "p50_ms": pct(50), "p99_ms": pct(99),
                  "queries_per_s": round(len(lat) / seconds, 1)}))
