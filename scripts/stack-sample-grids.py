#!/usr/bin/env python3
"""scripts/stack-sample-grids.py OUT.png SAMPLES_DIR [SAMPLES_DIR...] [--classes 2,6]: stacks the per-class grids
(SAMPLES_DIR/grids/class-<c>.png as `rq sample` writes them) of one or more `rq sample` outputs into one PNG:
one band per class, top to bottom (class order), holding the class's grid of each SAMPLES_DIR left to right
in the order given, separated by 4-pixel grey gaps. Python 3 + numpy + zlib only (8-bit RGB/RGBA PNGs; alpha is put on white)."""
import struct, sys, zlib
import numpy as np


def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), f"{path}: only 8-bit RGB/RGBA, got depth {depth} type {ctype}"
            ch = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * ch
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        if f == 0:
            cur = line
        elif f == 2:
            cur = (line + prev) & 255
        else:
            cur = np.zeros(stride, np.int32)
            for x in range(stride):
                a = cur[x - ch] if x >= ch else 0
                b = prev[x]
                c = prev[x - ch] if x >= ch else 0
                if f == 1:
                    p = a
                elif f == 3:
                    p = (a + b) // 2
                else:  # Paeth
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (line[x] + p) & 255
        out[y] = cur
        prev = cur
    img = out.reshape(h, w, ch)
    if ch == 4:
        alpha = img[..., 3:4].astype(np.float32) / 255
        img = (img[..., :3] * alpha + 255 * (1 - alpha)).round().astype(np.uint8)
    return img


def write_png(path, img):
    h, w, _ = img.shape
    flat = img.reshape(h, w * 3).astype(np.int16)
    sub = np.concatenate([flat[:, :3], flat[:, 3:] - flat[:, :-3]], axis=1) % 256  # filter 1 (Sub)
    raw = b"".join(b"\x01" + sub[y].astype(np.uint8).tobytes() for y in range(h))
    chunk = lambda k, b: struct.pack(">I", len(b)) + k + b + struct.pack(">I", zlib.crc32(k + b) & 0xFFFFFFFF)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main(argv):
    classes = None
    if "--classes" in argv:
        i = argv.index("--classes")
        classes = [int(c) for c in argv[i + 1].split(",")]
        argv = argv[:i] + argv[i + 2:]
    out, dirs = argv[0], argv[1:]
    if classes is None:
        import glob, re
        classes = sorted(int(re.search(r"class-(\d+)", p).group(1)) for p in glob.glob(dirs[0] + "/grids/class-*.png"))
    rows = []
    for c in classes:
        grids = [read_png(f"{d}/grids/class-{c}.png") for d in dirs]
        h = max(g.shape[0] for g in grids)
        band = []
        for g in grids:
            band += [np.pad(g, ((0, h - g.shape[0]), (0, 0), (0, 0)), constant_values=255),
                     np.full((h, 4, 3), 160, np.uint8)]
        rows.append(np.concatenate(band[:-1], axis=1))
        rows.append(np.full((4, rows[-1].shape[1], 3), 160, np.uint8))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows[:-1]]
    write_png(out, np.concatenate(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
