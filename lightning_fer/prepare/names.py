"""Clip names every later stage accepts: sanitized, unique and deterministic.

A clip is named after its source's path relative to the dataset root ('/' -> '__', suffix dropped). That
name ends up in DALI's file list (split on whitespace), in shell commands and on other file systems, so it
may hold only ``A-Z a-z 0-9 . _ -`` and may not start with '.' or '-'. A name that needed changing, or that
equals another one when case is ignored (case-insensitive file systems), gets ``-<8 hex digits>`` of a
hash of its relative path: a function of the source alone, so reruns, resumed runs and every shard of a
SLURM array name a source the same way; names that were already safe and distinct stay as they were.
The manifest's ``source`` column keeps the original path.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

from lightning_fer.errors import UserError

MAX_STEM = 100  # characters before the hash tag: far below the 255-byte limit with temp prefixes/suffixes
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def plain_name(relative: str) -> str:
    """The name before sanitizing: the relative path (posix, no suffix) with '/' -> '__'."""
    return relative.replace("/", "__")


def safe_name(relative: str) -> str:
    """ASCII letters (accents dropped), digits, '.', '_' and '-' only; runs of anything else become one '_'."""
    ascii_text = unicodedata.normalize("NFKD", plain_name(relative)).encode("ascii", "ignore").decode("ascii")
    return _UNSAFE.sub("_", ascii_text).strip("._-")[:MAX_STEM].rstrip("._-") or "item"


def _tag(relative: str) -> str:
    return hashlib.sha256(relative.encode("utf-8")).hexdigest()[:8]


def _tagged(relative: str) -> str:
    return f"{safe_name(relative)}-{_tag(relative)}"


def clip_names(relatives: Iterable[str]) -> dict[str, str]:
    """Relative source path (posix, no suffix; each once) -> its unique safe clip name."""
    relatives = list(relatives)
    names = {r: plain_name(r) if safe_name(r) == plain_name(r) else _tagged(r) for r in relatives}
    folded = Counter(name.casefold() for name in names.values())
    names = {r: _tagged(r) if folded[name.casefold()] > 1 else name for r, name in names.items()}
    seen: dict[str, str] = {}
    for relative, name in names.items():
        other = seen.setdefault(name.casefold(), relative)
        if other != relative:  # only a name crafted to look like another's hash tag gets here
            raise UserError(f"sources {other!r} and {relative!r} get the same clip name {name!r}; rename one")
    return names
