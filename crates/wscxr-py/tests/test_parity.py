"""Python gives what the `wscxr` program gives: scores, decisions, maps and detector files."""

import csv

import numpy as np
import pydicom
from PIL import Image

import wscxr
from conftest import QUICKSTART, run_program, quickstart_images


def program_scores(detector_file, paths, tmp_path, maps=None):
    out = tmp_path / "scores.csv"
    args = ["score", "--detector", detector_file, "--csv", out, "--quiet"]
    if maps is not None:
        args += ["--maps", maps]
    run_program(*args, *paths)
    with open(out, newline="") as f:
        return list(csv.DictReader(f))


def test_scores_decisions_and_maps_equal_the_program(detector, detector_file, tmp_path):
    pngs, dicoms = quickstart_images()
    paths = pngs + dicoms
    # The DICOM files share the PNGs' names, so their maps go to a folder of their own.
    rows = [row for (images, folder) in ((pngs, "png"), (dicoms, "dicom"))
            for row in program_scores(detector_file, images, tmp_path, tmp_path / folder)]
    maps_dirs = [tmp_path / "png"] * len(pngs) + [tmp_path / "dicom"] * len(dicoms)
    assert [r["path"] for r in rows] == [str(p) for p in paths]

    scores = detector.score(paths)
    assert scores.dtype == np.float32 and scores.shape == (len(paths),)
    expected = np.array([float(r["score"]) for r in rows], dtype=np.float32)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-6)

    decided = detector.decide(scores)
    assert decided.dtype == np.bool_
    assert [bool(d) for d in decided] == [r["abnormal"] == "true" for r in rows]
    assert len(set(decided.tolist())) == 2, "the check needs both decisions among the images"

    maps = detector.maps(paths)
    for path, maps_dir, got in zip(paths, maps_dirs, maps):
        want = np.load(maps_dir / f"{path.stem}.npy")
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_a_folder_scores_as_its_files(detector):
    folder = QUICKSTART / "test" / "anomaly"
    np.testing.assert_array_equal(detector.score(folder),
                                  detector.score(sorted(folder.glob("*.png"))))


def test_pydicom_arrays_score_as_their_files(detector):
    _, dicoms = quickstart_images()
    arrays = []
    for path in dicoms:
        ds = pydicom.dcmread(path)
        arrays.append(wscxr.window(
            ds.pixel_array, ds.WindowCenter, ds.WindowWidth,
            slope=float(ds.get("RescaleSlope", 1.0)),
            intercept=float(ds.get("RescaleIntercept", 0.0)),
            invert=ds.PhotometricInterpretation == "MONOCHROME1"))
    assert {str(pydicom.dcmread(p).pixel_array.dtype) for p in dicoms} == {"uint8", "uint16"}
    np.testing.assert_allclose(detector.score(arrays), detector.score(dicoms), rtol=0, atol=1e-6)


def test_pil_images_and_their_arrays_score_as_their_files(detector):
    pngs, _ = quickstart_images()
    pictures = [Image.open(p).convert("L") for p in pngs]
    from_files = detector.score(pngs)
    np.testing.assert_allclose(detector.score([np.asarray(p) for p in pictures]), from_files,
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(detector.score(pictures), from_files, rtol=0, atol=1e-6)
    # A strided view (every row, reversed columns twice) reads as the contiguous array.
    flipped = [np.asarray(p)[:, ::-1][:, ::-1] for p in pictures]
    np.testing.assert_allclose(detector.score(flipped), from_files, rtol=0, atol=1e-6)



def test_uint16_arrays_score_as_16_bit_png_files(detector, tmp_path):
    pngs, _ = quickstart_images()
    wide = []
    for i, path in enumerate(pngs[:3]):
        pixels = np.asarray(Image.open(path).convert("L")).astype(np.uint16) * 250 + i
        wide.append(pixels)
        Image.fromarray(pixels).save(tmp_path / f"{i}.png")
    files = [tmp_path / f"{i}.png" for i in range(3)]
    assert Image.open(files[0]).mode.startswith("I;16")
    np.testing.assert_allclose(detector.score(wide), detector.score(files), rtol=0, atol=1e-6)


def test_a_detector_from_the_program_loads_in_python(tmp_path):
    path = tmp_path / "cli.wscxr"
    run_program("fit", "--normal", QUICKSTART / "train" / "normal",
                "--abnormal", QUICKSTART / "train" / "anomaly", "--epochs", "2",
                "--seed", "7", "--out", path, "--quiet")
    pngs, dicoms = quickstart_images()
    rows = program_scores(path, pngs + dicoms, tmp_path)
    det = wscxr.Detector.load(path)
    np.testing.assert_allclose(det.score(pngs + dicoms),
                               [float(r["score"]) for r in rows], rtol=0, atol=1e-6)
    assert det.config["seed"] == 7 and det.config["train"]["epochs"] == 2
    assert det.threshold is not None


def test_heatmap_is_the_programs_picture(detector, detector_file, tmp_path):
    pngs, _ = quickstart_images()
    run_program("score", "--detector", detector_file, "--heatmaps", tmp_path / "heat",
                "--csv", tmp_path / "s.csv", "--quiet", pngs[0])
    (drawn,) = sorted((tmp_path / "heat").glob("*.png"))
    written = tmp_path / "python.png"
    assert detector.heatmap(pngs[0], written) is None
    want = np.asarray(Image.open(drawn).convert("RGB"))
    np.testing.assert_array_equal(np.asarray(Image.open(written).convert("RGB")), want)
    got = detector.heatmap(pngs[0])
    assert got.dtype == np.uint8 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_fit_from_arrays_and_keywords_matches_fit_from_files():
    normal = sorted((QUICKSTART / "train" / "normal").glob("*.png"))
    abnormal = sorted((QUICKSTART / "train" / "anomaly").glob("*.png"))
    arrays = [np.asarray(Image.open(p).convert("L")) for p in normal]
    # Calibrated on a folder: carving normals off by patient would go by the files' names.
    calibration = QUICKSTART / "test"
    kwargs = dict(epochs=2, seed=3, progress=False, max_normals=200, calibrate_on=calibration)
    from_files = wscxr.Detector.fit(normal, abnormal, **kwargs)
    from_arrays = wscxr.Detector.fit(arrays, abnormal, config={"seed": 3}, epochs=2,
                                     progress=False, max_normals=200,
                                     calibrate_on=calibration)
    tests, _ = quickstart_images()
    np.testing.assert_allclose(from_arrays.score(tests), from_files.score(tests), rtol=0,
                               atol=1e-6)
    # A section given in part keeps the rest of its defaults.
    assert from_files.config["train"]["epochs"] == 2
    assert from_files.config["train"] == {**wscxr.default_config()["train"], "epochs": 2}
    assert from_files.config["max_normals"] == 200
    unsupervised = wscxr.Detector.fit(normal, epochs=1, progress=False)
    assert unsupervised.is_unsupervised and not from_files.is_unsupervised


def test_evaluate_returns_what_the_program_writes(tmp_path):
    import json

    out = tmp_path / "eval.json"
    run_program("evaluate", "--data", QUICKSTART, "--k", "2", "--seeds", "0,1", "--epochs", "2",
                "--cache", tmp_path / "cache", "--json", out, "--quiet")
    want = json.loads(out.read_text())
    got = wscxr.evaluate(QUICKSTART, k=[2], seeds=[0, 1], epochs=2, progress=False)
    assert set(got) == set(want)
    for key in ("protocol", "threshold_source", "eval_source", "eval_split", "backend", "config",
                "summary", "localisation"):
        assert got[key] == want[key], key
    assert len(got["runs"]) == 2
    for mine, theirs in zip(got["runs"], want["runs"]):
        assert mine["metrics"] == theirs["metrics"]
        assert mine["roc"] == theirs["roc"]
    assert 0.0 <= got["summary"][0]["auroc"]["mean"] <= 1.0
