"""The exceptions wscxr raises. Each carries the library's message, which names the file, array
or value at fault; all derive from :class:`WscxrError`."""

__all__ = ["WscxrError", "ImageError", "ConfigError", "DetectorFileError", "WeightsError"]


class WscxrError(Exception):
    """Anything wscxr refuses (an unusable folder, a backend that cannot start, ...)."""


class ImageError(WscxrError, ValueError):
    """An image file or array that cannot be read as an X-ray: corrupt or truncated files,
    unsupported DICOM, arrays that are not 2-D, of another dtype, or with NaN, and empty lists."""


class ConfigError(WscxrError, ValueError):
    """A configuration field or argument that is unknown, of the wrong type, or out of range."""


class DetectorFileError(WscxrError, ValueError):
    """A detector file that cannot be loaded (damaged, truncated, of another format version)
    or written."""


class WeightsError(WscxrError):
    """Backbone weights that cannot be found (see the README, "From Python"), read, or that
    belong to another network."""
