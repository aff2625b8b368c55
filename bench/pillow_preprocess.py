#!/usr/bin/python3
"""Peer for beit-preprocess-bench: Pillow + numpy doing what BeitImageProcessor does
(load_image = open + exif_transpose + convert RGB, resize, center crop, rescale, normalize, CHW).

Usage: /usr/bin/python3 bench/pillow_preprocess.py IMAGE CONFIG.json [--min-time S]
Prints one JSON line like beit-preprocess-bench. Needs Debian's python3-pil and python3-numpy.
"""
import json, statistics, sys, time
import numpy as np
from PIL import Image, ImageOps

def main():
    image_path, config_path = sys.argv[1], sys.argv[2]
    min_time = float(sys.argv[sys.argv.index("--min-time") + 1]) if "--min-time" in sys.argv else 3.0
    cfg = json.load(open(config_path))
    size = cfg.get("size", {"height": 256, "width": 256})
    if isinstance(size, int):
        size = {"height": size, "width": size}
    crop = cfg.get("crop_size", {"height": 224, "width": 224})
    if isinstance(crop, int):
        crop = {"height": crop, "width": crop}
    do_crop = cfg.get("do_center_crop", True)
    resample = cfg.get("resample", 3)
    mean = np.array(cfg.get("image_mean", [0.5] * 3), dtype=np.float32)
    std = np.array(cfg.get("image_std", [0.5] * 3), dtype=np.float32)
    factor = cfg.get("rescale_factor", 1 / 255)
    data = open(image_path, "rb").read()
    import io

    def once():
        img = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
        img = img.resize((size["width"], size["height"]), resample=resample, reducing_gap=None)
        a = np.asarray(img)
        if do_crop:
            top = (a.shape[0] - crop["height"]) // 2
            left = (a.shape[1] - crop["width"]) // 2
            a = a[top:top + crop["height"], left:left + crop["width"]]
        x = (a.astype(np.float64) * factor).astype(np.float32)
        x = (x - mean) / std
        return np.ascontiguousarray(x.transpose(2, 0, 1))[None]

    once()
    ms = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time or len(ms) < 5:
        t0 = time.perf_counter()
        once()
        ms.append((time.perf_counter() - t0) * 1000)
    ms.sort()
    print(json.dumps({"name": "pillow-numpy-preprocess", "image": image_path, "runs": len(ms),
                      "ms_per_image": round(statistics.median(ms), 3),
                      "ms_p10": round(ms[len(ms) // 10], 3), "ms_p90": round(ms[len(ms) * 9 // 10], 3)}))

main()
