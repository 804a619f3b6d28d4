"""The default model's text tower in Python (ONNX Runtime + tokenizers), for the sample scripts."""

from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "default"


class TextTower:
    def __init__(self, model_dir: Path = MODEL_DIR, max_length: int = 128):
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding()
        # As dyntag runs it: no fusion of the weight-only int8 MatMuls into integer
        # kernels (those quantise activations, with results that depend on the CPU).
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        self.session = ort.InferenceSession(
            str(model_dir / "onnx" / "text_model.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.output = self.session.get_outputs()[0].name

    def embed(self, texts, batch: int = 64) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch):
            enc = self.tokenizer.encode_batch(list(texts[i : i + batch]))
            feeds = {
                "input_ids": np.array([e.ids for e in enc], np.int64),
                "attention_mask": np.array([e.attention_mask for e in enc], np.int64),
            }
            if "token_type_ids" in self.inputs:
                feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
            out.append(self.session.run([self.output], feeds)[0])
        x = np.concatenate(out).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)
