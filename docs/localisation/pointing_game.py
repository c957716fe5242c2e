#!/usr/bin/env python3
"""Pointing game of `wscxr score --maps` output, computed outside the project (NumPy only).

Usage: pointing_game.py MAPS_DIR BOXES_CSV
For every boxed image with a map MAPS_DIR/<stem>.npy (float32, shape = the image's height x width):
is the map's maximum pixel (its centre) inside one of the image's boxes? Prints the overall rate,
its chance level (mean share of the image inside boxes) and the rate per finding.
"""
import csv, os, sys
from collections import defaultdict
import numpy as np

maps_dir, boxes_csv = sys.argv[1], sys.argv[2]
boxes = defaultdict(list)
for r in csv.DictReader(open(boxes_csv)):
    boxes[r['image']].append((r['finding'], *(float(r[k]) for k in 'xywh')))
hits, shares, per = [], [], defaultdict(list)
for image, bs in sorted(boxes.items()):
    path = os.path.join(maps_dir, os.path.splitext(os.path.basename(image))[0] + '.npy')
    if not os.path.exists(path):
        continue
    m = np.load(path)
    assert m.dtype == np.float32 and m.ndim == 2 and np.isfinite(m).all(), path
    y, x = np.unravel_index(int(m.argmax()), m.shape)
    cy, cx = y + 0.5, x + 0.5
    yy, xx = np.mgrid[0:m.shape[0], 0:m.shape[1]] + 0.5
    inside = np.zeros(m.shape, bool)
    found = defaultdict(bool)
    for f, bx, by, bw, bh in bs:
        inside |= (xx >= bx) & (xx < bx + bw) & (yy >= by) & (yy < by + bh)
        found[f] |= bx <= cx < bx + bw and by <= cy < by + bh
    hits.append(inside[y, x]); shares.append(inside.mean())
    for f, h in found.items():
        per[f].append(h)
print(f"images {len(hits)}  pointing game {np.mean(hits):.3f}  chance {np.mean(shares):.3f}")
print('  '.join(f"{f} {np.mean(h):.2f}" for f, h in sorted(per.items())))
