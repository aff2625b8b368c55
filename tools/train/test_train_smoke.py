"""train.py end to end in miniature (--smoke: 1,024 images, one epoch per step) into a temporary
directory; the exported models must load in the C++ engine (beit-run) and reproduce the PyTorch
outputs train.py wrote beside them within 1e-4.

Run: /usr/bin/python3 tools/train/test_train_smoke.py BEIT_RUN_BINARY
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main(beit_run):
    failures = []
    with tempfile.TemporaryDirectory(prefix="beit-train-smoke-") as tmp:
        subprocess.run([sys.executable, os.path.join(HERE, "train.py"), "--smoke", "--work", f"{tmp}/work",
                        "--export", f"{tmp}/models", "--golden", f"{tmp}/golden"], check=True,
                       env=dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2")))
        for name in ("cls", "seg", "mim"):
            model, golden = f"{tmp}/models/fashion-mnist-{name}", f"{tmp}/golden/fashion-mnist-{name}"
            for required in ("config.json", "model.safetensors", "preprocessor_config.json"):
                if not os.path.exists(os.path.join(model, required)):
                    failures.append(f"{name}: export wrote no {required}")
            out = f"{tmp}/{name}-engine.safetensors"
            subprocess.run([beit_run, "--model", model, "--inputs", f"{golden}/inputs.safetensors", "--output", out,
                            "--no-attentions", "--no-hidden-states"], check=True)
            ours, want = safetensors_io.load(out), safetensors_io.load(f"{golden}/outputs.safetensors")
            for key, tensor in want.items():
                err = (ours[key] - tensor).abs().max().item() if key in ours else float("inf")
                print(f"{name} {key}: max abs error {err:.2e}")
                if not err <= 1e-4:
                    failures.append(f"{name} {key}: max abs error {err}")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
