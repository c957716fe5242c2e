#!/usr/bin/env python3
"""ONNX Runtime's speed on the same backbones, inputs and thread count as `cargo bench --bench backbone`
and `cargo run --release --example throughput`.

Usage: python3 benches/ort_backbone.py [--shared ../shared] [--threads 2] [--seconds 8]
           [--networks xception,densenet121] [--batches 1,8] [--deepest]
Needs `pip install numpy onnxruntime`. Prints images/s per network, tap and batch size (ONNX Runtime
runs the whole graph whatever output is asked, so the rate hardly depends on the tap; `--deepest`
measures only each network's deepest tap).
"""
import argparse, os, time
import numpy as np
import onnxruntime as ort

GFLOP = {'xception': 11.29, 'densenet121': 7.40}  # per 256x256 image, to block13_out / denseblock4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--shared', default=os.path.join(os.path.dirname(__file__), '..', '..', 'shared'))
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seconds', type=float, default=8.0)
    ap.add_argument('--networks', default='xception,densenet121')
    ap.add_argument('--batches', default='1,8')
    ap.add_argument('--deepest', action='store_true')
    a = ap.parse_args()
    nets = [
        ('xception', os.path.join(a.shared, 'weights/xception_imagenet_b13.onnx'), ['block3_out', 'block4_out', 'block12_out', 'block13_out']),
        ('densenet121', os.path.join(a.shared, 'fixtures/densenet121_synthetic.onnx'), ['denseblock1', 'denseblock2', 'denseblock3', 'denseblock4']),
    ]
    wanted = a.networks.split(',')
    batches = [int(b) for b in a.batches.split(',')]
    print(f'onnxruntime {ort.__version__}, {a.threads} intra-op threads, 256x256 input')
    print('| network | tap | batch | images/s | GFLOP/s (deepest tap) |')
    print('|---|---|---|---|---|')
    for name, path, taps in nets:
        if name not in wanted:
            continue
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])
        inp = sess.get_inputs()[0].name
        for batch in batches:
            x = np.random.default_rng(0).random((batch, 3, 256, 256), dtype=np.float32)
            for tap in (taps[-1:] if a.deepest else taps):
                sess.run([tap], {inp: x})  # warm-up
                n, t0 = 0, time.perf_counter()
                while time.perf_counter() - t0 < a.seconds or n < 3:
                    sess.run([tap], {inp: x})
                    n += 1
                dt = (time.perf_counter() - t0) / n
                rate = batch / dt
                gflops = f'{rate * GFLOP[name]:.0f}' if tap == taps[-1] else ''
                print(f'| {name} | {tap} | {batch} | {rate:.1f} | {gflops} |', flush=True)


if __name__ == '__main__':
    main()
