#!/usr/bin/env python3
"""Build sample-data/photos: real labelled photographs that no image tower is trained on,
for `dyntag bench zero-shot` (and a few of them for the sample library's photo episode).

Every photograph comes from a Debian package, read from the package archive itself
(`apt-get download` + `dpkg-deb -x` into a scratch folder; nothing is installed):

- gcompris-qt-data: the photographs of GCompris' activities (Wikimedia Commons and
  publicdomainpictures.net; each file's author, source and licence in the README next to it,
  copied into labels.csv). They sit in Qt resource bundles (`.rcc`), read by `read_rcc`.
- python3-skimage: scikit-image's sample photos (their licences in skimage/data/__init__.py);
- python3-sklearn: scikit-learn's two sample photos (images/README.txt);
- python-matplotlib-data: matplotlib's sample photo of Grace Hopper (public domain);
- mate-backgrounds: MATE's three flower photographs (GPL-2+, debian/copyright).

The categories are fixed below before any model saw a photo: every photograph of those
folders whose subject has a plain everyday name, at most CAP of one category (the first by
file name) so that no category outweighs the rest. Each image is stored as a JPEG whose
shorter side is 256 px.

Needs: apt-get (Debian), pillow.

    python3 sample-data/scripts/build_photo_set.py
"""

import csv
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "photos"
SHORT_SIDE = 256
CAP = 8
PACKAGES = ["gcompris-qt-data", "python3-skimage", "python3-sklearn", "python-matplotlib-data",
            "mate-backgrounds"]
RCC = "usr/share/gcompris-qt/rcc"
ERASE = ("erase", "gcompris/src/activities/erase/resource")
WORLD = ("explore_world_animals", "gcompris/src/activities/explore_world_animals/resource/animals")
CAT = "gcompris/src/activities/categorization/resource/images"
OTHERS = ("categorization", f"{CAT}/others")
TOOLS = ("categorization", f"{CAT}/tools")
RENEWABLE = ("categorization", f"{CAT}/renewable")
FISHES = ("categorization", f"{CAT}/fishes")
SKIMAGE = "usr/lib/python3/dist-packages/skimage/data"
SKLEARN = "usr/lib/python3/dist-packages/sklearn/datasets/images"

# category -> [(bundle, folder, file name pattern)] in GCompris
GCOMPRIS = {
    "bird": [(ERASE, r"(heron|kingfisher|northern_harrier|penguin|spoonbills|swans|toucan|gosling)\.webp"),
             (WORLD, r"scarlet_macaw\.webp")],
    "fish": [(FISHES, r".*\.webp")],
    "monkey": [(ERASE, r"(long_nosed_monkey|macaque)\.webp")],
    "cat": [(ERASE, r"kitten\.webp")],
    "horse": [(ERASE, r"horse\.webp")],
    "giraffe": [(ERASE, r"giraffe\.webp"), (WORLD, r"giraffe\.webp")],
    "bear": [(WORLD, r"(polar_bear|panda)\.webp")],
    "camel": [(ERASE, r"camels\.webp")],
    "goat": [(ERASE, r"goat\.webp")],
    "dolphin": [(ERASE, r"dolphin\.webp")],
    "crab": [(ERASE, r"crab\.webp")],
    "butterfly": [(ERASE, r"butterfly\.webp")],
    "bee": [(ERASE, r"bee\.webp")],
    "kangaroo": [(WORLD, r"kangaroo\.webp")],
    "koala": [(WORLD, r"koala\.webp")],
    "crocodile": [(WORLD, r"crocodile\.webp")],
    "hedgehog": [(WORLD, r"hedgehog\.webp")],
    "rhinoceros": [(ERASE, r"rhinoceros\.webp")],
    "ball": [(OTHERS, r"(baseball|volleyball)\.webp")],
    "chair": [(OTHERS, r"chair\.webp")],
    "cup": [(OTHERS, r"cup\.webp")],
    "knife": [(OTHERS, r"knife\.webp")],
    "pan": [(OTHERS, r"pan\.webp")],
    "pencil": [(OTHERS, r"pencil\.webp")],
    "plate": [(OTHERS, r"plate\.webp")],
    "spoon": [(OTHERS, r"spoons\.webp")],
    "bucket": [(OTHERS, r"bucket\.webp")],
    "light bulb": [(OTHERS, r"bulb\.webp")],
    "pillow": [(OTHERS, r"pillow\.webp")],
    "hammer": [(TOOLS, r"hammer\d*\.webp")],
    "scissors": [(TOOLS, r"scissors\d*\.webp")],
    "screwdriver": [(TOOLS, r"screwDriver\d*\.webp")],
    "pliers": [(TOOLS, r"plier\d*\.webp")],
    "tape measure": [(TOOLS, r"measuringTape\d*\.webp")],
    "wrench": [(TOOLS, r"wrench\d*\.webp")],
    "windmill": [(RENEWABLE, r"windmill\d*\.webp")],
    "dam": [(RENEWABLE, r"dam\d*\.webp")],
}

# category -> [(package, path in the package, author and source, licence)] of single files
FILES = {
    "cat": [("python3-skimage", f"{SKIMAGE}/chelsea.png", "Stefan van der Walt (skimage.data.chelsea)", "CC0-1.0")],
    "cup": [("python3-skimage", f"{SKIMAGE}/coffee.png", "Rachel Michetti (skimage.data.coffee)", "CC0-1.0")],
    "person": [("python3-skimage", f"{SKIMAGE}/astronaut.png", "NASA, Eileen Collins (skimage.data.astronaut)", "Public Domain"),
               ("python3-skimage", f"{SKIMAGE}/camera.png", "Lav Varshney (skimage.data.camera)", "CC0-1.0"),
               ("python-matplotlib-data", "usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg",
                "US Navy, Grace Hopper (matplotlib sample data)", "Public Domain")],
    "rocket": [("python3-skimage", f"{SKIMAGE}/rocket.jpg", "SpaceX (skimage.data.rocket)", "Public Domain")],
    "flower": [("python3-sklearn", f"{SKLEARN}/flower.jpg", "Flickr user danielbuechele (sklearn flower.jpg)", "CC-BY-2.0")]
              + [("mate-backgrounds", f"usr/share/backgrounds/mate/nature/{name}", f"{who} (mate-backgrounds' debian/copyright)", "GPL-2+")
                 for name, who in (("FreshFlower.jpg", "2005, Jens Ansorg"), ("Garden.jpg", "2008, Charles Barbin"),
                                   ("YellowFlower.jpg", "2008, Charles Barbin"))],
    "temple": [("python3-sklearn", f"{SKLEARN}/china.jpg", "Flickr user vultilion (sklearn china.jpg)", "CC-BY-2.0")],
}


# The validation photographs: GCompris photographs of the same bundles that the set above does
# not hold (other animals, the fish and windmills past CAP, other tools), for choosing the
# image tower's settings (train_image_tower.py) without looking at the photograph set.
VALIDATION = {
    "fish": [(FISHES, r".*\.webp")],
    "windmill": [(RENEWABLE, r"windmill\d*\.webp")],
    "solar panel": [(RENEWABLE, r"solar\d*\.webp")],
    "hammer": [(TOOLS, r"hammer\d*\.webp")],
    "multimeter": [(TOOLS, r"multimeter\d*\.webp")],
    "tweezers": [(TOOLS, r"tweezer\d*\.webp")],
    "sickle": [(TOOLS, r"sickle\.webp")],
    "nail clipper": [(TOOLS, r"nailCutter\.webp")],
    "spray can": [(TOOLS, r"spray\.webp")],
    "igloo": [(OTHERS, r"igloo\.webp")],
    "eraser": [(OTHERS, r"erasers\.webp")],
    "weighing scale": [(OTHERS, r"weighingMachine\.webp")],
    "alpaca": [(ERASE, r"alpaca\.webp")],
    "cow": [(ERASE, r"calf\.webp")],
    "caterpillar": [(ERASE, r"caterpillar\.webp")],
    "chameleon": [(ERASE, r"chamaeleon\.webp"), (WORLD, r"chameleon\.webp")],
    "cheetah": [(ERASE, r"cheetah\.webp")],
    "bat": [(ERASE, r"flying_fox\.webp")],
    "ape": [(ERASE, r"(gibbon|gorilla)\.webp")],
    "meerkat": [(ERASE, r"meerkats\.webp")],
    "red panda": [(ERASE, r"red_panda\.webp")],
    "bison": [(WORLD, r"bison\.webp")],
    "jaguar": [(WORLD, r"jaguar\.webp")],
    "lemur": [(WORLD, r"lemur\.webp")],
    "moose": [(WORLD, r"moose\.webp")],
    "whale": [(WORLD, r"narwhal\.webp")],
}


# Unlabelled photographs of other GCompris bundles (monuments, castles, landscapes): the image
# tower learns from them only to tell a photograph from a drawing.
UNLABELLED = [(("categorization", f"{CAT}/monuments"), r".*\.webp"),
              (("details", "gcompris/src/activities/details/resource/image"), r".*_background\.webp")]


def read_rcc(path: Path, out: Path):
    """Write every file of a Qt resource bundle (format versions 1-3) under `out`."""
    data = path.read_bytes()
    if data[:4] != b"qres":
        raise SystemExit(f"{path}: not a Qt resource bundle")
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    node_size = 14 if version == 1 else 22

    def name(offset):
        offset += names
        (length,) = struct.unpack(">H", data[offset:offset + 2])
        return data[offset + 6:offset + 6 + 2 * length].decode("utf-16-be")

    def walk(index, folder: Path):
        at = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", data[at:at + 6])
        here = folder / name(name_offset) if index else folder
        if flags & 2:  # a directory: its children are consecutive nodes
            count, first = struct.unpack(">II", data[at + 6:at + 14])
            for child in range(first, first + count):
                walk(child, here)
            return
        (offset,) = struct.unpack(">I", data[at + 10:at + 14])
        offset += payload
        (size,) = struct.unpack(">I", data[offset:offset + 4])
        body = data[offset + 4:offset + 4 + size]
        if flags & 1:  # zlib, after a 4-byte length
            body = zlib.decompress(body[4:])
        elif flags & 4:
            if here.suffix in (".webp", ".jpg", ".png"):
                raise SystemExit(f"{path}: {here} is zstd-compressed, which this reader does not read")
            return
        here.parent.mkdir(parents=True, exist_ok=True)
        here.write_bytes(body)

    walk(0, out)


def licences(readme: Path):
    """file name -> (author and source, licence) from a GCompris resource README."""
    out = {}
    for block in re.split(r"\n\s*\n", readme.read_text(encoding="utf-8")):
        fields = dict(re.findall(r"^(Copyright|Source|License):\s*(.+)$", block, re.M))
        files = re.search(r"^Files:\s*(.*)$", block, re.M | re.S)
        if files and "License" in fields:
            who = "; ".join(fields[k].strip() for k in ("Copyright", "Source") if k in fields)
            for f in files.group(1).split():
                out[f] = (who, fields["License"].strip())
    return out


def store(src: Path, dest: Path):
    img = Image.open(src).convert("RGB")
    s = SHORT_SIDE / min(img.size)
    if s < 1:
        img = img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.LANCZOS)
    img.save(dest, quality=90)
    return img.size


def extract(work: Path):
    """The packages' files under work/root and the GCompris bundles under work/rcc."""
    root = work / "root"
    for package in PACKAGES:
        subprocess.run(["apt-get", "download", "-q", package], cwd=work, check=True)
        deb = next(work.glob(f"{package}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    bundles = work / "rcc"
    bundle_names = {b for table in (GCOMPRIS, VALIDATION) for sources in table.values() for (b, _), _ in sources}
    for bundle in bundle_names | {b for (b, _), _ in UNLABELLED}:
        read_rcc(root / RCC / f"{bundle}.rcc", bundles / bundle)
    return root, bundles


def gcompris(bundles: Path, sources):
    """[(file, path in the package, author and source, licence)] matching `sources`, by name."""
    out = []
    for (bundle, folder), pattern in sources:
        where = bundles / bundle / folder
        info = licences(where / "README")
        for f in sorted(p.name for p in where.iterdir() if re.fullmatch(pattern, p.name)):
            who, lic = info.get(f, info.get(f.replace("screwDriver", "screDriver"), ("", "")))
            if not lic:
                raise SystemExit(f"{where / f}: no licence in its README")
            out.append((where / f, f"/{RCC}/{bundle}.rcc:/{folder}/{f}", who, lic))
    return out


def photograph_set(root: Path, bundles: Path):
    """{category: [(source file, package, path in package, author and source, licence)]}."""
    out = {}
    for category in sorted(set(GCOMPRIS) | set(FILES)):
        picked = [(f, "gcompris-qt-data", rel, who, lic)
                  for f, rel, who, lic in gcompris(bundles, GCOMPRIS.get(category, []))]
        picked += [(root / rel, package, f"/{rel}", who, lic) for package, rel, who, lic in FILES.get(category, [])]
        out[category] = picked[:CAP]
    return out


def committed_paths():
    """The package paths of the committed photograph set (photos/labels.csv)."""
    with open(OUT / "labels.csv", newline="") as f:
        return {r["path_in_package"] for r in csv.DictReader(f)}


def training_photographs():
    """The photographs the image tower may learn settings from, from one extraction:
    [(PIL image, category)] of VALIDATION and [PIL image] of UNLABELLED, less every
    photograph of the committed photograph set (by its path in the package, whatever the
    package holds today)."""
    work = Path(tempfile.mkdtemp(prefix="dyntag-photos-"))
    try:
        _, bundles = extract(work)
        held = committed_paths()
        validation = []
        for category, sources in VALIDATION.items():
            files = [f for f, rel, _, _ in gcompris(bundles, sources) if rel not in held]
            validation += [(Image.open(f).convert("RGB"), category) for f in files[:CAP]]
        unlabelled = []
        for (bundle, folder), pattern in UNLABELLED:
            where = bundles / bundle / folder
            unlabelled += [Image.open(p).convert("RGB") for p in sorted(where.iterdir())
                           if re.fullmatch(pattern, p.name) and f"/{RCC}/{bundle}.rcc:/{folder}/{p.name}" not in held]
        return validation, unlabelled
    finally:
        shutil.rmtree(work)


def main():
    work = Path(tempfile.mkdtemp(prefix="dyntag-photos-"))
    try:
        root, bundles = extract(work)
        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.mkdir(parents=True)
        rows = []
        for category, picked in photograph_set(root, bundles).items():
            for n, (src, package, rel, who, lic) in enumerate(picked, 1):
                name = f"{category.replace(' ', '-')}-{n}.jpg"
                w, h = store(src, OUT / name)
                rows.append([name, category, package, rel, who, lic, f"{w}x{h}"])
        with open(OUT / "labels.csv", "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["file", "category", "package", "path_in_package", "author_source", "licence", "size"])
            out.writerows(rows)
        total = sum(p.stat().st_size for p in OUT.iterdir())
        print(f"wrote {OUT}: {len(rows)} photographs in {len({r[1] for r in rows})} categories, "
              f"{total / 1e6:.1f} MB")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
