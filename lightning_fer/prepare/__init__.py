"""The offline Haar face-crop pass (`fer prepare`): source videos/images -> 112x112 VP9 clips + manifest.

    from lightning_fer.prepare import PrepareParams, run_prepare, read_manifest
    summary = run_prepare("data/liris/videos_208", "data/faces", PrepareParams(), workers=8)
    manifest = read_manifest("data/faces")
"""

from importlib import import_module

# name -> submodule; loaded on first use (PEP 562) so that `fer prepare --help` needs no OpenCV/PyAV/pandas
_EXPORTS = {
    "crop_face": "crop", "square_box": "crop", "Box": "detect", "HaarFaceDetector": "detect", "iou": "detect",
    "Item": "layout", "discover": "layout", "COLUMNS": "manifest", "merge_parts": "manifest",
    "read_manifest": "manifest", "PrepareParams": "params", "run_prepare": "run", "Failure": "summary",
    "PrepareSummary": "summary", "Track": "track", "track_boxes": "track",
    "FaceTracker": "tracker", "FrameFaces": "tracker",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
