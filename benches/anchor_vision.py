#!/usr/bin/env python3
"""Anchor of `dyntag bench pixels`: the ingest path of a Python user — Pillow decode and
resize, numpy normalisation, and the onnxruntime wheel — on the same model and image files.

    anchor_vision.py MODEL_DIR IMAGE_LIST
"""

import json
import sys
import time

import numpy as np
import onnxruntime as ort
from PIL import Image


def main():
    model_dir, listing = sys.argv[1:3]
    files = [l.strip() for l in open(listing) if l.strip()]
    cfg = json.load(open(f"{model_dir}/preprocessor_config.json"))
    size = cfg["size"]
    crop = cfg.get("crop_size")
    resample = {2: Image.BILINEAR, 3: Image.BICUBIC}[cfg.get("resample", 3)]
    mean = np.array(cfg["image_mean"], np.float32).reshape(1, 1, 3)
    std = np.array(cfg["image_std"], np.float32).reshape(1, 1, 3)
    scale = cfg.get("rescale_factor", 1 / 255)
    sess = ort.InferenceSession(f"{model_dir}/onnx/vision_model.onnx",
                                providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name

    def prep(path):
        im = Image.open(path).convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im).convert("RGB")
        w0, h0 = im.size
        if "shortest_edge" in size:
            s = size["shortest_edge"]
            h, w = (int(s * h0 / w0), s) if w0 <= h0 else (s, int(s * w0 / h0))
        else:
            h, w = size["height"], size["width"]
        im = im.resize((w, h), resample)
        if crop:
            ch, cw = crop["height"], crop["width"]
            top, left = (h - ch) // 2, (w - cw) // 2
            im = im.crop((left, top, left + cw, top + ch))
        x = (np.asarray(im, np.float32) * scale - mean) / std
        return x.transpose(2, 0, 1)

    sess.run(None, {name: prep(files[0])[None]})
    start = time.perf_counter()
    for i in range(0, len(files), 32):
        batch = np.stack([prep(f) for f in files[i:i + 32]])
        sess.run(None, {name: batch})
    took = time.perf_counter() - start
    print(f"python_onnxruntime images={len(files)} images_per_s={len(files) / took:.1f}")


if __name__ == "__main__":
    main()
