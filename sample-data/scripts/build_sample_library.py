#!/usr/bin/env python3
"""Build sample-data/library (the sample media library behind the demo) and its ground truth
in sample-data/truth.

- images/     the held-out Openclipart images of openclipart.sample_split() (20 categories),
              on white, 160x160 JPEG;
- videos/     short episodes (320x240, 12 fps, H.264) whose shots are sequences of those images
              on a pale backdrop that changes from shot to shot, with a slow zoom, each with a WebVTT transcript of the same stem (one sentence
              per shot about what it shows);
- metadata.csv          SeriesName, EpisodeName, AirDate per video file (weekly from FIRST_AIRED);
- image_metadata.csv    Title, Category per image file;
- ../truth/labels.csv       ground truth (asset file, tag, label) from the Openclipart categories;
- ../truth/shots_truth.csv  the true cut points of every video, for tests and evaluation.

`dyntag ingest --dataset NAME sample-data/library` ingests the whole library.

Needs: apt-get install openclipart-png openclipart-svg ffmpeg; pip install pillow numpy.

    python3 sample-data/scripts/build_sample_library.py
"""

import csv
import random
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import openclipart as oc  # noqa: E402
from episode import FPS, H, W, Video, write_vtt  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "library"
TRUTH = Path(__file__).resolve().parents[1] / "truth"

# When each series first aired; its episodes follow weekly.
FIRST_AIRED = {"Field Notes": "2026-03-02", "Kitchen Table": "2026-03-03", "Weekend": "2026-03-07"}

SERIES = {
    "Field Notes": [
        ("Wings and Fins", ["birds", "fish", "birds", "insects", "fish", "birds"]),
        ("A Walk in the Garden", ["flowers", "insects", "flowers", "weather", "mammals", "flowers"]),
    ],
    "Kitchen Table": [
        ("Breakfast", ["bread", "fruit", "drinks", "fruit", "bread", "drinks"]),
        ("Something Sweet", ["desserts", "fruit", "desserts", "drinks", "desserts", "fruit"]),
    ],
    "Weekend": [
        ("Game Day", ["sports", "hats", "sports", "music", "sports", "toys"]),
        ("On the Move", ["vehicles", "boats", "houses", "vehicles", "clocks", "boats"]),
        ("The Workshop", ["tools", "computers", "tools", "clocks", "computers", "tools"]),
    ],
}

SENTENCES = {
    "birds": ["Here is a bird, {t}, ready to take off.", "This bird is {t}; listen for its song in spring."],
    "fish": ["Under the water we find {t}, a fish that swims in schools.", "This fish, {t}, lives in the sea."],
    "insects": ["A small insect: {t}. Bugs like this crawl through the grass.", "Look closely at this bug, {t}."],
    "mammals": ["This animal is {t}, a furry mammal.", "Meet {t}, a mammal that raises its young on milk."],
    "flowers": ["The garden is in bloom: {t}, with bright petals.", "These flowers, {t}, open in the morning sun."],
    "weather": ["Check the forecast: {t}. Expect rain or sunshine later.", "The weather today looks like {t}."],
    "bread": ["Fresh from the oven, {t}: a loaf of bread for breakfast.", "We bake bread like {t} every morning."],
    "fruit": ["A piece of fruit, {t}, sweet and juicy.", "Slice some fruit like {t} for the table."],
    "drinks": ["Pour yourself a drink: {t}.", "A cup of something warm to drink, {t}."],
    "desserts": ["For dessert we have {t}, a sweet cake or treat.", "Nothing beats a dessert like {t} after dinner."],
    "sports": ["The match is on: {t}. The players run for the ball.", "Sport time with {t}; the team scores a goal."],
    "hats": ["Put on a hat like {t} before you go out.", "This hat, {t}, keeps the sun off your head."],
    "music": ["Let the band play: {t}. Hear the music and the rhythm.", "A musical instrument, {t}, tuned for the concert."],
    "toys": ["Children love this toy, {t}.", "Time to play with a toy: {t}."],
    "vehicles": ["On the road we see {t}, a car driving through town.", "This vehicle, {t}, has four wheels and an engine."],
    "boats": ["Out at sea, a boat: {t}, sailing across the harbour.", "The ship {t} sets sail on the water."],
    "houses": ["Back home: {t}, a house with a roof and windows.", "This house, {t}, is where the family lives."],
    "clocks": ["Watch the clock: {t}. It is almost time.", "A clock like {t} tells the hours and minutes."],
    "tools": ["In the workshop we use tools such as {t}.", "Grab a tool, {t}, and fix the shelf."],
    "computers": ["A computer: {t}, with a keyboard and a screen.", "This piece of computer hardware, {t}, runs our software."],
}


def slug(text: str) -> str:
    s = "".join(c.lower() if c.isalnum() else "-" for c in text).strip("-")
    while "--" in s:
        s = s.replace("--", "-")
    return s[:40] or "image"


# Shot backdrops: pale colours of six hues 60 degrees apart; consecutive shots take hues at
# least 120 degrees apart, as a set or a studio wall would change between shots.
BACKDROPS = [tuple(round(255 * (1 - 0.3 * c)) for c in rgb) for rgb in
             [(0, 1, 1), (0, 0, 1), (1, 0, 1), (1, 1, 0), (1, 0, 0), (0, 1, 0)]]


def tint(img: Image.Image, backdrop) -> Image.Image:
    """The drawing with its white background replaced by the backdrop colour."""
    a = np.asarray(img, np.float32)
    whiteness = (a.min(axis=2, keepdims=True) / 255.0) ** 4
    out = a * (1 - whiteness) + np.array(backdrop, np.float32) * whiteness
    return Image.fromarray(out.round().astype(np.uint8))


def frame(img: Image.Image, zoom: float, backdrop) -> np.ndarray:
    side = int(H * zoom)
    big = img.resize((side, side), Image.Resampling.BILINEAR)
    off = (side - H) // 2
    square = big.crop((off, off, off + H, off + H))
    canvas = Image.new("RGB", (W, H), backdrop)
    canvas.paste(square, ((W - H) // 2, 0))
    return np.asarray(canvas, np.uint8)


def main():
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is not installed: apt-get install ffmpeg")
    split = oc.sample_images()
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "images").mkdir(parents=True)
    TRUTH.mkdir(exist_ok=True)
    (OUT / "videos").mkdir()
    rng = random.Random(oc.SEED)

    files = {}  # category -> [(file name, title, rendered 240px image)]
    with open(OUT / "image_metadata.csv", "w", newline="") as f, \
            open(TRUTH / "labels.csv", "w", newline="") as lf:
        meta = csv.writer(f)
        meta.writerow(["path", "Title", "Category"])
        labels = csv.writer(lf)
        labels.writerow(["path", "tag", "label"])
        for category, paths in split.items():
            for rel in paths:
                title, _ = oc.metadata(rel)
                name = f"{category}-{slug(title)}-{oc.stable_id(rel)[:6]}.jpg"
                oc.render(rel, 160).save(OUT / "images" / name, quality=85)
                files.setdefault(category, []).append((name, title, oc.render(rel, H)))
                meta.writerow([name, title, category])
                for tag in split:
                    labels.writerow([name, tag, int(tag == category)])

    with open(OUT / "metadata.csv", "w", newline="") as mf, \
            open(TRUTH / "shots_truth.csv", "w", newline="") as sf:
        meta = csv.writer(mf)
        meta.writerow(["path", "SeriesName", "EpisodeName", "AirDate"])
        truth = csv.writer(sf)
        truth.writerow(["path", "shot", "start_ms", "end_ms", "category", "image"])
        for series, episodes in SERIES.items():
            for number, (episode, cats) in enumerate(episodes, 1):
                stem = f"{slug(series)}-e{number:02d}-{slug(episode)}"
                video = OUT / "videos" / f"{stem}.mp4"
                cues = []
                ff = Video(video)
                t = 0.0
                hue = rng.randrange(len(BACKDROPS))
                for shot, category in enumerate(cats):
                    name, title, img = rng.choice(files[category])
                    hue = (hue + rng.choice([2, 3, 4])) % len(BACKDROPS)
                    backdrop = BACKDROPS[hue]
                    shown = tint(img, backdrop)
                    frames = rng.randint(4 * FPS, 7 * FPS)
                    for i in range(frames):
                        ff.write(frame(shown, 1.0 + 0.12 * i / frames, backdrop).tobytes())
                    start, end = t, t + frames / FPS
                    truth.writerow([video.name, shot, int(start * 1000), int(end * 1000), category, name])
                    text = rng.choice(SENTENCES[category]).format(t=title.strip().rstrip("."))
                    cues.append((start + 0.3, end - 0.3, text))
                    t = end
                ff.close()
                write_vtt(video.with_suffix(".vtt"), cues)
                aired = date.fromisoformat(FIRST_AIRED[series]) + timedelta(weeks=number - 1)
                meta.writerow([video.name, series, episode, aired.isoformat()])
    if (OUT.parent / "photos" / "labels.csv").exists():
        import library_photos  # the photographs and their episode (needs build_photo_set.py's output)
        library_photos.main()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT}: {sum(len(v) for v in files.values())} images, "
          f"{sum(len(e) for e in SERIES.values())} videos, {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
