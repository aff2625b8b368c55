#!/usr/bin/python3
"""Writes the fuzzers' seed corpora under tests/fuzz/seeds/: images/ (tiny JPEGs and PNGs covering
the decoder paths: subsampling, progressive, grey, CMYK, EXIF orientation, every PNG colour type;
made with Debian's python3-pil), safetensors/ (every dtype), config/ (config.json and
preprocessor_config.json forms, copied from tests/data) and requests/ (an RPC selector byte and a
serialized request, encoded by protoc). Run once; the seeds are committed."""
import os
from PIL import Image

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "images")
os.makedirs(out, exist_ok=True)
base = Image.new("RGB", (23, 17))
for y in range(17):
    for x in range(23):
        base.putpixel((x, y), ((x * 11) % 256, (y * 15) % 256, ((x + y) * 7) % 256))
exif = Image.Exif()
exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise
grey = base.convert("L")

base.save(f"{out}/rgb_420.jpg", quality=80)
base.save(f"{out}/rgb_444_progressive.jpg", quality=90, subsampling=0, progressive=True)
grey.save(f"{out}/gray.jpg", quality=75)
base.convert("CMYK").save(f"{out}/cmyk.jpg", quality=85)
base.save(f"{out}/exif_rotated.jpg", quality=70, exif=exif)
base.save(f"{out}/rgb.png")
base.save(f"{out}/exif_rotated.png", exif=exif)
base.convert("RGBA").save(f"{out}/rgba.png")
base.convert("LA").save(f"{out}/la.png")
base.convert("P", palette=Image.ADAPTIVE, colors=7).save(f"{out}/palette.png")
base.convert("1").save(f"{out}/bilevel.png")
grey.save(f"{out}/gray.png")
Image.frombytes("I;16", (23, 17), bytes(range(256)) * 3 + bytes(23 * 17 * 2 - 768)).save(f"{out}/gray16.png")

# safetensors seeds: every dtype the reader knows, metadata, an empty tensor.
import json
import shutil
import struct

def safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, b"", 0
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs += blob
        offset += len(blob)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + blobs)

tensors_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "safetensors")
os.makedirs(tensors_dir, exist_ok=True)
safetensors(f"{tensors_dir}/floats.safetensors", {
    "w": ("F32", [2, 3], struct.pack("<6f", 1, -2, 3.5, 0, 1e-3, 7)),
    "h": ("F16", [2], struct.pack("<2e", 1.5, -0.25)),
    "b": ("BF16", [2], b"\x80\x3f\x00\xc0"),
    "d": ("F64", [1], struct.pack("<d", 2.0)),
})
safetensors(f"{tensors_dir}/integers.safetensors", {
    "mask": ("U8", [4], b"\x00\x01\x01\x00"),
    "flag": ("BOOL", [1], b"\x01"),
    "index": ("I64", [2], struct.pack("<2q", 3, -1)),
    "empty": ("F32", [0, 4], b""),
})

# config seeds: the fixtures' config.json and the preprocessing configs (every Hub form).
config_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "config")
os.makedirs(config_dir, exist_ok=True)
data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
for model in ("cls-relpos-meanpool", "mim-shared-relpos", "seg-upernet-4feat", "cls-abspos-clstoken"):
    shutil.copy(f"{data}/models/{model}/config.json", f"{config_dir}/{model}.config.json")
for name in ("ade-640", "beit-base-224", "default", "pad-crop"):
    shutil.copy(f"{data}/preprocess/configs/{name}.json", f"{config_dir}/{name}.preprocessor_config.json")

# request seeds: one byte choosing the RPC (0 Classify, 1 Segment, 2 Embed, 3 PredictTokens), then
# the message serialized by protoc from text format.
import subprocess

requests_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds", "requests")
os.makedirs(requests_dir, exist_ok=True)
proto_root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
pixels = "image { pixel_values { shape: 3 shape: 32 shape: 32 " + "data: 0.5 " * (3 * 32 * 32) + "} }"
requests = {
    "classify_encoded": (0, "ClassifyRequest", 'model: "fuzz" image { encoded: "\\x89PNG" } top_k: 3'),
    "classify_pixels": (0, "ClassifyRequest", 'model: "fuzz" top_k: 2 ' + pixels),
    "segment_sized": (1, "SegmentRequest", 'model: "fuzz" image { encoded: "abc" } output_height: 50 '
                                           'output_width: 70 return_png: true return_scores: true'),
    "embed_layers": (2, "EmbedRequest", 'model: "fuzz" image { encoded: "abc" } l2_normalize: true layers: 0 '
                                        'layers: 2 include_cls: true include_mean: true include_patches: true'),
    "tokens_ratio": (3, "PredictTokensRequest", 'model: "fuzz" image { encoded: "abc" } mask_ratio: 0.4 seed: 7 top_k: 5'),
    "tokens_mask": (3, "PredictTokensRequest", 'model: "fuzz" image { encoded: "abc" } ' + "mask: true mask: false " * 32),
}
for name, (selector, message, text) in requests.items():
    encoded = subprocess.run(["protoc", f"--encode=beit.v1.{message}", f"-I{proto_root}", "beit/v1/beit_service.proto"],
                             input=text.encode(), capture_output=True, check=True).stdout
    with open(f"{requests_dir}/{name}.bin", "wb") as f:
        f.write(bytes([selector]) + encoded)
