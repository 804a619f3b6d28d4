"""The soak client of `dyntag bench soak`: CLIENTS concurrent clients for SECONDS against the
demo dataset while the bench kills (`kill -9`) and restarts the server. Half run Flight SQL
queries (ADBC), a quarter HTTP previews, an eighth tag edits (prompts added and dropped,
thresholds set, over HTTP and Flight SQL), an eighth read the dt_ tables for partial
versions and one of them publishes every 30 s.

A connection error while the server is down is a drop: the client reconnects and goes on.
Anything else is an error. An edit counts once acknowledged; at the end every acknowledged
edit must be in the group: added prompts present, dropped ones absent, each tag's threshold
one that was acknowledged for it. Prints one JSON line.

    soak.py FLIGHT_URL HTTP_URL TOKEN SECONDS CLIENTS
"""

import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request

import adbc_driver_flightsql.dbapi as flight_sql

flight, base, token = sys.argv[1], sys.argv[2], sys.argv[3]
seconds = float(sys.argv[4])
clients = int(sys.argv[5])
GROUP = "subjects"

QUERIES = [
    "SELECT d.tag_name, t.coactive_video_id, t.keyframe_time_ms, t.\"SeriesName\", d.score "
    "FROM dt_subjects_visual d JOIN coactive_table t USING (coactive_image_id) "
    "WHERE d.threshold_decision ORDER BY d.score DESC LIMIT 50",
    "SELECT tag_name, count(*) AS n, avg(score) AS mean FROM dt_subjects_visual WHERE threshold_decision GROUP BY 1",
    "SELECT v.\"SeriesName\", s.tag_name, count(*) AS shots FROM dt_subjects_shot s "
    "JOIN coactive_videos v USING (coactive_video_id) WHERE s.threshold_decision GROUP BY 1, 2",
    "SELECT coactive_image_id, dt_score(embedding, 'subjects', 'birds') AS s FROM coactive_table_adv ORDER BY s DESC LIMIT 10",
    "SELECT coactive_video_id, tag_name, score FROM dt_subjects_video WHERE score > 0.3",
    "SHOW TAG GROUPS",
]

lock = threading.Lock()
stats = {"ops": 0, "errors": 0, "drops": 0, "publishes": 0, "partial_reads": 0, "edits": 0}
latencies, first_errors = [], []
added, dropped, drop_attempted, thresholds = set(), set(), set(), {}
deadline = time.time() + seconds


class Drop(Exception):
    """The server could not be reached (it was killed)."""


def is_drop(e):
    text = str(e).lower()
    return any(w in text for w in ["unavailable", "connection refused", "connection reset", "broken pipe",
                                   "eof", "remotedisconnected", "transport", "error reading from server",
                                   "socket closed", "connection aborted", "timed out", "goaway",
                                   "server is shutting down"])


def ok(t0):
    with lock:
        stats["ops"] += 1
        latencies.append((time.perf_counter() - t0) * 1000)


def error(what):
    with lock:
        stats["errors"] += 1
        if len(first_errors) < 10:
            first_errors.append(what[:300])


def drop():
    with lock:
        stats["drops"] += 1
    time.sleep(0.5)


def call(method, path, body=None):
    """(status, JSON) of an HTTP call; raises Drop when the server is unreachable."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{base}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"error": raw[:200].decode(errors="replace")}
    except Exception as e:  # noqa: BLE001 - URLError, ConnectionError, RemoteDisconnected
        raise Drop(str(e)) from e


class Flight:
    """An ADBC connection that reconnects after the server came back."""

    def __init__(self):
        self.conn = None

    def run(self, sql):
        if self.conn is None:
            try:
                self.conn = flight_sql.connect(flight, db_kwargs={"username": "admin", "password": token},
                                               autocommit=True)
            except Exception as e:  # noqa: BLE001 - any driver error
                if is_drop(e):
                    raise Drop(str(e)) from e
                raise
        cur = self.conn.cursor()
        dropped = None
        try:
            cur.execute(sql)
            return cur.fetch_arrow_table()
        except Exception as e:  # noqa: BLE001 - any driver error
            if not is_drop(e):
                raise
            dropped = e
        finally:
            try:
                cur.close()
            except Exception:  # noqa: BLE001 - closing over a dropped connection fails too
                pass
        # The cursor is closed before its connection (the other order makes the driver
        # complain when the cursor is collected).
        self.close()
        raise Drop(str(dropped))

    def close(self):
        try:
            if self.conn is not None:
                self.conn.close()
        except Exception:  # noqa: BLE001
            pass
        self.conn = None


def tags():
    while True:
        try:
            status, g = call("GET", f"/api/groups/{GROUP}")
            if status == 200:
                return g
        except Drop:
            pass
        time.sleep(0.5)


START = tags()["tags"]
TAGS = [t["name"] for t in START]
# A threshold set in a request the kill interrupted may not have committed: a tag whose
# threshold no request acknowledged may still show the one it started with.
INITIAL_THRESHOLDS = {t["name"]: t["threshold"] for t in START}
acked_thresholds = set()


def loop(i, step):
    rnd = random.Random(i)
    while time.time() < deadline:
        t0 = time.perf_counter()
        try:
            step(rnd, t0)
        except Drop:
            drop()
        except Exception as e:  # noqa: BLE001
            error(f"client {i}: {e}")


def queries(i):
    db = Flight()

    def step(rnd, t0):
        db.run(rnd.choice(QUERIES))
        ok(t0)
    loop(i, step)
    db.close()


def previews(i):
    def step(rnd, t0):
        tag = rnd.choice(TAGS)
        status, body = call("GET", f"/api/groups/{GROUP}/tags/{tag.replace(' ', '%20')}/preview?limit=20")
        if status != 200:
            raise RuntimeError(f"preview {status}: {body}")
        ok(t0)
    loop(i, step)


def edits(i):
    db = Flight()
    mine = []
    n = [0]

    def step(rnd, t0):
        tag = rnd.choice(TAGS)
        what = rnd.random()
        if what < 0.5:
            n[0] += 1
            text = f"soak {i} {n[0]}"
            if rnd.random() < 0.5:
                status, body = call("POST", f"/api/groups/{GROUP}/tags/{tag.replace(' ', '%20')}/prompts",
                                    {"text": text, "modality": "visual"})
                if status != 200:
                    raise RuntimeError(f"add prompt {status}: {body}")
            else:
                db.run(f"ALTER TAG '{tag}' IN GROUP {GROUP} ADD PROMPT '{text}' FOR VISUAL")
            with lock:
                added.add((tag, text))
                stats["edits"] += 1
            mine.append((tag, text))
        elif what < 0.75 and mine:
            tag, text = mine.pop(rnd.randrange(len(mine)))
            with lock:
                drop_attempted.add((tag, text))
            db.run(f"ALTER TAG '{tag}' IN GROUP {GROUP} DROP PROMPT '{text}' FOR VISUAL")
            with lock:
                dropped.add((tag, text))
                stats["edits"] += 1
        else:
            value = round(rnd.uniform(0.3, 0.7), 3)
            with lock:
                # Allowed as the final value even unacknowledged (it may have committed).
                thresholds.setdefault(tag, set()).add(value)
            status, body = call("PATCH", f"/api/groups/{GROUP}/tags/{tag.replace(' ', '%20')}", {"threshold": value})
            if status != 200:
                raise RuntimeError(f"threshold {status}: {body}")
            with lock:
                acked_thresholds.add(tag)
                stats["edits"] += 1
        ok(t0)
        time.sleep(0.5)
    loop(i, step)
    db.close()


def readers(i, publisher):
    db = Flight()
    last = [time.time()]
    expected = [None]

    def step(rnd, t0):
        if expected[0] is None:
            expected[0] = db.run("SELECT count(*) AS n FROM coactive_table").column(0)[0].as_py() * len(TAGS)
        if publisher and time.time() - last[0] > 30:
            last[0] = time.time()
            status, body = call("POST", f"/api/groups/{GROUP}/publish", {})
            if status not in (200, 202):
                raise RuntimeError(f"publish {status}: {body}")
            with lock:
                stats["publishes"] += 1
            ok(t0)
            return
        rows = db.run("SELECT group_version, count(*) AS n FROM dt_subjects_visual GROUP BY 1").to_pylist()
        if len(rows) != 1 or rows[0]["n"] != expected[0]:
            with lock:
                stats["partial_reads"] += 1
            raise RuntimeError(f"a partial dt_ table: {rows} (expected one version of {expected[0]} rows)")
        ok(t0)
        time.sleep(0.2)
    loop(i, step)
    db.close()


threads = []
for i in range(clients):
    role = i % 8
    if role < 4:
        target, extra = queries, ()
    elif role < 6:
        target, extra = previews, ()
    elif role == 6:
        target, extra = edits, ()
    else:
        target, extra = readers, (i == 7,)
    threads.append(threading.Thread(target=target, args=(i, *extra)))
for t in threads:
    t.start()
for t in threads:
    t.join()

# Every acknowledged edit is there.
final = tags()
present = {(t["name"], p["text"]) for t in final["tags"] for p in t["prompts"] if p["text"].startswith("soak ")}
lost = sorted((added - drop_attempted) - present)
resurrected = sorted(dropped & present)
wrong_thresholds = sorted(
    t["name"] for t in final["tags"]
    if t["name"] in thresholds and t["threshold"] not in thresholds[t["name"]]
    and not (t["name"] not in acked_thresholds and t["threshold"] == INITIAL_THRESHOLDS.get(t["name"])))
final_thresholds = {t["name"]: t["threshold"] for t in final["tags"]}
latencies.sort()


def pct(p):
    return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 1) if latencies else None


print(json.dumps({
    "clients": clients, "seconds": seconds, **stats,
    "p50_ms": pct(50), "p99_ms": pct(99),
    "edits_checked": len(added) + len(dropped) + len(thresholds),
    "lost_edits": len(lost) + len(resurrected) + len(wrong_thresholds),
    "lost_examples": (lost + resurrected)[:5] + [
        f"{name}: threshold {final_thresholds[name]} not among {sorted(thresholds[name])} "
        f"(started at {INITIAL_THRESHOLDS.get(name)}, acknowledged: {name in acked_thresholds})"
        for name in wrong_thresholds[:5]],
    "first_errors": first_errors,
}))
