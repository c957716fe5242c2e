"""Weakly supervised anomaly detection in chest X-rays (WSCXR, Ni et al.), in Rust, from Python.

Fit a detector on many normal X-rays and a few known-abnormal ones, then score new images, draw
their anomaly maps and decide at the threshold calibrated when it was fitted::

    import wscxr

    det = wscxr.Detector.fit("train/normal", "train/anomaly", epochs=5)
    scores = det.score(["a.png", "b.dcm", pixels])   # float32, one per image
    det.decide(scores)                               # bool, at the calibrated threshold
    det.save("chest.wscxr")

Images are paths (PNG, JPEG, DICOM), folders of them, or 2-D NumPy arrays: uint8, uint16, or
float display values in [0, 1] (see :func:`window` for DICOM pixels read with pydicom).
"""

import numpy as _np

from . import errors
from ._wscxr import IMAGE_SIZE, Detector, __version__, default_config, evaluate
from .errors import ConfigError, DetectorFileError, ImageError, WeightsError, WscxrError

__all__ = [
    "Detector",
    "evaluate",
    "default_config",
    "window",
    "errors",
    "WscxrError",
    "ImageError",
    "ConfigError",
    "DetectorFileError",
    "WeightsError",
    "IMAGE_SIZE",
    "__version__",
]


def window(pixels, center, width, *, slope=1.0, intercept=0.0, invert=False):
    """DICOM stored values to display values in [0, 1], as wscxr reads a DICOM file.

    The rescale (``value * slope + intercept``, DICOM's modality LUT), then the LINEAR window of
    PS3.3 C.11.2.1.2 (a width of 1 is a threshold), then ``1 - value`` when ``invert`` (for
    ``MONOCHROME1``). What pydicom gives as ``ds.pixel_array`` with the data set's
    ``RescaleSlope``, ``RescaleIntercept``, ``WindowCenter`` and ``WindowWidth`` then scores
    exactly as the file does: the detector quantises these values to 8 bits as its DICOM reader
    does. Returns float64.
    """
    center = float(center)
    width = float(width)
    if not (_np.isfinite(center) and _np.isfinite(width) and width >= 1.0):
        raise ConfigError(
            f"window centre {center} and width {width}: the width must be at least 1"
        )
    values = _np.asarray(pixels, dtype=_np.float64) * float(slope) + float(intercept)
    if width <= 1.0:
        display = (values > center - 0.5).astype(_np.float64)
    else:
        display = _np.clip((values - (center - 0.5)) / (width - 1.0) + 0.5, 0.0, 1.0)
    if invert:
        display = 1.0 - display
    return display
