#!/usr/bin/env python3
"""Make sample-data/models/bench-hashbow-512: a small, meaningless 512-d text model.

Benchmarks and tests need a second model whose dimension differs from the default's (the
benchmark of DESIGN.md runs on 512-d embeddings, CLIP's size). This one is a real ONNX graph
in the model-directory layout: random 32-d word vectors (seeded) averaged over the tokens
of the MiniLM tokenizer, projected to 512 dimensions and L2-normalised. It has no semantic
quality and is not meant for tagging.

Usage: python3 sample-data/scripts/make_bench_model.py
"""
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "sample-data/models/bench-hashbow-512"
VOCAB, WORD_DIM, DIM = 30522, 32, 512

rng = np.random.default_rng(512)
words = rng.standard_normal((VOCAB, WORD_DIM)).astype(np.float32)
proj = (rng.standard_normal((WORD_DIM, DIM)) / np.sqrt(WORD_DIM)).astype(np.float32)

nodes = [
    helper.make_node("Gather", ["words", "input_ids"], ["emb"], axis=0),            # [b, s, 32]
    helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),  # [b, s]
    helper.make_node("Unsqueeze", ["maskf", "axis_last"], ["mask3"]),              # [b, s, 1]
    helper.make_node("Mul", ["emb", "mask3"], ["masked"]),
    helper.make_node("ReduceSum", ["masked", "axis_seq"], ["summed"], keepdims=0),  # [b, 32]
    helper.make_node("MatMul", ["summed", "proj"], ["projected"]),                  # [b, 512]
    helper.make_node("LpNormalization", ["projected"], ["text_embeds"], axis=1, p=2),
]
graph = helper.make_graph(
    nodes,
    "hashbow",
    [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
    ],
    [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch", DIM])],
    initializer=[
        numpy_helper.from_array(words, "words"),
        numpy_helper.from_array(proj, "proj"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis_last"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis_seq"),
    ],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)
(OUT / "onnx").mkdir(parents=True, exist_ok=True)
onnx.save(model, str(OUT / "onnx/text_model.onnx"))
shutil.copy(ROOT / "sample-data/models/default/tokenizer.json", OUT / "tokenizer.json")
(OUT / "dyntag-model.json").write_text(json.dumps({
    "id": "bench-hashbow-512",
    "dimension": DIM,
    "modalities": ["text"],
    "logit_scale": 100.0,
    "note": "random bag-of-words projection for benchmarks and tests; no semantic quality",
}, indent=2) + "\n")
print(f"wrote {OUT}")
