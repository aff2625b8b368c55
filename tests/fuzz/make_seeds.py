#!/usr/bin/python3
"""Writes the fuzzers' seed corpus (tests/fuzz/seeds/): tiny JPEGs and PNGs covering the decoder
paths (subsampling, progressive, grey, CMYK, EXIF orientation, every PNG colour type), made with
Debian's python3-pil. Run once; the seeds are committed."""
import os
from PIL import Image

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
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
