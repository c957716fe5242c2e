#!/usr/bin/env python3
"""Where a backbone forward pass spends its time, layer group by layer group: ONNX Runtime's node profile
next to the host path's `--profile` table of `cargo run --release --example throughput`.

Usage: python3 benches/ort_profile.py [--shared ../shared] [--threads 2] [--seconds 8]
           [--networks xception,densenet121] [--batches 1,8] [--wscxr PATH | --wscxr none]
Needs `pip install numpy onnxruntime`. For each network and batch size it runs the ONNX model (same
inputs, thread count and deepest tap as benches/ort_backbone.py, default graph optimisation
ORT_ENABLE_ALL) with `enable_profiling`, sums the `*_kernel_time` node events of the timed runs (warm-up
runs left out) per node, and maps every node to the group labels the host path prints. With `--wscxr`
(default: the release build of the throughput example in $HOME/.cache/wscxr-target, if it exists) it
also runs `throughput --network N --batch B --seconds S --profile` (RAYON_NUM_THREADS=--threads) and
prints `| layers | wscxr ms | ONNX Runtime ms | ratio |`, ratio = wscxr / ONNX Runtime, then ONNX
Runtime's time per op type.

Mapping notes. With ORT_ENABLE_ALL (NCHWc transformer) ORT names a fused conv after the LAST node of the
chain it replaced (checked against `--opt disable`; `--opt extended`'s FusedConv keeps the conv's name,
also mapped): in Xception `block2_sepconv2_act_nchwc` is block2 sepconv1's pointwise conv +
BN + the ReLU that starts sepconv2, `blockK_sepconvN_bn_nchwc` is sepconvN's pointwise conv + BN; the
residual conv of blocks 2-3 absorbs the `add` (so those blocks' "max pool + add" is only the pool). In
DenseNet `relu1_bn_bn` is norm1 + relu1, `relu2` is conv1 + norm2 + relu2; concatenations (`cat_in`, the
block's final concat) count to the block's "norm1 + conv1" group. Layout reorders, reshapes, identities
and what ORT runs past the tap (DenseNet's norm5 and classifier) go to "other"; `--opt` changes the ORT
optimisation level, e.g. to check the mapping against the unfused graph.
"""
import argparse, collections, json, os, re, subprocess, tempfile, time
import numpy as np
import onnxruntime as ort

DEFAULT_WSCXR = os.path.expanduser('~/.cache/wscxr-target/release/examples/throughput')
OPT = {'disable': 'ORT_DISABLE_ALL', 'basic': 'ORT_ENABLE_BASIC', 'extended': 'ORT_ENABLE_EXTENDED',
       'all': 'ORT_ENABLE_ALL'}


def strip(name):
    name = name.replace('/', '.').strip('.')
    return re.sub(r'(_nchwc|_token_\d+)+$', '', name)


def xception_group(name, op):
    n = strip(name)
    m = re.fullmatch(r'add(?:_(\d+))?', n)
    if m:
        k = int(m.group(1) or 0) + 2
        return 'blocks 5-12' if 5 <= k <= 12 else f'block{k} max pool + add'
    m = re.fullmatch(r'block(\d+)_(.*)', n)
    if not m:
        return 'other'
    k, rest = int(m.group(1)), m.group(2)
    if 5 <= k <= 12:
        return 'blocks 5-12'
    if k == 1 and rest[:5] in ('conv1', 'conv2'):
        return f'block1 {rest[:5]}'
    if rest.startswith('residual'):
        return f'block{k} residual'
    if rest.startswith('pool'):
        return f'block{k} max pool + add'
    m = re.fullmatch(r'sepconv(\d)(.*)', rest)
    if m:
        j = int(m.group(1))
        if m.group(2) == '_act' and op != 'Relu':  # a conv that ends with the next sepconv's ReLU
            j -= 1
        return f'block{k} sepconv{j}'
    return 'other'


def densenet_group(name, op):
    n = strip(name)
    if re.search(r'(^|\.)(conv0|norm0|relu0)', n):
        return 'conv0'
    if re.search(r'(^|\.)pool0', n):
        return 'pool0'
    m = re.search(r'denseblock(\d+)\.denselayer\d+\.(\w+)', n)
    if m:
        part = 'conv2 3x3' if m.group(2).startswith('conv2') else 'norm1 + conv1 1x1'
        return f'denseblock{m.group(1)} {part}'
    m = re.search(r'denseblock(\d+)$', n)
    if m:
        return f'denseblock{m.group(1)} norm1 + conv1 1x1'
    m = re.search(r'transition(\d+)', n)
    return f'transition{m.group(1)}' if m else 'other'


NETS = {
    'xception': ('weights/xception_imagenet_b13.onnx', 'block13_out', xception_group),
    'densenet121': ('fixtures/densenet121_synthetic.onnx', 'denseblock4', densenet_group),
}


def ort_profile(path, tap, batch, a):
    """Runs ORT with profiling; returns ({node: (op, ms per run)} in execution order, runs, wall ms/run)."""
    with tempfile.TemporaryDirectory(prefix='ort_profile_') as tmp:
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPT[a.opt])
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tmp, 'ort')
        sess = ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])
        feed = {sess.get_inputs()[0].name: np.random.default_rng(0).random((batch, 3, 256, 256), dtype=np.float32)}
        for _ in range(a.warmup):
            sess.run([tap], feed)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < a.seconds or n < 3:
            sess.run([tap], feed)
            n += 1
        wall = (time.perf_counter() - t0) / n * 1e3
        with open(sess.end_profiling()) as f:
            events = json.load(f)
    runs = [e for e in events if e.get('cat') == 'Session' and e.get('name') == 'model_run'][-n:]
    spans = [(r['ts'], r['ts'] + r['dur']) for r in runs]
    nodes = collections.OrderedDict()
    for e in events:
        if e.get('cat') != 'Node' or not e['name'].endswith('_kernel_time'):
            continue
        if not any(s <= e['ts'] <= t for s, t in spans):
            continue  # a warm-up run
        op, us = nodes.get(e['name'][:-len('_kernel_time')], (e['args'].get('op_name', '?'), 0.0))
        nodes[e['name'][:-len('_kernel_time')]] = (op, us + e['dur'])
    return {k: (op, us / 1e3 / n) for k, (op, us) in nodes.items()}, n, wall


def wscxr_profile(binary, net, batch, a):
    """Runs the throughput example; returns ([(label, ms)], total ms, its 'passes ... ms per batch' line)."""
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
    out = subprocess.run([binary, '--network', net, '--batch', str(batch), '--seconds', str(a.seconds), '--profile'],
                         capture_output=True, text=True, env=env, check=True).stdout
    rows, total, passes = [], None, ''
    for line in out.splitlines():
        m = re.match(r'\|\s*(.+?)\s*\|\s*([\d.]+)\s*\|', line)
        if m and m.group(1) == 'total':
            total = float(m.group(2))
        elif m:
            rows.append((m.group(1), float(m.group(2))))
        elif 'passes in' in line:
            passes = line.strip()
    return rows, total, passes


def fmt(x):
    return '-' if x is None else f'{x:.1f}'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--shared', default=os.path.join(os.path.dirname(__file__), '..', '..', 'shared'))
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seconds', type=float, default=8.0)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--networks', default='xception,densenet121')
    ap.add_argument('--batches', default='1,8')
    ap.add_argument('--wscxr', default=DEFAULT_WSCXR if os.path.exists(DEFAULT_WSCXR) else 'none')
    ap.add_argument('--opt', default='all', choices=sorted(OPT))
    a = ap.parse_args()
    binary = None if a.wscxr == 'none' else a.wscxr
    print(f'onnxruntime {ort.__version__} ({OPT[a.opt]}), {a.threads} intra-op threads, 256x256 input, deepest tap; '
          f'ms per batch; ratio = wscxr / ONNX Runtime')
    for net in a.networks.split(','):
        rel, tap, group = NETS[net]
        for batch in [int(b) for b in a.batches.split(',')]:
            nodes, n, wall = ort_profile(os.path.join(a.shared, rel), tap, batch, a)
            groups, ops = collections.OrderedDict(), collections.Counter()
            for name, (op, ms) in nodes.items():
                g = group(name, op)
                groups[g] = groups.get(g, 0.0) + ms
                ops[op] += ms
            ort_total = sum(groups.values())
            rows, w_total, passes = wscxr_profile(binary, net, batch, a) if binary else ([], None, '')
            print(f'\n### {net} to {tap}, batch {batch}\n')
            print(f'ONNX Runtime: {n} timed runs, {wall:.1f} ms per batch wall ({batch * 1e3 / wall:.2f} images/s), '
                  f'node kernels {ort_total:.1f} ms' + (f'; wscxr: {passes}' if passes else ''))
            print('\n| layers | wscxr ms | ONNX Runtime ms | ratio |\n|---|---|---|---|')
            used = set()
            for label, ms in rows:
                key = next((g for g in groups if g != 'other' and g not in used
                            and re.match(re.escape(g) + r'(\b|$)', label)), None)
                used.add(key)
                o = groups.get(key)
                print(f'| {label} | {ms:.1f} | {fmt(o)} | {f"{ms / o:.2f}" if o and min(ms, o) >= 0.05 else ""} |')
            for g, o in groups.items():
                if g not in used:
                    print(f'| {g} | - | {o:.1f} | |')
            ratio = f'{w_total / ort_total:.2f}' if w_total else ''
            print(f'| total | {fmt(w_total)} | {ort_total:.1f} | {ratio} |')
            print('\n| ONNX Runtime op type | ms per batch | share |\n|---|---|---|')
            for op, ms in ops.most_common():
                print(f'| {op} | {ms:.1f} | {100 * ms / ort_total:.0f}% |')
            print(flush=True)


if __name__ == '__main__':
    main()
