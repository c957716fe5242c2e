"""Bad input raises the package's exceptions with the library's message, never a crash."""

import os
import shutil

import numpy as np
import pytest

import wscxr
from conftest import CHECKOUT, QUICKSTART, quickstart_images


@pytest.mark.parametrize("array, says", [
    (np.zeros((64, 64), dtype=np.int16), "dtype int16"),
    (np.zeros((64, 64), dtype=bool), "dtype bool"),
    (np.zeros((64, 64, 3), dtype=np.uint8), "shape [64, 64, 3]"),
    (np.zeros((4, 64, 64), dtype=np.uint16), "2-D gray image"),
    (np.zeros((0, 64), dtype=np.uint8), "no pixels"),
    (np.full((8, 8), 0.5), None),
])
def test_arrays_of_the_wrong_kind_are_image_errors(detector, array, says):
    if says is None:
        array[2, 3] = np.nan
        says = "value NaN at row 2, column 3"
    with pytest.raises(wscxr.ImageError, match=says.replace("[", r"\[").replace("]", r"\]")):
        detector.score([array])


def test_floats_outside_the_unit_range_are_refused(detector):
    with pytest.raises(wscxr.ImageError, match=r"value 255 at row 0, column 1"):
        detector.score([np.array([[0.0, 255.0], [0.5, 1.0]])])


def test_an_empty_list_is_an_image_error(detector):
    with pytest.raises(wscxr.ImageError, match="no images"):
        detector.score([])
    with pytest.raises(wscxr.ImageError, match="normal: no images"):
        wscxr.Detector.fit([], progress=False)


def test_other_objects_are_type_errors(detector):
    with pytest.raises(TypeError, match=r"images\[1\]: a path or a 2-D array, not a int"):
        detector.score([QUICKSTART / "test" / "normal" / "IM-0269-0001.png", 3])


def test_a_corrupt_file_is_an_image_error_naming_it(detector, tmp_path):
    pngs, _ = quickstart_images()
    broken = tmp_path / "broken.png"
    broken.write_bytes(pngs[0].read_bytes()[:2000])
    with pytest.raises(wscxr.ImageError, match="broken.png"):
        detector.score([pngs[0], broken])
    missing = tmp_path / "missing.png"
    with pytest.raises(wscxr.ImageError, match="missing.png"):
        detector.score([missing])


def test_a_detector_file_with_a_flipped_byte_is_refused(detector_file, tmp_path):
    data = bytearray(detector_file.read_bytes())
    data[len(data) // 2] ^= 0x10
    flipped = tmp_path / "flipped.wscxr"
    flipped.write_bytes(bytes(data))
    with pytest.raises(wscxr.DetectorFileError, match="flipped.wscxr"):
        wscxr.Detector.load(flipped)
    with pytest.raises(wscxr.DetectorFileError):
        wscxr.Detector.load(tmp_path / "nothing-here.wscxr")


@pytest.mark.parametrize("fields, says", [
    ({"image_sise": 256}, "unknown field `image_sise`"),
    ({"image_size": 5}, "invalid image_size = 5"),
    ({"train": {"epochs": "many"}}, "invalid type"),
    ({"mining_ratio": 1.5}, "invalid mining ratio = 1.5"),
    ({"rule": "best"}, "rule: 'best'"),
    ({"backend": "tpu"}, "backend"),
    ({"specificity": 1.5}, "specificity: 1.5 is not in"),
    ({"calibration_fraction": 1.0}, "invalid calibration fraction = 1"),
])
def test_bad_configuration_is_a_config_error(fields, says):
    normal = QUICKSTART / "train" / "normal"
    with pytest.raises(wscxr.ConfigError, match=says):
        wscxr.Detector.fit(normal, QUICKSTART / "train" / "anomaly", progress=False, **fields)


def test_missing_weights_are_a_weights_error(detector_file, tmp_path, monkeypatch):
    monkeypatch.setenv("WSCXR_WEIGHTS_DIR", str(tmp_path / "empty-store"))
    # No download either: a mirror that refuses at once.
    monkeypatch.setenv("WSCXR_WEIGHTS_URL", "http://127.0.0.1:9/weights")
    monkeypatch.chdir(tmp_path)  # no assets/ here
    with pytest.raises(wscxr.WeightsError):
        wscxr.Detector.load(detector_file)
    # Weights of another network are refused by name.
    onnx = CHECKOUT.parent / "shared" / "fixtures" / "densenet121_synthetic.onnx"
    if not onnx.is_file():
        pytest.fail(f"{onnx} is missing: put ../shared beside the checkout")
    with pytest.raises(wscxr.WeightsError, match="densenet121_synthetic.onnx"):
        wscxr.Detector.fit(QUICKSTART / "train" / "normal", progress=False, weights=str(onnx))


def test_exceptions_form_one_hierarchy():
    for error in (wscxr.ImageError, wscxr.ConfigError, wscxr.DetectorFileError,
                  wscxr.WeightsError):
        assert issubclass(error, wscxr.WscxrError)
    assert issubclass(wscxr.ImageError, ValueError)
    assert issubclass(wscxr.ConfigError, ValueError)


def test_decide_refuses_nan(detector):
    with pytest.raises(ValueError, match=r"scores\[1\] is NaN"):
        detector.decide([0.1, float("nan")])


def test_evaluate_refuses_a_k_beyond_the_pool_before_any_work():
    with pytest.raises(wscxr.ConfigError, match="invalid K = 99: the abnormal pool holds only"):
        wscxr.evaluate(QUICKSTART, k=[2, 99], seeds=[0], progress=False)
