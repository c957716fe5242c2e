"""Long calls release the GIL, and Ctrl-C stops them cleanly."""

import _thread
import functools
import io
import threading
import time

import numpy as np
import pytest

import wscxr
from conftest import QUICKSTART, quickstart_images


def test_two_threads_score_at_once(detector):
    """Each call reports its batches to `print` into one shared buffer (C code: it runs no
    bytecode, so it never hands the GIL over). Were the GIL held through a call, one call's
    reports would all come before the other's; released, they interleave."""
    pngs, dicoms = quickstart_images()
    images = [str(p) for p in pngs + dicoms] * 2
    reports = io.StringIO()
    results = {}
    start = threading.Barrier(2)

    def work(name):
        start.wait()
        results[name] = detector.score(images, progress=functools.partial(print, name,
                                                                           file=reports))

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    order = [line.split()[0] for line in reports.getvalue().splitlines()]
    assert order.count("a") == order.count("b") >= 4, order
    handovers = sum(1 for x, y in zip(order, order[1:]) if x != y)
    assert handovers >= 2, f"the calls ran one after the other: {order}"
    np.testing.assert_array_equal(results["a"], results["b"])


def test_progress_goes_to_a_callable_and_its_exception_stops_the_call(detector):
    pngs, _ = quickstart_images()
    seen = []
    detector.score(pngs, progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert seen and seen[-1] == ("scoring", len(pngs), len(pngs)), seen

    def refuse(stage, done, total):
        raise RuntimeError(f"stop at {done}")

    with pytest.raises(RuntimeError, match="stop at"):
        detector.score(pngs * 4, progress=refuse)
    with pytest.raises(TypeError, match="progress"):
        detector.score(pngs, progress="yes")


def test_ctrl_c_stops_a_long_call_between_batches(detector):
    """KeyboardInterrupt arrives from inside the call, which says where it stopped (without the
    polling it would come only after every image was scored, and without that note)."""
    pngs, _ = quickstart_images()
    images = pngs * 40
    timer = threading.Timer(1.0, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as raised:
            detector.score(images)
    finally:
        timer.cancel()
    notes = getattr(raised.value, "__notes__", [])
    assert any("wscxr stopped cleanly during scoring" in n for n in notes), notes
    # The detector still works after the interruption.
    assert detector.score(pngs[:1]).shape == (1,)


def test_ctrl_c_stops_a_fit(detector):
    timer = threading.Timer(1.0, _thread.interrupt_main)
    timer.start()
    normal = sorted((QUICKSTART / "train" / "normal").glob("*.png")) * 20
    try:
        with pytest.raises(KeyboardInterrupt) as raised:
            wscxr.Detector.fit(normal, QUICKSTART / "train" / "anomaly", progress=False)
    finally:
        timer.cancel()
    notes = getattr(raised.value, "__notes__", [])
    assert any("wscxr stopped cleanly" in n for n in notes), notes
