"""Writing an image tower into a model directory: onnx/vision_model.onnx (pixel_values
[N,3,size,size] -> image_embeds) and preprocessor_config.json (shortest edge to size, centre
crop, rescale, normalise), as `dyntag` and Hugging Face's CLIPImageProcessor read them.
Used by train_image_tower.py and train_drawing_tower.py."""

import json
from pathlib import Path

import torch


def export_vision(model, out: Path, size: int, resample: int, mean, std) -> Path:
    """`resample`: PIL's numbering, 2 bilinear, 3 bicubic. Returns the ONNX file's path."""
    (out / "onnx").mkdir(parents=True, exist_ok=True)
    path = out / "onnx" / "vision_model.onnx"
    torch.onnx.export(model, (torch.zeros(2, 3, size, size),), str(path),
                      input_names=["pixel_values"], output_names=["image_embeds"],
                      dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
                      opset_version=17, dynamo=False)
    pre = {
        "image_processor_type": "CLIPImageProcessor",
        "do_convert_rgb": True,
        "do_resize": True,
        "size": {"shortest_edge": size},
        "resample": resample,
        "do_center_crop": True,
        "crop_size": {"height": size, "width": size},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": list(mean),
        "image_std": list(std),
    }
    (out / "preprocessor_config.json").write_text(json.dumps(pre, indent=2) + "\n")
    return path
