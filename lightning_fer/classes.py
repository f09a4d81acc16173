"""The six expression classes of the paper and a tolerant mapping from the spellings found in the wild.

LIRIS-CSE file names and folder layouts spell emotions many ways (``happy``/``happiness``,
``anger``/``angry``, ``surprised``...). Everything in the project maps names through
:func:`canonical_label` so that one table decides, and names that map to nothing are reported.
"""

from __future__ import annotations

import re

CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise")

_ALIASES: dict[str, str] = {
    "angry": "angry", "anger": "angry", "ang": "angry", "an": "angry", "mad": "angry",
    "disgust": "disgust", "disgusted": "disgust", "disgusting": "disgust", "dis": "disgust", "di": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear", "fea": "fear", "fe": "fear",
    "happy": "happy", "happiness": "happy", "joy": "happy", "hap": "happy", "ha": "happy", "smile": "happy",
    "sad": "sad", "sadness": "sad", "sa": "sad",
    "surprise": "surprise", "surprised": "surprise", "surprising": "surprise", "sur": "surprise",
    "su": "surprise",
}


def canonical_label(name: str) -> str | None:
    """Map a class spelling (any case, surrounding digits/punctuation ignored) to a canonical class or None."""
    key = re.sub(r"[^a-z]", "", name.lower())
    return _ALIASES.get(key)


def label_index(label: str) -> int:
    """Index of a canonical label in :data:`CLASSES`; raises ValueError naming the label otherwise."""
    try:
        return CLASSES.index(label)
    except ValueError:
        raise ValueError(f"unknown label {label!r}; expected one of {', '.join(CLASSES)}") from None
