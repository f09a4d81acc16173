"""The embedded synthetic demo dataset (`fer synth OUT`): drawn children's faces showing six expressions.

Stands in for LIRIS-CSE, which cannot be shipped: same file layout, faces the stock Haar cascade
finds, class cues a CNN can learn, and appearance that differs between children.
"""

from lightning_fer.synth.dataset import generate_dataset, video_name
from lightning_fer.synth.detect import detection_rate
from lightning_fer.synth.summary import SynthSummary

__all__ = ["SynthSummary", "detection_rate", "generate_dataset", "video_name"]
