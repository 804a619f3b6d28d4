"""Reads the Delta tables `dyntag export --format delta` wrote, with the `deltalake` package
(delta-rs, as Python users and DuckDB's delta extension read them): the scores of every
version by time travel, the same rows as dyntag's dt_version, and the asset table.

Arguments: DATA_ROOT EXPECTED_DIR (CSV files dyntag wrote: visual-1.csv, visual-2.csv,
coactive_table.csv)
"""

import csv
import os
import sys

from deltalake import DeltaTable

root, expected_dir = sys.argv[1], sys.argv[2]


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok  {what}", flush=True)


def expected(name):
    with open(f"{expected_dir}/{name}.csv", newline="") as f:
        return list(csv.DictReader(f))


def scores(rows):
    return sorted((r["coactive_image_id"], r["tag_name"], float(r["score"]),
                   str(r["threshold_decision"]).lower() == "true") for r in rows)


def same(a, b):
    return len(a) == len(b) and all(
        x[0] == y[0] and x[1] == y[1] and abs(x[2] - y[2]) < 1e-9 and x[3] == y[3]
        for x, y in zip(a, b))


visual = DeltaTable(f"{root}/delta/demo/dt_subjects_visual")
check(visual.version() == 1, f"two commits, one per version of the group (at {visual.version()})")
history = {h["version"]: h for h in visual.history()}
for delta_version, group_version in [(0, 1), (1, 2)]:
    check(history[delta_version]["dyntag"]["group_version"] == group_version,
          f"commit {delta_version} names group version {group_version}")
    table = DeltaTable(f"{root}/delta/demo/dt_subjects_visual", version=delta_version)
    got = scores(table.to_pyarrow_table().to_pylist())
    want = scores(expected(f"visual-{group_version}"))
    check(len(got) > 0 and same(got, want),
          f"time travel to version {delta_version}: {len(got)} rows, as dt_version(.., {group_version})")

latest = scores(visual.to_pyarrow_table().to_pylist())
check(same(latest, scores(expected("visual-2"))), "the latest version is the current scores")

for kind in ["transcript", "shot", "video"]:
    t = DeltaTable(f"{root}/delta/demo/dt_subjects_{kind}")
    check(t.version() == 1 and t.to_pyarrow_table().num_rows > 0, f"dt_subjects_{kind} has both versions")

assets = DeltaTable(f"{root}/delta/demo/coactive_table").to_pyarrow_table()
want = expected("coactive_table")
check(assets.num_rows == len(want) and "SeriesName" in assets.column_names
      and "embedding" not in assets.column_names,
      f"coactive_table: {assets.num_rows} rows with their metadata, no embeddings")
check(sorted(assets.column("coactive_image_id").to_pylist())
      == sorted(r["coactive_image_id"] for r in want), "the same images")
print("delta: all checks passed", flush=True)
# Leave without the interpreter's teardown: pyarrow's and delta-rs's thread pools, torn down
# together at exit, now and then abort the process ("terminate called without an active
# exception", seen once in CI).
os._exit(0)
