#!/usr/bin/python3
"""Pillow's own Image.resize for pillow_resize_test: reads raw 8-bit pixels, writes raw pixels.

Usage: pillow_resize_reference.py IN.raw WIDTH HEIGHT CHANNELS OUT_WIDTH OUT_HEIGHT FILTER OUT.raw
CHANNELS is 1 (mode L) or 3 (RGB); FILTER is PIL's integer code. Debian's python3-pil.
"""
import sys
from PIL import Image

src, w, h, c, ow, oh, f, dst = sys.argv[1:9]
mode = {"1": "L", "3": "RGB"}[c]
image = Image.frombytes(mode, (int(w), int(h)), open(src, "rb").read())
# reducing_gap=None: the plain convolution, as BeitImageProcessor's PIL path calls it.
open(dst, "wb").write(image.resize((int(ow), int(oh)), resample=int(f), reducing_gap=None).tobytes())
