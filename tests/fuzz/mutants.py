#!/usr/bin/env python3
"""mutants.py SEED_DIR OUT_DIR COUNT [RANDOM_SEED]: writes COUNT mutated copies
of the files in SEED_DIR to OUT_DIR, for a replay through a libFuzzer binary
(`fuzz_loaders -runs=0 OUT_DIR` runs every file once).

libFuzzer's guidance needs coverage from the code under test; Debian's libjxl
and libheif are not instrumented, so for the `loaders` target libFuzzer drops
most seeds and mutates tiny inputs. This writes blind mutants of whole files
instead: a few flipped bits, bytes set to boundary values, a truncation, a
repeated or removed chunk, random bytes inserted; byte 0 (the loader
selector of fuzz_loaders) is kept.
"""
import os
import random
import sys


def mutate(rnd, data):
    head, body = data[:1], bytearray(data[1:])
    for _ in range(rnd.randint(1, 4)):
        if not body:
            break
        op = rnd.randrange(6)
        i = rnd.randrange(len(body))
        if op == 0:
            body[i] ^= 1 << rnd.randrange(8)
        elif op == 1:
            body[i] = rnd.choice((0, 1, 0x7F, 0x80, 0xFE, 0xFF))
        elif op == 2:
            del body[i:]
        elif op == 3:
            n = rnd.randint(1, 64)
            body[i:i] = body[i:i + n]
        elif op == 4:
            del body[i:i + rnd.randint(1, 64)]
        else:
            body[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 16)))
    return bytes(head + body)


def main():
    seed_dir, out_dir, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rnd = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    seeds = []
    for name in sorted(os.listdir(seed_dir)):
        with open(os.path.join(seed_dir, name), "rb") as f:
            seeds.append((name, f.read()))
    os.makedirs(out_dir, exist_ok=True)
    for k in range(count):
        name, data = seeds[k % len(seeds)]
        with open(os.path.join(out_dir, "%s.%06d" % (name, k)), "wb") as f:
            f.write(mutate(rnd, data))


if __name__ == "__main__":
    main()
