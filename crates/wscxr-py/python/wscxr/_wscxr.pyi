"""Type stubs of the native module (Rust, through PyO3)."""

import os
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

__version__: str
IMAGE_SIZE: int

PathLike = Union[str, "os.PathLike[str]"]
#: A path (PNG, JPEG, DICOM), a folder of images, or a 2-D array (uint8, uint16, or float in
#: [0, 1]); PIL images are read through NumPy.
Image = Union[PathLike, npt.NDArray[Any], Any]
Images = Union[Image, Iterable[Image]]
#: True for progress bars on standard error, False for none, or a function called with
#: ``(stage, done, total)`` after each batch (an exception it raises stops the call).
Progress = Union[bool, Callable[[str, int, int], Any], None]

class Detector:
    """A fitted WSCXR detector: a frozen ImageNet backbone, a discriminator trained on normal
    patches against fake anomalies mixed from the abnormal images' most anomalous patches, and
    the threshold calibrated when it was fitted."""

    @staticmethod
    def fit(
        normal: Images,
        abnormal: Optional[Images] = None,
        *,
        config: Optional[Mapping[str, Any]] = None,
        epochs: Optional[int] = None,
        calibrate_on: Optional[PathLike] = None,
        calibration_fraction: float = 0.2,
        rule: Optional[str] = None,
        specificity: float = 0.95,
        backend: str = "flex",
        cache: Optional[PathLike] = None,
        progress: Progress = True,
        **fields: Any,
    ) -> "Detector":
        """Fits a detector on `normal` images and the K known-`abnormal` ones (none: the
        unsupervised PatchCore detector), as ``wscxr fit`` does.

        The configuration is `config` (a dict of ``WscxrConfig`` fields, sections as nested
        dicts; see :func:`default_config`) and then `fields` as keywords with the same names
        (``seed=1``, ``max_normals=200``, ``train={"epochs": 5}``), over the official defaults;
        `epochs` is a shortcut for ``train={"epochs": ...}``. The threshold is calibrated on
        `calibrate_on` (a folder with ``normal/`` and ``anomaly/``; rule: Youden's J) or else on
        `calibration_fraction` of the normal images, carved off by patient (rule: keep
        `specificity` of them below it). `rule` is ``"youden"``, ``"max-f1"`` or
        ``"specificity"``. `backend` is ``"flex"`` (CPU), ``"ndarray"`` or ``"wgpu"`` (GPU);
        `cache` a folder where features are kept across fits.

        Raises ConfigError, ImageError, WeightsError; Ctrl-C raises KeyboardInterrupt.
        """

    @staticmethod
    def load(path: PathLike, *, backend: str = "flex") -> "Detector":
        """Loads a detector file written by :meth:`save` or ``wscxr fit``. Raises
        DetectorFileError, WeightsError."""

    def save(self, path: PathLike, *, embed_weights: bool = False) -> None:
        """Writes the detector file; with `embed_weights` its backbone weights go inside (32 MB
        for the bundled Xception), so that it loads on a machine that never saw them."""

    def score(self, images: Images, *, progress: Progress = False) -> npt.NDArray[np.float32]:
        """Image anomaly scores (the maximum patch score), float32, one per image, in order."""

    def maps(self, images: Images, *, progress: Progress = False) -> list[npt.NDArray[np.float32]]:
        """Anomaly maps at each image's own size, float32 (height, width), in score units: the
        maps ``wscxr score --maps`` writes and the heatmaps draw."""

    def decide(self, scores: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Whether each score reaches the calibrated threshold."""

    def heatmap(
        self, image: Image, path: Optional[PathLike] = None
    ) -> Optional[npt.NDArray[np.uint8]]:
        """The image with its anomaly map on the detector's fixed colour scale and a colour
        bar: written as a PNG to `path` (as ``wscxr score --heatmaps`` draws it), or returned as
        an RGB uint8 array (height, width, 3) without one."""

    @property
    def threshold(self) -> Optional[float]:
        """The calibrated threshold on the score (None for a detector saved without one)."""

    @property
    def config(self) -> dict[str, Any]:
        """The configuration it was fitted with, as the dict :meth:`fit` takes."""

    @property
    def report(self) -> dict[str, Any]:
        """Sizes and stage timings of the fit (zeros for a loaded detector)."""

    @property
    def weights_sha256(self) -> str:
        """The SHA-256 of its backbone weights, which name them in its file."""

    @property
    def is_unsupervised(self) -> bool:
        """Whether this is the unsupervised (K = 0, PatchCore) detector."""

def evaluate(
    data: PathLike,
    *,
    k: Sequence[int] = (16,),
    seeds: Sequence[int] = (0, 1, 2),
    protocol: str = "honest",
    eval_split: str = "test",
    val_split: str = "val",
    val_fraction: float = 0.2,
    boxes: Optional[PathLike] = None,
    boxed_images: Optional[PathLike] = None,
    unsupervised: bool = False,
    cache: Optional[PathLike] = None,
    backend: str = "flex",
    progress: Progress = True,
    config: Optional[Mapping[str, Any]] = None,
    epochs: Optional[int] = None,
    **fields: Any,
) -> dict[str, Any]:
    """Fits and evaluates a detector for every K and seed on `data` (``train/normal``,
    ``train/anomaly`` and the split folders) and returns what ``wscxr evaluate --json`` writes:
    ``runs`` (AUROC, ACC, F1, ROC, timings per run), ``summary`` (mean and std per K),
    ``localisation`` (with `boxes`), ``protocol``, ``threshold_source``, ``config``, ...
    The honest protocol (default) takes the last epoch and a threshold from the validation split;
    ``"oracle"`` picks both on the evaluated split, as the official code does."""

def default_config() -> dict[str, Any]:
    """The official configuration, as the dict :meth:`Detector.fit` takes."""
