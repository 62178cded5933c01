#!/usr/bin/env python3
"""sources.py PHOTO DIR: the orientation workloads' sources of tests/bench/throughput.

Writes into DIR, from the JPEG PHOTO:
  phone-12mp.jpg     PHOTO re-encoded (baseline, quality 90, no metadata);
  phone-12mp-o6.jpg  the same bytes with an EXIF block holding Orientation = 6
                     (stored landscape, shown portrait, as phone cameras write it);
  photo-12mp.png     PHOTO as a PNG.
"""
import os
import struct
import subprocess
import sys


def exif_orientation_segment(orientation):
    """An APP1 segment: "Exif", a little-endian TIFF header and one IFD with one SHORT entry."""
    entry = struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff = b"II" + struct.pack("<HI", 42, 8) + struct.pack("<H", 1) + entry + struct.pack("<I", 0)
    payload = b"Exif\0\0" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def main(photo, d):
    plain = os.path.join(d, "phone-12mp.jpg")
    subprocess.run(["vips", "copy", photo, plain + "[Q=90,strip]"], check=True, timeout=300)
    subprocess.run(["vips", "copy", photo, os.path.join(d, "photo-12mp.png")], check=True,
                   timeout=300)
    with open(plain, "rb") as f:
        data = f.read()
    if data[:2] != b"\xff\xd8":
        sys.exit("sources.py: %s is not a JPEG" % plain)
    with open(os.path.join(d, "phone-12mp-o6.jpg"), "wb") as f:
        f.write(data[:2] + exif_orientation_segment(6) + data[2:])
    for name in ("phone-12mp.jpg", "phone-12mp-o6.jpg", "photo-12mp.png"):
        os.chmod(os.path.join(d, name), 0o644)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: sources.py PHOTO DIR")
    main(sys.argv[1], sys.argv[2])
