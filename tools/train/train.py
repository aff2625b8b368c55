"""BEiT's recipe at small scale on Fashion-MNIST: visual tokenizer, MIM pre-training, fine-tuning
(classification and UperNet segmentation), the ablation against training from scratch, and export
of the served models in Hub layout.

    /usr/bin/python3 tools/train/train.py [steps...] [--work DIR] [--export DIR]

Steps (default: all, in order): tokenizer, mim, cls, seg, ablation, export. Each step caches its
result in the work directory, so a re-run resumes; delete the directory to start over. Seeds are
fixed; on 2 CPU cores the whole run takes about 65 minutes (times are recorded in metrics.json).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import beit_torch  # noqa: E402
import blockwise_masking  # noqa: E402
import fashion_mnist  # noqa: E402
import safetensors_io  # noqa: E402
import visual_tokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
SEED = 20261129
VOCAB_SIZE = 128
MASK_RATIO = 0.4
GRID = 7  # 28x28 images, 4x4 patches

# One backbone for all three models, so every fine-tuning starts from the same pre-training.
BACKBONE = {
    "model_type": "beit",
    "image_size": 28,
    "patch_size": 4,
    "num_channels": 3,
    "hidden_size": 64,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "intermediate_size": 256,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "layer_scale_init_value": 0.1,
    "drop_path_rate": 0.1,
    "use_absolute_position_embeddings": False,
    "use_mean_pooling": True,
    "vocab_size": VOCAB_SIZE,
    "out_indices": [1, 2, 3, 4],
    "out_features": ["stage1", "stage2", "stage3", "stage4"],
    "stage_names": ["stem", "stage1", "stage2", "stage3", "stage4"],
    "pool_scales": [1, 2, 3, 6],
    "use_auxiliary_head": True,
    "auxiliary_loss_weight": 0.4,
    "auxiliary_channels": 32,
    "auxiliary_num_convs": 1,
    "auxiliary_concat_input": False,
    "semantic_loss_ignore_index": 255,
    "add_fpn": False,
    "reshape_hidden_states": True,
    "dtype": "float32",
}
SEG_LABELS = ["background"] + fashion_mnist.LABELS

SCHEDULE = {  # epochs over the 60,000 training images (10 % runs: over their 6,000)
    "mim": 6,
    "cls": 10,
    "cls_10pct": 50,
    "seg": 2,
}
SEG_TRAIN_IMAGES = 20_000
FINETUNE = {"lr": 2e-3, "layer_decay": 0.9, "label_smoothing": 0.0, "drop_path_rate": 0.0, "batch_size": 64}
SMOKE = {"images": 0}  # --smoke: use only this many images per split


def model_config(architecture, labels=None, **overrides):
    config = dict(BACKBONE, architectures=[architecture], **overrides)
    if labels is not None:
        config["id2label"] = {str(i): name for i, name in enumerate(labels)}
        config["label2id"] = {name: i for i, name in enumerate(labels)}
    return config


def mim_config():
    return model_config("BeitForMaskedImageModeling", use_mask_token=True, use_relative_position_bias=False,
                        use_shared_relative_position_bias=True)


def finetune_config(architecture, labels):
    return model_config(architecture, labels, use_mask_token=False, use_relative_position_bias=True,
                        use_shared_relative_position_bias=False)


def init_weights(model, std):
    """Transformers' BEiT init: N(0, 0.02) Linear/patch weights and tokens, zero biases and tables."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or name.endswith("patch_embeddings.projection"):
            torch.nn.init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
    emb = model.beit.embeddings
    torch.nn.init.trunc_normal_(emb.cls_token, std=std)
    if emb.mask_token is not None:
        torch.nn.init.trunc_normal_(emb.mask_token, std=std)


def param_groups(model, lr, weight_decay, layer_decay):
    """No decay on biases, norms, tokens, tables and layer scales; optional layer-wise lr decay."""
    num_layers = len(model.beit.encoder.layer)
    groups = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim == 1 or name.endswith(("cls_token", "mask_token", "relative_position_bias_table"))
        if name.startswith("beit.embeddings") or name.startswith("beit.encoder.relative_position_bias"):
            depth = 0
        elif name.startswith("beit.encoder.layer."):
            depth = int(name.split(".")[3]) + 1
        else:
            depth = num_layers + 1
        scale = layer_decay ** (num_layers + 1 - depth)
        key = (depth, no_decay)
        groups.setdefault(key, {"params": [], "lr_scale": scale, "weight_decay": 0.0 if no_decay else weight_decay})
        groups[key]["params"].append(p)
    return [dict(g, lr=lr * g["lr_scale"]) for g in groups.values()]


def train_loop(model, step_fn, num_examples, epochs, batch_size, lr, seed, layer_decay=1.0, weight_decay=0.05,
               log="", evaluate=None):
    """AdamW with linear warm-up (1 epoch or 10 %) and cosine decay; step_fn(indices, gen) -> loss."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(param_groups(model, lr, weight_decay, layer_decay), lr=lr, betas=(0.9, 0.999))
    steps_per_epoch = max(1, num_examples // batch_size)
    total = epochs * steps_per_epoch
    warmup = max(1, min(steps_per_epoch, total // 10))
    step = 0
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(num_examples, generator=g)
        running, seen, start = 0.0, 0, time.time()
        for i in range(steps_per_epoch):
            factor = (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
            for group in opt.param_groups:
                group["lr"] = lr * group["lr_scale"] * factor
            loss = step_fn(order[i * batch_size:(i + 1) * batch_size], g)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 3.0)
            opt.step()
            running += loss.item()
            seen += 1
            step += 1
        note = ""
        if evaluate is not None:
            note = f", {evaluate()}"
            model.train()
        print(f"  {log} epoch {epoch + 1}/{epochs}: loss {running / seen:.4f} ({time.time() - start:.0f} s{note})",
              flush=True)
    model.eval()


class Run:
    """The work directory: cached step results and the metrics collected along the way."""

    def __init__(self, work):
        self.work = work
        os.makedirs(work, exist_ok=True)
        self.metrics_path = os.path.join(work, "metrics.json")
        self.metrics = json.load(open(self.metrics_path)) if os.path.exists(self.metrics_path) else {}
        self._data = {}

    def data(self, split):
        if split not in self._data:
            images, labels = fashion_mnist.load(split)
            if SMOKE["images"]:
                images, labels = images[:SMOKE["images"]], labels[:SMOKE["images"]]
            self._data[split] = images, labels
        return self._data[split]

    def path(self, name):
        return os.path.join(self.work, name)

    def record(self, key, value):
        self.metrics[key] = value
        with open(self.metrics_path, "w") as f:
            json.dump(self.metrics, f, indent=2, sort_keys=True)

    def save_model(self, name, model, config):
        torch.save({"config": config, "state": model.state_dict()}, self.path(name + ".pt"))

    def load_model(self, name):
        saved = torch.load(self.path(name + ".pt"))
        model = beit_torch.build(saved["config"])
        model.load_state_dict(saved["state"])
        return model.eval(), saved["config"]


def step_tokenizer(run):
    images, _ = run.data("train")
    start = time.time()
    centroids = visual_tokenizer.fit(images, VOCAB_SIZE, SEED)
    safetensors_io.save({"codebook": centroids}, run.path("visual_tokenizer.safetensors"),
                        {"format": "k-means centroids of 4x4 gray patches in [0,1], row-major; token = nearest"})
    run.record("time_s.tokenizer", round(time.time() - start, 1))


def load_codebook(run):
    return safetensors_io.load(run.path("visual_tokenizer.safetensors"))["codebook"]


def step_mim(run):
    torch.manual_seed(SEED)
    images, _ = run.data("train")
    tokens = visual_tokenizer.tokenize(images, load_codebook(run))
    config = mim_config()
    model = beit_torch.build(config)
    init_weights(model, config["initializer_range"])
    rng = blockwise_masking.make_rng(SEED)

    def step(idx, g):
        x = fashion_mnist.pixel_values(images[idx])
        mask = blockwise_masking.batch_masks(len(idx), GRID, GRID, MASK_RATIO, rng)
        logits = model(x, mask)["logits"]
        return F.cross_entropy(logits[mask], tokens[idx][mask])

    start = time.time()
    train_loop(model, step, len(images), SCHEDULE["mim"], 256, 1.5e-3, SEED, log="mim")
    run.record("time_s.mim", round(time.time() - start, 1))
    run.save_model("mim", model, config)


def from_pretrained(run, config):
    """A fine-tuning model initialised from the MIM backbone; the shared relative position bias
    table is copied into every layer (BEiT's fine-tuning start)."""
    mim, _ = run.load_model("mim")
    model = beit_torch.build(config)
    init_weights(model, config["initializer_range"])
    state = {k: v for k, v in mim.state_dict().items() if k.startswith("beit.") and "mask_token" not in k}
    table = state.pop("beit.encoder.relative_position_bias.relative_position_bias_table")
    for i in range(config["num_hidden_layers"]):
        state[f"beit.encoder.layer.{i}.attention.attention.relative_position_bias.relative_position_bias_table"] = table
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"unexpected keys {result.unexpected_keys}")
    return model


def scratch(config):
    model = beit_torch.build(config)
    init_weights(model, config["initializer_range"])
    return model


@torch.no_grad()
def predict(model, images, batch=1000, key="logits"):
    model.eval()
    return torch.cat([model(fashion_mnist.pixel_values(images[i:i + batch]))[key] for i in range(0, len(images), batch)])


def finetune_classifier(run, name, pretrained, subset):
    torch.manual_seed(SEED)
    images, labels = run.data("train")
    if subset < 1.0:
        keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(SEED))[:int(subset * len(images))]
        images, labels = images[keep], labels[keep]
    config = finetune_config("BeitForImageClassification", fashion_mnist.LABELS)
    config["drop_path_rate"] = FINETUNE["drop_path_rate"]
    model = from_pretrained(run, config) if pretrained else scratch(config)

    def step(idx, g):
        x = fashion_mnist.pixel_values(fashion_mnist.augment(images[idx], g))
        return F.cross_entropy(model(x)["logits"], labels[idx], label_smoothing=FINETUNE["label_smoothing"])

    epochs = SCHEDULE["cls" if subset == 1.0 else "cls_10pct"]
    test_images, test_labels = run.data("test")

    def evaluate():  # on the first 2,000 test images, for the learning curve in the log
        hits = (predict(model, test_images[:2000]).argmax(1) == test_labels[:2000]).float().mean().item()
        return f"test[:2000] {hits:.4f}"

    start = time.time()
    train_loop(model, step, len(images), epochs, FINETUNE["batch_size"], FINETUNE["lr"], SEED,
               layer_decay=FINETUNE["layer_decay"] if pretrained else 1.0, log=name,
               evaluate=evaluate if subset == 1.0 else None)
    run.record(f"time_s.{name}", round(time.time() - start, 1))
    accuracy = (predict(model, test_images).argmax(1) == test_labels).float().mean().item()
    run.record(f"accuracy.{name}", round(accuracy, 4))
    print(f"  {name}: test accuracy {accuracy:.4f}", flush=True)
    return model, config


def step_cls(run):
    model, config = finetune_classifier(run, "cls_mim_100pct", pretrained=True, subset=1.0)
    run.save_model("cls", model, config)


def segmentation_miou(pred, target, num_classes):
    ious = []
    for c in range(num_classes):
        inter = ((pred == c) & (target == c)).sum().item()
        union = ((pred == c) | (target == c)).sum().item()
        if union > 0:
            ious.append(inter / union)
    return sum(ious) / len(ious)


def step_seg(run):
    torch.manual_seed(SEED)
    images, labels = run.data("train")
    keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(SEED + 1))[:SEG_TRAIN_IMAGES]
    images, labels = images[keep], labels[keep]
    target = fashion_mnist.segmentation_labels(images, labels)
    config = finetune_config("BeitForSemanticSegmentation", SEG_LABELS)
    model = from_pretrained(run, config)

    def step(idx, g):
        out = model(fashion_mnist.pixel_values(images[idx]))
        size = target.shape[-2:]
        loss = F.cross_entropy(F.interpolate(out["logits"], size=size, mode="bilinear", align_corners=False),
                               target[idx], ignore_index=255)
        aux = F.interpolate(out["auxiliary_logits"], size=size, mode="bilinear", align_corners=False)
        return loss + config["auxiliary_loss_weight"] * F.cross_entropy(aux, target[idx], ignore_index=255)

    start = time.time()
    train_loop(model, step, len(images), SCHEDULE["seg"], 64, 1e-3, SEED, layer_decay=FINETUNE["layer_decay"], log="seg")
    run.record("time_s.seg", round(time.time() - start, 1))
    test_images, test_labels = run.data("test")
    pred = predict(model, test_images, batch=500).argmax(1)
    miou = segmentation_miou(pred, fashion_mnist.segmentation_labels(test_images, test_labels), len(SEG_LABELS))
    pixel_acc = (pred == fashion_mnist.segmentation_labels(test_images, test_labels)).float().mean().item()
    run.record("seg.miou", round(miou, 4))
    run.record("seg.pixel_accuracy", round(pixel_acc, 4))
    print(f"  seg: test mIoU {miou:.4f}, pixel accuracy {pixel_acc:.4f}", flush=True)
    run.save_model("seg", model, config)


def step_ablation(run):
    for name, pretrained, subset in [("cls_scratch_100pct", False, 1.0), ("cls_mim_10pct", True, 0.1),
                                     ("cls_scratch_10pct", False, 0.1)]:
        if f"accuracy.{name}" not in run.metrics:
            finetune_classifier(run, name, pretrained, subset)


@torch.no_grad()
def mim_metrics(run):
    """Masked-token accuracy on test images vs always answering the training set's commonest token."""
    model, _ = run.load_model("mim")
    codebook = load_codebook(run)
    train_tokens = visual_tokenizer.tokenize(run.data("train")[0], codebook)
    commonest = torch.bincount(train_tokens.flatten(), minlength=VOCAB_SIZE).argmax()
    images, _ = run.data("test")
    tokens = visual_tokenizer.tokenize(images, codebook)
    mask = blockwise_masking.batch_masks(len(images), GRID, GRID, MASK_RATIO, blockwise_masking.make_rng(SEED + 7))
    correct = 0
    for i in range(0, len(images), 1000):
        logits = model(fashion_mnist.pixel_values(images[i:i + 1000]), mask[i:i + 1000])["logits"]
        correct += (logits.argmax(-1) == tokens[i:i + 1000])[mask[i:i + 1000]].sum().item()
    total = mask.sum().item()
    run.record("mim.masked_token_accuracy", round(correct / total, 4))
    run.record("mim.commonest_token_baseline", round((tokens[mask] == commonest).float().mean().item(), 4))
    run.record("mim.commonest_token", int(commonest))


@torch.no_grad()
def embedding_knn(run, sample=2000):
    """Leave-one-out 1-nearest-neighbour accuracy (cosine) of the classifier's pooled embeddings."""
    model, _ = run.load_model("cls")
    images, labels = run.data("test")
    e = F.normalize(predict(model.beit, images[:sample], key="pooler_output"), dim=1)
    sim = e @ e.T
    sim.fill_diagonal_(-2)
    run.record("embed.knn1_accuracy_2000", round((labels[:sample][sim.argmax(1)] == labels[:sample]).float().mean().item(), 4))


def preprocessor_config():
    return {
        "image_processor_type": "BeitImageProcessor",
        "do_resize": True,
        "size": {"height": 28, "width": 28},
        "resample": 2,
        "do_center_crop": False,
        "crop_size": {"height": 28, "width": 28},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "do_reduce_labels": False,
    }


def write_model_folder(folder, model, config, extra=None):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump(preprocessor_config(), f, indent=2, sort_keys=True)
        f.write("\n")
    safetensors_io.save(model.state_dict(), os.path.join(folder, "model.safetensors"), {"format": "pt"})
    for name, path in (extra or {}).items():
        with open(path, "rb") as src, open(os.path.join(folder, name), "wb") as dst:
            dst.write(src.read())


@torch.no_grad()
def write_golden(folder, model, images, masks=None):
    """PyTorch's outputs on a few test images: what the C++ engine must reproduce (1e-4)."""
    os.makedirs(folder, exist_ok=True)
    x = fashion_mnist.pixel_values(images)
    inputs = {"pixel_values": x, "images_u8": images}
    out = model(x, masks) if masks is not None else model(x)
    outputs = {"logits": out["logits"], "beit.last_hidden_state": out["last_hidden_state"]}
    if masks is not None:
        inputs["bool_masked_pos"] = masks.to(torch.uint8)
    if out.get("pooler_output") is not None:
        outputs["beit.pooler_output"] = out["pooler_output"]
    safetensors_io.save(inputs, os.path.join(folder, "inputs.safetensors"))
    safetensors_io.save(outputs, os.path.join(folder, "outputs.safetensors"))


def write_examples(run, folder):
    """For the README and tests: per class, the first test image the classifier gets right, as a
    grayscale PNG named after its label (accuracy over all test images is in metrics.json). These
    are picked, so they show the API working, not the accuracy."""
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    images, labels = run.data("test")
    model, _ = run.load_model("cls")
    predicted = predict(model, images[:1000]).argmax(1)
    for c, label in enumerate(fashion_mnist.LABELS):
        right = ((labels[:1000] == c) & (predicted == c)).nonzero()
        index = int(right[0]) if len(right) else int((labels == c).nonzero()[0])  # (an untrained --smoke model)
        slug = label.lower().replace("/", "-").replace(" ", "-")
        Image.fromarray(images[index].numpy(), mode="L").save(os.path.join(folder, f"{slug}.png"), optimize=True)


def step_export(run, export_dir, golden_dir):
    mim_metrics(run)
    embedding_knn(run)
    write_examples(run, os.path.join(export_dir, "examples"))
    test_images, _ = run.data("test")
    sample = test_images[:8]
    masks = blockwise_masking.batch_masks(8, GRID, GRID, MASK_RATIO, blockwise_masking.make_rng(SEED + 9))
    for name in ("cls", "seg", "mim"):
        model, config = run.load_model(name)
        extra = {"visual_tokenizer.safetensors": run.path("visual_tokenizer.safetensors")} if name == "mim" else None
        write_model_folder(os.path.join(export_dir, f"fashion-mnist-{name}"), model, config, extra)
        write_golden(os.path.join(golden_dir, f"fashion-mnist-{name}"), model, sample, masks if name == "mim" else None)
    with open(os.path.join(export_dir, "metrics.json"), "w") as f:
        json.dump(run.metrics, f, indent=2, sort_keys=True)
        f.write("\n")


STEPS = ["tokenizer", "mim", "cls", "seg", "ablation", "export"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("steps", nargs="*", help="subset of " + ", ".join(STEPS))
    parser.add_argument("--work", help="step cache (default build/train; build/train-smoke/work with --smoke)")
    parser.add_argument("--export", help="model folders (default tools/train/models; build/train-smoke/models)")
    parser.add_argument("--golden", help="PyTorch outputs (default tests/data/trained; build/train-smoke/golden)")
    parser.add_argument("--smoke", action="store_true",
                        help="check the pipeline end to end on 1,024 images for one epoch per step "
                             "(never writes the committed models unless told to)")
    args = parser.parse_args()
    smoke_root = os.path.join(REPO, "build", "train-smoke")
    args.work = args.work or (os.path.join(smoke_root, "work") if args.smoke else os.path.join(REPO, "build", "train"))
    args.export = args.export or (os.path.join(smoke_root, "models") if args.smoke else os.path.join(HERE, "models"))
    args.golden = args.golden or (os.path.join(smoke_root, "golden") if args.smoke
                                  else os.path.join(REPO, "tests", "data", "trained"))
    unknown = [s for s in args.steps if s not in STEPS]
    if unknown:
        parser.error(f"unknown steps {unknown}; choose from {STEPS}")
    if args.smoke:
        SMOKE["images"] = 1024
        for key in SCHEDULE:
            SCHEDULE[key] = 1
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    run = Run(args.work)
    cached = {"tokenizer": "visual_tokenizer.safetensors", "mim": "mim.pt", "cls": "cls.pt", "seg": "seg.pt"}
    for step in args.steps or STEPS:
        if step in cached and os.path.exists(run.path(cached[step])):
            print(f"{step}: cached in {run.work}", flush=True)
            continue
        print(f"{step}:", flush=True)
        if step == "export":
            step_export(run, args.export, args.golden)
        else:
            globals()[f"step_{step}"](run)
    print(json.dumps(run.metrics, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
