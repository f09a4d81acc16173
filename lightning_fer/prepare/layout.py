"""Find the items of a dataset root and their labels, in the three layouts we accept.

``liris``: a flat folder of ``S<child>_<emotion>_<n>.<ext>`` files (the LIRIS-CSE release's
videos_208/). ``class``: ``<root>/<class>/<files>``. ``subject``: ``<root>/<subject>/<class>/<files>``.
Class names go through :func:`lightning_fer.classes.canonical_label`; every file or folder that
maps to no class is returned as a problem so that the report names it (nothing silently dropped).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

from lightning_fer.classes import canonical_label, label_index
from lightning_fer.errors import UserError
from lightning_fer.prepare.names import clip_names
from lightning_fer.video_io import IMAGE_SUFFIXES, VIDEO_SUFFIXES

LAYOUTS = ("auto", "liris", "class", "subject")
DEFAULT_LAYOUT = "auto"  # guess from the root's contents (detect_layout)
MEDIA_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES
_SUBJECT = re.compile(r"^(S\d+)(?:[_\-\s]|$)", re.IGNORECASE)


@dataclass(frozen=True)
class Item:
    """One source video or image with its label and subject."""

    source: Path  # absolute
    video_id: str  # the clip's name: safe and unique (lightning_fer.prepare.names)
    label: str
    subject: str

    @property
    def label_index(self) -> int:
        return label_index(self.label)


@dataclass(frozen=True)
class Problem:
    """A file or folder that cannot become an item, with the reason category and details."""

    source: Path
    reason: str
    detail: str


def _absolute(path: Path) -> Path:
    """Absolute but not resolved: the manifest names the source as given (symlinks kept)."""
    return Path(os.path.abspath(path))


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _children(folder: Path, skip: Path | None) -> list[Path]:
    return sorted(p for p in folder.iterdir() if _visible(p) and (skip is None or p.resolve() != skip))


def _video_id(root: Path, path: Path) -> str:
    """The relative path without suffix; :func:`_named` turns it into the clip name."""
    return path.relative_to(root).with_suffix("").as_posix()


def _subject_of(stem: str) -> str:
    match = _SUBJECT.match(stem)
    return match.group(1).upper() if match else "unknown"


def _liris_label(stem: str) -> str | None:
    """The one class named among the underscore-separated tokens of a LIRIS file name."""
    labels = {canonical_label(token) for token in re.split(r"[_\-\s]+", stem)[1:]} - {None}
    return labels.pop() if len(labels) == 1 else None


def detect_layout(root: Path, skip: Path | None = None) -> str:
    """Guess the layout of a dataset root from what it contains."""
    children = _children(root, skip)
    folders = [p for p in children if p.is_dir()]
    if any(canonical_label(p.name) for p in folders):  # class folders win over stray files
        return "class"
    if any(canonical_label(g.name) for p in folders for g in _children(p, skip) if g.is_dir()):
        return "subject"
    if any(p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES for p in children):
        return "liris"
    raise UserError(f"{root}: cannot tell the dataset layout; expected S<child>_<emotion>_<n>.mp4 files, "
                    "<root>/<class>/<files> or <root>/<subject>/<class>/<files>")


def _media_file(path: Path, problems: list[Problem]) -> bool:
    if path.is_dir():
        problems.append(Problem(path, "unexpected folder", "folder where files were expected; skipped"))
        return False
    if path.suffix.lower() not in MEDIA_SUFFIXES:
        problems.append(Problem(path, "not video or image", f"suffix {path.suffix or '(none)'!r} is not media"))
        return False
    return True


def _class_folder(root: Path, folder: Path, subject: str | None, skip: Path | None,
                  items: list[Item], problems: list[Problem]) -> None:
    label = canonical_label(folder.name)
    if label is None:
        count = sum(1 for _ in folder.rglob("*") if _.is_file())
        problems.append(Problem(folder, "unmapped class", f"folder {folder.name!r} ({count} files) names no class"))
        return
    for path in _children(folder, skip):
        if _media_file(path, problems):
            items.append(Item(_absolute(path), _video_id(root, path), label, subject or _subject_of(path.stem)))


def discover(root: str | Path, layout: str = DEFAULT_LAYOUT,
             skip: str | Path | None = None) -> tuple[list[Item], list[Problem]]:
    """Items (sorted by video_id, the clip name) and problems of a dataset root; ``skip`` is an output folder in it."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: dataset root is not a folder")
    if layout not in LAYOUTS:
        raise UserError(f"layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    skip_path = Path(skip).resolve() if skip is not None else None
    layout = detect_layout(root, skip_path) if layout == "auto" else layout
    items: list[Item] = []
    problems: list[Problem] = []
    for child in _children(root, skip_path):
        if layout == "liris":
            if not _media_file(child, problems):
                continue
            label = _liris_label(child.stem)
            if not _SUBJECT.match(child.stem) or label is None:
                problems.append(Problem(child, "unmapped class",
                                        f"name {child.name!r} is not S<child>_<emotion>_<n> with a known emotion"))
                continue
            items.append(Item(_absolute(child), _video_id(root, child), label, _subject_of(child.stem)))
        elif not child.is_dir():
            problems.append(Problem(child, "unexpected file", f"file at the top of a {layout!r} layout; skipped"))
        elif layout == "class":
            _class_folder(root, child, None, skip_path, items, problems)
        else:
            for folder in _children(child, skip_path):
                if folder.is_dir():
                    _class_folder(root, folder, child.name, skip_path, items, problems)
                else:
                    problems.append(Problem(folder, "unexpected file", "file beside the class folders; skipped"))
    items, problems = _dedupe(sorted(items, key=lambda i: i.video_id), problems)
    return _named(items), problems


def _named(items: list[Item]) -> list[Item]:
    """Items renamed from their relative path to their clip name, sorted by that name."""
    names = clip_names(item.video_id for item in items)
    return sorted((dataclasses.replace(item, video_id=names[item.video_id]) for item in items),
                  key=lambda i: i.video_id)


def _dedupe(items: list[Item], problems: list[Problem]) -> tuple[list[Item], list[Problem]]:
    unique: list[Item] = []
    for item in items:
        if unique and unique[-1].video_id == item.video_id:
            problems.append(Problem(item.source, "duplicate video_id",
                                    f"same name as {unique[-1].source.name} with another suffix; skipped"))
            continue
        unique.append(item)
    return unique, problems
