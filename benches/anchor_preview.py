"""Anchor of `dyntag bench preview`: numpy scores N unit vectors of dimension D against one
tag (a matrix-vector product and a sigmoid) and samples a compare preview (20 random
positives, 20 random negatives), as the re-scoring behind a preview does. Prints the median
time of 7 runs in milliseconds as JSON.
"""

import json
import sys
import time

import numpy as np

n, d = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(1)
x = rng.standard_normal((n, d), dtype=np.float32)
x /= np.linalg.norm(x, axis=1, keepdims=True)
c = rng.standard_normal(d).astype(np.float32)
c /= np.linalg.norm(c)
times = []
for _ in range(7):
    t = time.perf_counter()
    s = 1.0 / (1.0 + np.exp(-(20.0 * (x @ c))))
    pos = np.flatnonzero(s >= 0.5)
    neg = np.flatnonzero(s < 0.5)
    pick = np.concatenate([rng.choice(pos, min(20, len(pos)), replace=False),
                           rng.choice(neg, min(20, len(neg)), replace=False)])
    _ = s[pick]
    times.append((time.perf_counter() - t) * 1000)
print(json.dumps({"median_ms": sorted(times)[len(times) // 2]}))
