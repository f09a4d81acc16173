"""The offline Haar face-crop pass (`fer prepare`): source videos/images -> 112x112 VP9 clips + manifest.

    from lightning_fer.prepare import PrepareParams, run_prepare, read_manifest
    summary = run_prepare("data/liris/videos_208", "data/faces", PrepareParams(), workers=8)
    manifest = read_manifest("data/faces")
"""

from lightning_fer.prepare.crop import crop_face, square_box
from lightning_fer.prepare.detect import Box, HaarFaceDetector, iou
from lightning_fer.prepare.layout import Item, discover
from lightning_fer.prepare.manifest import COLUMNS, merge_parts, read_manifest
from lightning_fer.prepare.params import PrepareParams
from lightning_fer.prepare.run import run_prepare
from lightning_fer.prepare.summary import Failure, PrepareSummary
from lightning_fer.prepare.track import Track, track_boxes
from lightning_fer.prepare.tracker import FaceTracker, FrameFaces

__all__ = [
    "COLUMNS", "Box", "FaceTracker", "Failure", "FrameFaces", "HaarFaceDetector", "Item", "PrepareParams",
    "PrepareSummary", "Track",
    "crop_face", "discover", "iou", "merge_parts", "read_manifest", "run_prepare", "square_box", "track_boxes",
]
