"""The ADBC Flight SQL driver against `dyntag serve --cluster` (queries executed by a Ballista
scheduler and two executors) and against a single-process `dyntag serve` over the same data:
the same rows for every query; with one executor killed in the middle of a query, the query
either completes with the single-process answer or fails with a clear error (the cluster's
UNAVAILABLE, or the server's query limit when Ballista stalls the job), and the cluster
answers again afterwards.

Arguments: CLUSTER_FLIGHT_URL HTTP_URL TOKEN SINGLE_FLIGHT_URL EXECUTOR_PID
"""

import os
import signal
import sys
import threading
import time

from common import adbc_connect, args, check, sorted_rows

flight, _http, token = args()
single_flight, executor_pid = sys.argv[4], int(sys.argv[5])

QUERIES = [
    # The tour's joins of dt_ tables with the asset tables.
    """SELECT d.tag_name, t.coactive_video_id, t.keyframe_time_ms, t."SeriesName", round(d.score, 3) AS score
       FROM (SELECT *, row_number() OVER (PARTITION BY tag_name ORDER BY score DESC) AS r
             FROM dt_subjects_visual WHERE coactive_video_id IS NOT NULL) d
       JOIN coactive_table t USING (coactive_image_id) WHERE d.r = 1""",
    """SELECT v."SeriesName", v."EpisodeName", s.tag_name, count(*) AS shots
       FROM dt_subjects_shot s JOIN coactive_videos v USING (coactive_video_id)
       WHERE s.threshold_decision GROUP BY 1, 2, 3""",
    # dt_score over the embeddings, as a filter and as a value.
    """SELECT coactive_image_id, round(dt_score(embedding, 'subjects', 'clocks'), 3) AS s
       FROM coactive_table_adv WHERE dt_score(embedding, 'subjects', 'clocks') > 0.3""",
    """SELECT tag_name, count(*) AS n FROM dt_subjects_visual WHERE threshold_decision GROUP BY 1""",
]

# A query long enough to kill an executor in its middle (~15 s on two cores): every
# image, image, shot and video sharing a tag.
LONG = """SELECT count(*) AS n, sum(c.start_time_ms) AS t
          FROM dt_subjects_visual a JOIN dt_subjects_visual b ON a.tag_name = b.tag_name
          JOIN dt_subjects_shot c ON a.tag_name = c.tag_name
          JOIN dt_subjects_video d ON a.tag_name = d.tag_name"""


cluster, single = adbc_connect(flight, token), adbc_connect(single_flight, token)

# A new version published through the server on the cluster: its scoring job runs as tasks
# of the executors (one per image file: the server has DYNTAG_SCORE_PART_ROWS=1), and the
# single-process server over the same data reads what they wrote.
cur = cluster.cursor()
for sql in ["ALTER TAG 'clocks' IN GROUP subjects ADD PROMPT 'a clock tower' FOR VISUAL",
            "PUBLISH TAG GROUP subjects"]:
    cur.execute(sql)
    cur.fetch_arrow_table()
deadline = time.monotonic() + 180
while True:
    cur.execute("SHOW TAG GROUPS")
    group = next(g for g in cur.fetch_arrow_table().to_pylist() if g["table_prefix"] == "dt_subjects")
    if group["applied_version"] == 2 and group["scoring_status"] in ("scored", "error"):
        break
    check(time.monotonic() < deadline, f"version 2 scored within 180 s: {group}")
    time.sleep(0.5)
check(group["scoring_status"] == "scored", f"version 2 scored on the cluster ({group['error']})")
cur.close()
for tag in ("clocks", "boats"):
    sql = f"""SELECT count(*) AS n, max(abs(d.score - dt_score(t.embedding, 'subjects', '{tag}'))) AS diff,
                     min(d.group_version) AS v
              FROM dt_subjects_visual d JOIN coactive_table_adv t USING (coactive_image_id)
              WHERE d.tag_name = '{tag}'"""
    ((n, diff, v),) = sorted_rows(single, sql)
    ((images,),) = sorted_rows(single, "SELECT count(*) FROM coactive_table_adv")
    check(n == images and v == 2 and diff < 1e-6,
          f"'{tag}': {n} keyframes of version 2 scored on the cluster as in one process (|Δ| ≤ {diff:.1e})")

for sql in QUERIES:
    here, there = sorted_rows(single, sql), sorted_rows(cluster, sql)
    check(len(here) > 0 and here == there,
          f"{len(there)} rows, as in one process: {' '.join(sql.split())[:70]}…")

started = time.monotonic()
expected = sorted_rows(single, LONG)
single_secs = time.monotonic() - started
print(f"the long query: {single_secs:.1f} s in one process")

# Kill one executor while the long query runs on the cluster.
outcome = {}


def long_query():
    try:
        outcome["rows"] = sorted_rows(cluster, LONG)
    except Exception as e:  # noqa: BLE001 - any client error
        outcome["error"] = f"{type(e).__name__}: {e}"


worker = threading.Thread(target=long_query)
worker.start()
time.sleep(min(2.0, single_secs / 4))
os.kill(executor_pid, signal.SIGKILL)
worker.join(timeout=120)
check(not worker.is_alive(), "the query ended after an executor was killed")
if "rows" in outcome:
    check(outcome["rows"] == expected, "it completed on the other executor, with the same rows")
else:
    error = outcome["error"]
    print(f"the query failed: {error[:300]}")
    if error.startswith("OperationalError: TIMEOUT:"):
        # Ballista 55.0.0 sometimes stalls a job whose executor was lost (it rolls back
        # the stages the executor ran and never runs them again): the server's query
        # limit ends it.
        check("the server's limit" in error, "a stalled job ended at the server's query limit")
    else:
        check("the cluster failed to execute the query" in error
              and any(w in error.lower() for w in ("executor", "stage", "connect")),
              "it failed with an error naming the cluster and what broke")
        # The server answers UNAVAILABLE, which the ADBC driver reports as an IO error.
        check(error.startswith("OperationalError: IO:"),
              "the failure is the cluster's (unavailable), not an internal error of the server")

# The cluster still answers, on the executor that is left (once the scheduler has given up
# on the other: 20 s without its heartbeat).
deadline = time.monotonic() + 120
while True:
    try:
        after = sorted_rows(cluster, QUERIES[0])
        break
    except Exception as e:  # noqa: BLE001 - any client error, until the deadline
        if time.monotonic() > deadline:
            raise
        print(f"not yet: {str(e)[:120]}")
        time.sleep(3)
check(after == sorted_rows(single, QUERIES[0]), "after the kill: the same rows")
print("cluster: all checks passed")
