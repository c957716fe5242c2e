"""Images per second of `Detector.score` from Python against `wscxr score` on the same files, and
two Python threads against one, side by side in one run (rotating their order each round, best of `--rounds`).

    python crates/wscxr-py/benches/score_speed.py --detector D.wscxr --images 1000 \\
        ../shared/data/zhanglab-dev/train/normal

Run from the checkout with the wheel installed; the program is `$WSCXR_BIN`, else
`$CARGO_TARGET_DIR/release/wscxr`, else `target/release/wscxr`.
"""

import argparse
import os
import subprocess
import threading
import time
from pathlib import Path

import wscxr


def program():
    if os.environ.get("WSCXR_BIN"):
        return os.environ["WSCXR_BIN"]
    return str(Path(os.environ.get("CARGO_TARGET_DIR", "target")) / "release" / "wscxr")


def timed(run):
    clock = time.perf_counter()
    run()
    return time.perf_counter() - clock


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", required=True)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("folders", nargs="+")
    args = parser.parse_args()
    files = sorted(str(p) for folder in args.folders for p in Path(folder).iterdir()
                   if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".dcm"))[:args.images]
    n = len(files)
    det = wscxr.Detector.load(args.detector)
    command = [program(), "score", "--detector", args.detector, "--quiet", "--csv", os.devnull,
               *files]
    best = {"wscxr score": float("inf"), "Detector.score": float("inf"),
            "2 threads x half": float("inf")}
    def program_run():
        subprocess.run(command, check=True)

    def python_run():
        det.score(files)

    def halves():
        threads = [threading.Thread(target=det.score, args=(files[i::2],)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    runs = [("wscxr score", program_run), ("Detector.score", python_run),
            ("2 threads x half", halves)]
    for round in range(args.rounds):
        # Each round in another order, so that a slow spell of the machine hits each in turn.
        for name, run in runs[round % 3:] + runs[:round % 3]:
            best[name] = min(best[name], timed(run))
    cli = n / best["wscxr score"]
    print(f"{n} images, best of {args.rounds} rounds, {os.cpu_count()} CPUs")
    for name, seconds in best.items():
        rate = n / seconds
        print(f"{name:>18}: {seconds:7.2f} s  {rate:6.2f} images/s  {rate / cli:5.3f}x the program")


if __name__ == "__main__":
    main()
