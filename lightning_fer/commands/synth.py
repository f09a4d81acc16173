"""`fer synth OUT`: write the synthetic demo dataset (LIRIS-CSE layout) and print its summary."""

from __future__ import annotations

import argparse
import re

from lightning_fer.errors import UserError

HELP = "generate the synthetic demo dataset (OUT/videos/S<child>_<emotion>_<n>.mp4)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth", help=HELP,
        description="Render drawn children's faces showing six expressions as H.264 videos in the LIRIS-CSE layout, "
                    "then report counts and the Haar face-detection rate.")
    parser.add_argument("out", help="output directory (videos/ and synth.json are written inside)")
    parser.add_argument("--children", type=int, default=6, help="number of synthetic children (default 6)")
    parser.add_argument("--videos-per-class", type=int, default=2, help="videos per child and class (default 2)")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each video (default 3.0)")
    parser.add_argument("--fps", type=int, default=25, help="frame rate (default 25, as LIRIS-CSE is read)")
    parser.add_argument("--size", default="320x240", help="frame size WxH, even sides >= 128 (default 320x240)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same videos (default 0)")
    parser.add_argument("--with-bad-files", action="store_true",
                        help="also write four broken files (empty, truncated, text, no face) and bad_files.json")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    parser.set_defaults(func=run)


def parse_size(text: str) -> tuple[int, int]:
    """'320x240' -> (320, 240); anything else is a UserError."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise UserError(f"--size must look like WIDTHxHEIGHT (e.g. 320x240), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lightning_fer.synth import generate_dataset

    width, height = parse_size(args.size)
    summary = generate_dataset(Path(args.out), children=args.children, videos_per_class=args.videos_per_class,
                               seconds=args.seconds, fps=args.fps, width=width, height=height, seed=args.seed,
                               with_bad_files=args.with_bad_files, workers=args.workers)
    print(summary.format())
    return 0
