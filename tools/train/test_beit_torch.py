"""The training tools' PyTorch BEiT reproduces Transformers' golden outputs (tests/data/models).

Run: /usr/bin/python3 tools/train/test_beit_torch.py [fixture dirs...]; exits non-zero on any miss.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import beit_torch  # noqa: E402
import safetensors_io  # noqa: E402

TOLERANCE = 1e-4
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
# interpolate_pos_encoding and head_mask are serving-engine features the training code does not need.
FIXTURES = ["base-224", "cls-abspos-clstoken", "cls-relpos-meanpool", "mim-shared-relpos", "model-gelu-new",
            "seg-upernet", "seg-upernet-4feat"]


def compare(name, ours, want, failures):
    err = (ours.float() - want.float()).abs().max().item()
    if ours.shape != want.shape or not err <= TOLERANCE:
        failures.append(f"{name}: shape {tuple(ours.shape)} vs {tuple(want.shape)}, max abs error {err:.3g}")
    return err


def check_fixture(folder):
    config = json.load(open(os.path.join(folder, "config.json")))
    model = beit_torch.build(config).eval()
    beit_torch.load_state(model, safetensors_io.load(os.path.join(folder, "model.safetensors")))
    inputs = safetensors_io.load(os.path.join(folder, "inputs.safetensors"))
    want = safetensors_io.load(os.path.join(folder, "outputs.safetensors"))
    with torch.no_grad():
        if "bool_masked_pos" in inputs:
            out = model(inputs["pixel_values"], inputs["bool_masked_pos"].bool())
        else:
            out = model(inputs["pixel_values"])
    beit = out
    failures, checked, worst = [], 0, 0.0
    for key, tensor in want.items():
        # debug.* internals and post-processed maps are the C++ engine's business, not training's.
        if (key.startswith("debug.") and not key.startswith(("debug.features.", "debug.auxiliary_logits"))) or key.startswith("semantic"):
            continue
        if key == "logits":
            ours = out["logits"]
        elif key == "debug.auxiliary_logits":
            ours = out["auxiliary_logits"]
        elif key.startswith("debug.features."):
            ours = out["features"][int(key.split(".")[-1])]
        else:
            field = key.split(".", 1)[1] if key.startswith("beit.") else key
            if "." in field:
                group, index = field.split(".")
                ours = beit[group][int(index)]
            else:
                ours = beit[field]
        worst = max(worst, compare(key, ours, tensor, failures))
        checked += 1
    return checked, worst, failures


def main(argv):
    folders = argv or [os.path.join(ROOT, "tests", "data", "models", f) for f in FIXTURES]
    ok = True
    for folder in folders:
        checked, worst, failures = check_fixture(folder)
        status = "ok" if not failures and checked > 0 else "FAIL"
        print(f"{status} {os.path.basename(folder)}: {checked} outputs, max abs error {worst:.2e}")
        for f in failures:
            print("   ", f)
        ok = ok and status == "ok"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
