#!/usr/bin/env python3
"""Add real photographs to the sample library: a few photographs of sample-data/photos (made
by build_photo_set.py) as images of the library's categories, and one episode made of
photographs (real frames, a slow zoom into each), with its transcript, metadata and truth.

Run after build_sample_library.py and build_photo_set.py (build_sample_library.py runs it at
its end when sample-data/photos exists); it replaces what an earlier run of it added:

- library/photos/photo-<category>-<n>.jpg and their rows in library/image_metadata.csv;
- library/videos/field-notes-e03-out-and-about.mp4 (+ .vtt) and its rows in
  library/metadata.csv and truth/shots_truth.csv;
- the photographs' rows in truth/labels.csv (one per tag of the library's categories).

Needs: ffmpeg; pip install pillow numpy.

    python3 sample-data/scripts/library_photos.py
"""

import csv
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from episode import FPS, H, W, Video, write_vtt  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1]
LIBRARY = SAMPLE / "library"
TRUTH = SAMPLE / "truth"
PHOTOS = SAMPLE / "photos"
SEED = 20261207

# library category -> photographs of the photograph set (file names there)
CHOSEN = {
    "birds": ["bird-1.jpg", "bird-5.jpg"],
    "fish": ["fish-1.jpg", "fish-4.jpg"],
    "flowers": ["flower-1.jpg", "flower-2.jpg"],
    "drinks": ["cup-1.jpg", "cup-2.jpg"],
    "sports": ["ball-1.jpg", "ball-2.jpg"],
    "tools": ["hammer-1.jpg", "pliers-1.jpg", "screwdriver-1.jpg"],
    "mammals": ["cat-1.jpg", "bear-1.jpg"],
    "insects": ["butterfly-1.jpg"],
}
SERIES, EPISODE, NUMBER, AIRED = "Field Notes", "Out and About", 3, "2026-03-16"
VIDEO = "field-notes-e03-out-and-about.mp4"
SHOTS = ["birds", "fish", "flowers", "tools", "drinks", "sports", "mammals"]
SENTENCES = {
    "birds": "A real bird this time, photographed in the wild.",
    "fish": "Under the water, a fish swims past the camera.",
    "flowers": "The garden is in bloom: bright petals in the sun.",
    "tools": "In the workshop we reach for a tool from the bench.",
    "drinks": "Time for a drink: a warm cup on the table.",
    "sports": "Grab the ball, the game is about to start.",
    "mammals": "A furry mammal looks straight at us.",
}


def rewrite(path: Path, keep):
    """A CSV's header and the rows `keep` accepts."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [r for r in rows[1:] if keep(r)]


def write(path: Path, header, rows):
    """Write a CSV with the line ends it had (the library's files differ)."""
    ending = "\r\n" if b"\r\n" in path.read_bytes() else "\n"
    with open(path, "w", newline="") as f:
        out = csv.writer(f, lineterminator=ending)
        out.writerow(header)
        out.writerows(rows)


def frame(img: Image.Image, zoom: float) -> bytes:
    """The photograph covering the frame, zoomed in by `zoom` around its centre."""
    s = max(W / img.width, H / img.height) * zoom
    big = img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.BILINEAR)
    left, top = (big.width - W) // 2, (big.height - H) // 2
    return np.asarray(big.crop((left, top, left + W, top + H)), np.uint8).tobytes()


def main():
    if not (PHOTOS / "labels.csv").exists():
        raise SystemExit("no sample-data/photos: run build_photo_set.py first")
    out = LIBRARY / "photos"
    out.mkdir(exist_ok=True)
    for old in out.glob("*.jpg"):
        old.unlink()
    with open(LIBRARY / "image_metadata.csv", newline="") as f:
        categories = sorted({r["Category"] for r in csv.DictReader(f)} | set(CHOSEN))
    ours = lambda name: name.startswith("photo-")  # noqa: E731
    meta_header, meta = rewrite(LIBRARY / "image_metadata.csv", lambda r: not ours(r[0]))
    label_header, labels = rewrite(TRUTH / "labels.csv", lambda r: not ours(r[0]))
    by_category = {}
    for category, files in CHOSEN.items():
        for n, src in enumerate(files, 1):
            name = f"photo-{category}-{n}.jpg"
            img = Image.open(PHOTOS / src).convert("RGB")
            img.save(out / name, quality=88)
            by_category.setdefault(category, []).append((name, img))
            meta.append([name, f"Photograph of {category} ({src})", category])
            labels.extend([name, tag, int(tag == category)] for tag in categories)
    write(LIBRARY / "image_metadata.csv", meta_header, meta)
    write(TRUTH / "labels.csv", label_header, labels)

    rng = random.Random(SEED)
    video = LIBRARY / "videos" / VIDEO
    ff = Video(video)
    t, cues, truth = 0.0, [], []
    for shot, category in enumerate(SHOTS):
        name, img = rng.choice(by_category[category])
        frames = rng.randint(4 * FPS, 6 * FPS)
        for i in range(frames):
            ff.write(frame(img, 1.0 + 0.15 * i / frames))
        start, end = t, t + frames / FPS
        truth.append([VIDEO, shot, int(start * 1000), int(end * 1000), category, name])
        cues.append((start + 0.3, end - 0.3, SENTENCES[category]))
        t = end
    ff.close()
    write_vtt(video.with_suffix(".vtt"), cues)
    header, rows = rewrite(LIBRARY / "metadata.csv", lambda r: r[0] != VIDEO)
    write(LIBRARY / "metadata.csv", header, rows + [[VIDEO, SERIES, EPISODE, AIRED]])
    header, rows = rewrite(TRUTH / "shots_truth.csv", lambda r: r[0] != VIDEO)
    write(TRUTH / "shots_truth.csv", header, rows + truth)
    print(f"added {sum(len(v) for v in CHOSEN.values())} photographs and {VIDEO} ({t:.1f} s, "
          f"{len(SHOTS)} shots) to {LIBRARY}")


if __name__ == "__main__":
    main()
