#!/usr/bin/env python3
"""Train the previous default image tower (a CNN trained from scratch on drawings) LiT-style and
export it to sample-data/models/drawings-cnn, where `dyntag bench zero-shot` compares the
default tower against it (its text tower is a link to the default model's).

A small residual CNN is trained contrastively (symmetric InfoNCE) against the *frozen* text
embeddings of the default text tower (all-MiniLM-L6-v2) of each Openclipart image's caption
(title, keywords, folder words) and of each emoji drawing's CLDR name and keywords (three
styles: Noto Color Emoji, EmojiOne, Symbola; see emoji.py), so its image embeddings live in the
text tower's space and zero-shot tags work. Every image of the sample library
(openclipart.sample_split) and every near-duplicate of one is held out.
The exported graph adds three fixed steps after the network (WithTextBank, FlipAveraged): a
pull towards the folder texts the image matches, centring on the training images' mean, and
averaging with the mirror image. --networks N trains N networks in turn (the seeded random
streams continued) and averages their outputs (Averaged); --size sets the input size. Both
were measured and left at their defaults (see the README).

Writes onnx/vision_model.onnx (input pixel_values [N,3,S,S] -> image_embeds [N,384]),
preprocessor_config.json (the Hugging Face CLIPImageProcessor layout) and adds "image" to
dyntag-model.json. It reports the zero-shot top-1 accuracy on its renderings of the held-out
images and on the sample library's JPEGs (what `dyntag bench zero-shot` reads). Needs: apt-get
install openclipart-png openclipart-svg fonts-noto-color-emoji ruby-gemojione fonts-symbola
unicode-cldr-core; pip install torch pillow onnxruntime tokenizers onnx.

    python3 sample-data/scripts/train_drawing_tower.py [--epochs 24]
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

SIZE = 64  # network input (--size)
STORE = 72  # stored rendering, SIZE * 9 / 8; random crops of it while training
MEAN = [0.5, 0.5, 0.5]
STD = [0.5, 0.5, 0.5]


def _render(rel):
    img = oc.render(rel, STORE)
    return np.asarray(img, np.uint8), oc.fingerprint(img)


def render_all(paths, workers):
    with ProcessPoolExecutor(workers) as pool:
        out = list(pool.map(_render, paths, chunksize=32))
    return np.stack([o[0] for o in out]), np.stack([o[1] for o in out])


def _render_emoji(cp_source):
    cp, source = cp_source
    img = emoji.render(cp, STORE, source)
    return None if img is None else (np.asarray(img, np.uint8), oc.fingerprint(img))


def load_emoji(source: str, cache: Path, workers):
    """(images, fingerprints, caption embeddings) of one emoji set (emoji.PACKAGES), cached."""
    if cache.exists():
        z = np.load(cache)
        return z["img"], z["fp"], z["txt"]
    entries = emoji.entries(source)
    with ProcessPoolExecutor(workers) as pool:
        out = list(pool.map(_render_emoji, [(cp, source) for cp, _ in entries], chunksize=32))
    kept = [(o, caption) for o, (_, caption) in zip(out, entries) if o is not None]
    img = np.stack([o[0] for o, _ in kept])
    fp = np.stack([o[1] for o, _ in kept])
    txt = TextTower().embed([caption for _, caption in kept])
    np.savez(cache, img=img, fp=fp, txt=txt)
    return img, fp, txt


def near_duplicates(train_fp, held_fp, threshold=0.95):
    """Indices of training images whose fingerprint correlates above threshold with a held-out one."""
    def unit(f):
        f = f.reshape(len(f), -1)
        f = f - f.mean(1, keepdims=True)
        return f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-6)
    corr = unit(train_fp) @ unit(held_fp).T
    return set(np.nonzero(corr.max(1) > threshold)[0].tolist())


class Block(nn.Module):
    def __init__(self, cin, cout, stride=2):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + self.skip(x))


class ImageTower(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                                  nn.MaxPool2d(2))
        self.blocks = nn.Sequential(Block(32, 64), Block(64, 128), Block(128, 256),
                                    Block(256, 384, stride=1))
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(384, dim))

    def forward(self, pixel_values):
        x = self.blocks(self.stem(pixel_values))
        x = x.mean(dim=(2, 3))
        return F.normalize(self.head(x), dim=-1)


class WithTextBank(nn.Module):
    """The exported tower. First the network's embedding z plus the folder texts weighted by how
    well z matches each (softmax at the trained logit scale), renormalised: it pulls an image
    towards the text embeddings of the categories it looks like (a "convex combination of
    semantic embeddings", Norouzi et al. 2014), where a short tag's text embedding lives. Then
    the mean of that over the training images is subtracted (`center`, set after training) and
    the result renormalised: a tag whose text is close to the average drawing (the collection
    is one quarter computer icons) no longer wins every doubtful image ("hubness")."""

    def __init__(self, model, bank, scale):
        super().__init__()
        self.m = model
        self.register_buffer("bank", bank.clone())
        self.register_buffer("center", torch.zeros(bank.shape[1]))
        self.scale = float(scale)

    def forward(self, pixel_values):
        z = self.m(pixel_values)
        p = F.softmax(self.scale * z @ self.bank.T, dim=-1)
        y = F.normalize(z + F.normalize(p @ self.bank, dim=-1), dim=-1)
        return F.normalize(y - self.center, dim=-1)


class Averaged(nn.Module):
    """Several towers run on the same batch, their embeddings averaged: an ensemble of
    independently trained networks, whose errors are partly independent."""

    def __init__(self, towers):
        super().__init__()
        self.towers = nn.ModuleList(towers)

    def forward(self, pixel_values):
        return F.normalize(sum(t(pixel_values) for t in self.towers), dim=-1)


class FlipAveraged(nn.Module):
    """The tower run on the image and on its mirror image (one batch of twice the size), the two
    embeddings averaged: a drawing and its mirror show the same thing."""

    def __init__(self, tower):
        super().__init__()
        self.tower = tower

    def forward(self, pixel_values):
        both = self.tower(torch.cat([pixel_values, torch.flip(pixel_values, dims=[3])]))
        return F.normalize(both.view(2, -1, both.shape[-1]).sum(0), dim=-1)


def augment(batch_u8, rng):
    """Random zoom (crop in, or white margin out), random flip, colour jitter, some greyscale;
    uint8 NHWC -> normalised NCHW. Clipart is small data: heavy augmentation is what keeps the
    network from memorising it."""
    n = len(batch_u8)
    out = np.empty((n, SIZE, SIZE, 3), np.float32)
    for i in range(n):
        s = int(rng.integers(int(SIZE * 0.8), int(STORE * 1.25) + 1))
        if s <= STORE:
            y, x = rng.integers(0, STORE - s + 1, 2)
            crop = batch_u8[i, y : y + s, x : x + s]
        else:  # zoom out: the image on a larger white canvas
            crop = np.full((s, s, 3), 255, np.uint8)
            y, x = rng.integers(0, s - STORE + 1, 2)
            crop[y : y + STORE, x : x + STORE] = batch_u8[i]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = resize(crop)
    # contrast towards grey and brightness per image, a little per channel
    c = rng.uniform(0.7, 1.0, (n, 1, 1, 1)).astype(np.float32)
    out = 127.5 + (out - 127.5) * c
    out *= rng.uniform(0.85, 1.05, (n, 1, 1, 1)).astype(np.float32)
    out *= rng.uniform(0.92, 1.08, (n, 1, 1, 3)).astype(np.float32)
    grey = rng.random(n) < 0.1
    out[grey] = out[grey].mean(axis=3, keepdims=True)
    return to_tensor(np.clip(out, 0, 255))


def resize(hwc_u8):
    """SIZE x SIZE with an antialiased bilinear filter, as the product resizes (PIL-style), not
    nearest-neighbour: training must see the smooth downscaled images ingestion produces."""
    x = torch.from_numpy(np.ascontiguousarray(hwc_u8, np.float32)).permute(2, 0, 1)[None]
    y = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False)
    return y[0].permute(1, 2, 0).numpy()


def to_tensor(nhwc_0_255):
    x = torch.from_numpy(np.ascontiguousarray(nhwc_0_255, np.float32)).permute(0, 3, 1, 2) / 255.0
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def center(batch_u8):
    """The whole stored rendering resized to SIZE (the evaluation view)."""
    return to_tensor(np.stack([resize(img) for img in batch_u8]))


def embed(model, images, batch=512):
    """The evaluation view's embeddings, uint8 NHWC -> [N, dim]."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model(center(images[i : i + batch])) for i in range(0, len(images), batch)])


def zero_shot(model, images, labels, names, tower):
    emb = embed(model, images).numpy()
    t = tower.embed(names)
    pred = (emb @ t.T).argmax(1)
    return float((pred == labels).mean())


def library_images(names):
    """(images, labels) of the sample library's JPEGs (160 px, as `dyntag bench zero-shot`
    reads them; the evaluation view resizes them to SIZE as ingestion does), labels indexing
    `names`."""
    root = Path(__file__).resolve().parents[1] / "library"
    with open(root / "image_metadata.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if (root / "images" / r["path"]).is_file()]  # drawings only
    images = [np.asarray(Image.open(root / "images" / r["path"]).convert("RGB")) for r in rows]
    return np.stack(images), np.array([names.index(r["Category"]) for r in rows])


def main():
    global SIZE, STORE
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=24)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--balance", type=float, default=0.7,
                    help="sampling weight of an image = (images in its folder) ^ -balance")
    ap.add_argument("--emoji-share", type=float, default=0.4,
                    help="share of the samples drawn from the emoji (0: Openclipart only)")
    ap.add_argument("--emoji-sets", default="noto,emojione,symbola",
                    help="emoji drawing styles to train on (see emoji.py)")
    ap.add_argument("--out", type=Path, default=MODEL_DIR.parent / "drawings-cnn")
    ap.add_argument("--size", type=int, default=SIZE, help="network input size in pixels")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp"),
                    help="where renderings are kept between runs (dyntag-<set>-<px>.npz)")
    ap.add_argument("--no-flip", action="store_true",
                    help="export the tower without averaging it over the mirrored image")
    ap.add_argument("--networks", type=int, default=1,
                    help="independently trained networks whose embeddings the exported tower averages")
    ap.add_argument("--seed", type=int, default=oc.SEED,
                    help="seed of the random streams (initialisation, sampling, augmentation)")
    ap.add_argument("--save-network", type=Path,
                    help="also save each trained network's weights here (suffix .0, .1, ...)")
    args = ap.parse_args()
    SIZE, STORE = args.size, args.size * 9 // 8
    args.cache = args.cache_dir / f"dyntag-openclipart-{STORE}px.npz"
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    workers = os.cpu_count() or 2
    torch.set_num_threads(workers)

    split = oc.sample_split()
    held = [p for files in split.values() for p in files]
    held_labels = np.array([i for i, files in enumerate(split.values()) for _ in files])
    held_set = set(held)
    train_paths = [p for p in oc.all_pngs() if p not in held_set]

    if args.cache.exists():
        z = np.load(args.cache, allow_pickle=True)
        assert list(z["train_paths"]) == [str(p) for p in train_paths], "stale cache"
        train_img, train_fp, held_img, held_fp, train_txt = (
            z["train_img"], z["train_fp"], z["held_img"], z["held_fp"], z["train_txt"])
    else:
        t0 = time.time()
        train_img, train_fp = render_all(train_paths, workers)
        held_img, held_fp = render_all(held, workers)
        captions = [oc.caption(p) for p in train_paths]
        print(f"rendered {len(train_paths)} + {len(held)} images in {time.time() - t0:.0f}s", flush=True)
        t0 = time.time()
        train_txt = TextTower().embed(captions)
        print(f"embedded {len(captions)} captions in {time.time() - t0:.0f}s", flush=True)
        np.savez(args.cache, train_paths=np.array([str(p) for p in train_paths]), train_img=train_img,
                 train_fp=train_fp, held_img=held_img, held_fp=held_fp, train_txt=train_txt)
    # The folder words of each training image ("birds, animals") are a second target: the
    # category-level meaning a zero-shot tag asks for, next to the instance-level caption. They
    # are contrasted against the text embeddings of all the collection's folders at once.
    folders = [", ".join(reversed(oc.folder_words(p))) for p in train_paths]

    dup = near_duplicates(train_fp, held_fp)
    keep = np.array([i for i in range(len(train_paths)) if i not in dup])
    train_img, train_txt = train_img[keep], train_txt[keep]
    bank_names = sorted({folders[i] for i in keep})
    bank_index = {name: j for j, name in enumerate(bank_names)}
    folder_label = np.array([bank_index[folders[i]] for i in keep])
    bank = torch.from_numpy(TextTower().embed(bank_names))
    # Folders are very unequal (1,378 stars, 14 fish): sample each image with weight
    # count^-BALANCE so that small folders are seen far more often than their share.
    counts = np.bincount(folder_label)
    weights = counts[folder_label].astype(np.float64) ** -args.balance
    weights /= weights.sum()
    n_clipart = len(keep)
    if args.emoji_share > 0:
        # The emoji have no folder: they take part in the caption loss only (label -1).
        sets = [load_emoji(source, args.cache_dir / f"dyntag-emoji-{source}-{STORE}px.npz", workers)
                for source in args.emoji_sets.split(",")]
        e_img, e_fp, e_txt = (np.concatenate(parts) for parts in zip(*sets))
        e_dup = near_duplicates(e_fp, held_fp)
        e_keep = np.array([i for i in range(len(e_img)) if i not in e_dup])
        train_img = np.concatenate([train_img, e_img[e_keep]])
        train_txt = np.concatenate([train_txt, e_txt[e_keep]])
        folder_label = np.concatenate([folder_label, np.full(len(e_keep), -1)])
        weights = np.concatenate([weights * (1 - args.emoji_share),
                                  np.full(len(e_keep), args.emoji_share / len(e_keep))])
    folder_label = torch.from_numpy(folder_label)
    print(f"training on {n_clipart} Openclipart images ({len(dup)} near-duplicates of held-out "
          f"images dropped) and {len(train_img) - n_clipart} emoji; held out {len(held)} sample "
          f"images in {len(split)} categories", flush=True)

    tower = TextTower()
    names = list(split.keys())
    text = torch.from_numpy(train_txt)
    towers = []
    for k in range(args.networks):
        model, scale = train(args, train_img, text, bank, folder_label, weights, rng, k)
        if args.save_network:
            torch.save(model.state_dict(), f"{args.save_network}.{k}")
        raw = zero_shot(model, held_img, held_labels, names, tower)
        t = WithTextBank(model, bank, scale)
        mixed = zero_shot(t, held_img, held_labels, names, tower)
        t.center.copy_(embed(t, train_img[:n_clipart]).mean(0))
        centred = zero_shot(t, held_img, held_labels, names, tower)
        flipped = zero_shot(FlipAveraged(t), held_img, held_labels, names, tower)
        print(f"network {k + 1}: zero-shot top-1 alone {raw:.3f}, with the folder texts {mixed:.3f}, "
              f"centred {centred:.3f}, mirror-averaged {flipped:.3f}", flush=True)
        towers.append(t)
    tower_model = towers[0]
    if len(towers) > 1:
        tower_model = Averaged(towers)
        plain = zero_shot(tower_model, held_img, held_labels, names, tower)
        print(f"the {len(towers)} networks averaged, without the mirror: {plain:.3f}", flush=True)
    if not args.no_flip:
        tower_model = FlipAveraged(tower_model)
    acc = zero_shot(tower_model, held_img, held_labels, names, tower)
    print(f"zero-shot top-1 of the exported tower on {len(held)} held-out images, {len(names)} "
          f"categories: {acc:.3f} (chance {1 / len(names):.3f})", flush=True)
    lib_img, lib_labels = library_images(names)
    lib = zero_shot(tower_model, lib_img, lib_labels, names, tower)
    print(f"on the sample library's {len(lib_img)} JPEGs (what `dyntag bench zero-shot` reads): "
          f"{lib:.3f}", flush=True)
    export(tower_model, args.out, train_txt.shape[1], n_clipart, len(train_img) - n_clipart, args.epochs,
           len(towers), acc, lib)


def train(args, train_img, text, bank, folder_label, weights, rng, k):
    """One network trained on the caption InfoNCE plus the folder-bank cross-entropy; returns
    it with its trained logit scale. The k-th network continues the seeded random streams, so
    every network differs (initialisation, sample order, augmentation) and the run is
    reproducible."""
    model = ImageTower(text.shape[1])
    logit_scale = nn.Parameter(torch.tensor(math.log(20.0)))
    opt = torch.optim.AdamW(list(model.parameters()) + [logit_scale], lr=args.lr, weight_decay=0.05)
    n = len(train_img)
    steps = args.epochs * (n // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=steps, pct_start=0.1)
    for epoch in range(args.epochs):
        model.train()
        t0 = time.time()
        order = rng.choice(n, size=n, p=weights)
        total = 0.0
        nb = n // args.batch
        for b in range(nb):
            idx = order[b * args.batch : (b + 1) * args.batch]
            x = augment(train_img[idx], rng)
            z = model(x)
            scale = logit_scale.exp().clamp(max=100)
            loss = lit_loss(z, text[idx], bank, folder_label[idx], scale)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        print(f"network {k + 1}/{args.networks} epoch {epoch + 1}/{args.epochs} loss {total / nb:.3f} "
              f"scale {logit_scale.exp().item():.1f} {time.time() - t0:.0f}s", flush=True)
    return model, logit_scale.exp().clamp(max=100).item()


def export(model, out: Path, dim: int, n_train: int, n_emoji: int, epochs: int, networks: int,
           acc: float, lib: float):
    model.eval()
    export_vision(model, out, SIZE, 2, MEAN, STD)
    manifest_path = out / "dyntag-model.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["modalities"] = ["text", "image"]
    manifest["image"] = {
        "source": "sample-data/scripts/train_image_tower.py: residual CNN trained LiT-style on "
                  "Openclipart (Debian openclipart-png/-svg) and emoji drawings with CLDR names "
                  "(fonts-noto-color-emoji, ruby-gemojione, fonts-symbola, unicode-cldr-core) "
                  "against the frozen text tower; the graph then pulls towards the folder texts "
                  "it matches, centres on the training mean and averages with the mirror image"
                  + (f"; the outputs of {networks} such networks are averaged" if networks > 1 else ""),
        "training_images": n_train,
        "training_emoji": n_emoji,
        "epochs": epochs,
        "input_size": SIZE,
        "zero_shot_top1_held_out": round(acc, 3),
        "zero_shot_top1_sample_library": round(lib, 3),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {out / 'onnx' / 'vision_model.onnx'}")


if __name__ == "__main__":
    main()
