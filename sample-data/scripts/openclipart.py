"""Openclipart (Debian packages openclipart-png / openclipart-svg): index, held-out split, render.

Shared by build_sample_library.py (the sample media library), train_image_tower.py (the
default image tower) and eval_zero_shot.py. Openclipart is public domain; each SVG carries its
title and keywords in RDF metadata, each PNG has the same relative path.

The split is deterministic: for each sample category, the first `held_out(n)` images in a
seeded shuffle are the sample library's images and are never trained on; training also drops
every other image whose 16x16 rendering is a near-duplicate of a held-out one.
"""

import hashlib
import random
import re
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path("/usr/share/openclipart")
Image.MAX_IMAGE_PIXELS = None  # a few Openclipart PNGs are huge renderings; all are trusted

# tag name -> Openclipart folder (PNG files directly inside it).
CATEGORIES = {
    "birds": "animals/birds",
    "fish": "animals/fish",
    "insects": "animals/bugs",
    "mammals": "animals/mammals",
    "fruit": "food/fruit",
    "desserts": "food/desserts",
    "drinks": "food/beverages",
    "bread": "food/breads_and_carbs",
    "flowers": "plants/flowers",
    "music": "recreation/music",
    "sports": "recreation/sports",
    "toys": "recreation/toys",
    "vehicles": "transportation/vehicles",
    "boats": "transportation/boating",
    "houses": "buildings/homes",
    "weather": "signs_and_symbols/weather",
    "clocks": "signs_and_symbols/clocks",
    "hats": "people/clothing/hats",
    "tools": "tools",
    "computers": "computer/hardware",
}

SEED = 20261128


def held_out(n: int) -> int:
    """How many of a category's n images the sample library takes (and training never sees)."""
    return min(16, (2 * n) // 5)


def require_packages():
    if not (ROOT / "png").is_dir() or not (ROOT / "svg").is_dir():
        raise SystemExit(
            "Openclipart is not installed: apt-get install openclipart-png openclipart-svg"
        )


def all_pngs():
    require_packages()
    return sorted(p.relative_to(ROOT / "png") for p in (ROOT / "png").rglob("*.png"))


def category_files(folder: str):
    return sorted(p.relative_to(ROOT / "png") for p in (ROOT / "png" / folder).glob("*.png"))


def sample_split():
    """{category: [relative png path, ...]} of the held-out sample images."""
    out = {}
    for name, folder in CATEGORIES.items():
        files = category_files(folder)
        rng = random.Random(f"{SEED}-{name}")
        rng.shuffle(files)
        out[name] = sorted(files[: held_out(len(files))])
    return out


_LINK = re.compile(r'<image[^>]*xlink:href="(?!data:)[^"]+"', re.S)


def is_broken(rel_png: Path) -> bool:
    """Whether the PNG was rendered from an SVG whose linked bitmap was missing (Debian's
    renderings of those show a "Linked Image Not Found" placeholder)."""
    try:
        return bool(_LINK.search((ROOT / "svg" / rel_png.with_suffix(".svg")).read_text(errors="replace")))
    except OSError:
        return False


def sample_images():
    """{category: [...]}: the held-out images the sample library shows (broken renderings
    dropped; training excludes the whole held-out split either way)."""
    return {c: [p for p in files if not is_broken(p)] for c, files in sample_split().items()}


_TAG = re.compile(r"<(dc:title|rdf:li)>([^<]*)</\1>")


def metadata(rel_png: Path):
    """(title, keywords) of an image from its SVG's RDF metadata ('' / [] when absent)."""
    svg = ROOT / "svg" / rel_png.with_suffix(".svg")
    title, keywords = "", []
    try:
        text = svg.read_text(errors="replace")
    except OSError:
        return title, keywords
    for tag, value in _TAG.findall(text):
        value = value.strip()
        if not value or value.startswith("HASH("):
            continue
        if tag == "dc:title" and not title:
            title = value
        elif tag == "rdf:li" and len(value) < 40 and value.lower() not in keywords:
            keywords.append(value.lower())
    if not title:
        title = re.sub(r"_+", " ", rel_png.stem.split("_")[0])
    return title, keywords


def folder_words(rel_png: Path):
    return [w.replace("_", " ").replace("-", " ") for w in rel_png.parent.parts]


def caption(rel_png: Path) -> str:
    """The training text of an image: title, keywords and the words of its folder path."""
    title, keywords = metadata(rel_png)
    words = [w for w in folder_words(rel_png) if w not in keywords]
    parts = [title]
    if keywords:
        parts.append(", ".join(keywords[:12]))
    if words:
        parts.append(", ".join(words))
    return ". ".join(parts)


def render(rel_png: Path, size: int) -> Image.Image:
    """The image composited over white and fitted (aspect kept, white padding) in size x size."""
    with Image.open(ROOT / "png" / rel_png) as im:
        return fit_on_white(im.convert("RGBA"), size)


def fit_on_white(rgba: Image.Image, size: int) -> Image.Image:
    """An RGBA drawing composited over white, shrunk to fit (aspect kept) and centred on a
    white size x size canvas."""
    bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    im = Image.alpha_composite(bg, rgba).convert("RGB")
    im.thumbnail((size, size), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(im, ((size - im.width) // 2, (size - im.height) // 2))
    return canvas


def fingerprint(img: Image.Image) -> np.ndarray:
    """A 16x16 grey thumbnail, for near-duplicate detection."""
    return np.asarray(img.convert("L").resize((16, 16), Image.Resampling.BILINEAR), np.float32)


def stable_id(rel_png: Path) -> str:
    return hashlib.sha1(str(rel_png).encode()).hexdigest()[:12]
