"""Shared fixtures: the checkout, the `wscxr` program, and one detector fitted from Python.

The suite runs against the installed wheel (`.ci/run` builds it and installs it into a fresh
virtual environment), never against the source folder: `import wscxr` must find the wheel.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[3]
QUICKSTART = CHECKOUT / "assets" / "quickstart"


def program():
    """The `wscxr` program built by `cargo test` / `cargo build` (WSCXR_BIN, else the target
    folder). Missing, it fails the test rather than skipping it."""
    if os.environ.get("WSCXR_BIN"):
        return Path(os.environ["WSCXR_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", CHECKOUT / "target"))
    found = target / "release" / "wscxr"
    if not found.is_file():
        found = shutil.which("wscxr")
        if found is None:
            pytest.fail(f"the wscxr program is neither at {target}/release/wscxr nor on PATH: "
                        "build it (cargo build --release -p wscxr-cli) or set WSCXR_BIN")
        found = Path(found)
    return found


def run_program(*args):
    """Runs the program from the checkout (where it finds the bundled weights)."""
    done = subprocess.run([str(program()), *map(str, args)], cwd=CHECKOUT,
                          capture_output=True, text=True)
    assert done.returncode == 0, f"wscxr {' '.join(map(str, args))}:\n{done.stderr}"
    return done.stdout


@pytest.fixture(autouse=True)
def in_checkout(monkeypatch):
    """The bundled weights are found from the checkout (assets/), as the README's commands run."""
    monkeypatch.chdir(CHECKOUT)


@pytest.fixture(scope="session")
def detector_file(tmp_path_factory):
    """A detector fitted from Python on the quickstart's X-rays (K = 4), saved."""
    import wscxr

    os.chdir(CHECKOUT)
    det = wscxr.Detector.fit(QUICKSTART / "train" / "normal", QUICKSTART / "train" / "anomaly",
                             epochs=3, progress=False)
    path = tmp_path_factory.mktemp("detector") / "quickstart.wscxr"
    det.save(path)
    return path


@pytest.fixture(scope="session")
def detector(detector_file):
    import wscxr

    return wscxr.Detector.load(detector_file)


def quickstart_images():
    """The quickstart's test X-rays: PNG and their DICOM versions."""
    pngs = sorted((QUICKSTART / "test" / "anomaly").glob("*.png")) + sorted(
        (QUICKSTART / "test" / "normal").glob("*.png"))
    dicoms = sorted((QUICKSTART / "test-dicom").glob("*/*.dcm"))
    return pngs, dicoms

