"""Atomic file writes: a temporary name beside the target, then ``os.replace``.

A reader never sees a half-written file, and a killed run leaves only ``.<stem>.partial-<pid><suffix>``
files (git-ignored as ``*.partial-*``) that the next run may sweep with :func:`remove_partials`. The
temporary name keeps the target's suffix, so writers that pick a format from it (cv2, PyAV,
matplotlib) work unchanged through :func:`atomic_path`.

Standard library only: ``dali_pipelines`` imports it without pulling in torch or Lightning.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def partial_path(path: str | Path) -> Path:
    """The temporary name this process writes ``path`` under (same folder, same suffix, hidden)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield the temporary path to write; on a clean exit rename it to ``path``, else delete it."""
    path = Path(path)
    tmp = partial_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def remove_partials(path: str | Path) -> None:
    """Delete the temporary files that killed writers of ``path`` (any process) left behind."""
    path = Path(path)
    pattern = f".{glob.escape(path.stem)}.partial-*{glob.escape(path.suffix)}"
    for stale in path.parent.glob(pattern):
        stale.unlink(missing_ok=True)
