"""Fashion-MNIST as Debian's dataset-fashion-mnist package installs it, plus the tensors training uses.

Images are 28x28 8-bit grayscale, white garment on black. The model sees what the serving image
processor makes of a grayscale PNG: the gray value in all three channels, rescaled by 1/255 and
normalised with mean 0.5 and std 0.5 (preprocessor_config.json), at 28x28 (resize is identity).
"""
import gzip
import os

import numpy as np
import torch

DATA_DIR = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# Segmentation: a pixel belongs to the garment when its gray value is at least this (see README).
FOREGROUND_THRESHOLD = 32


def load(split):
    """(images uint8 [N, 28, 28], labels int64 [N]) for split 'train' (60,000) or 'test' (10,000)."""
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(os.path.join(DATA_DIR, f"{prefix}-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(DATA_DIR, f"{prefix}-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{split}: {len(images)} images but {len(labels)} labels")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels)


def pixel_values(images):
    """uint8 [N, 28, 28] -> float32 [N, 3, 28, 28], bit for bit as BeitImageProcessor makes them
    (rescale in float64 then float32, normalise in float32)."""
    x = (images.double() * (1 / 255)).float()
    x = (x - 0.5) / 0.5
    return x.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def segmentation_labels(images, labels):
    """Per-pixel labels: 0 = background, 1 + class where the gray value >= FOREGROUND_THRESHOLD."""
    fg = images >= FOREGROUND_THRESHOLD
    return torch.where(fg, labels.view(-1, 1, 1) + 1, torch.zeros_like(labels).view(-1, 1, 1))


def augment(images, generator):
    """Random horizontal flip per image (garments are left-right symmetric; images are centred, so
    no shifts: the short schedules here learn faster without them)."""
    flip = torch.rand(images.shape[0], generator=generator) < 0.5
    return torch.where(flip.view(-1, 1, 1), images.flip(-1), images)
