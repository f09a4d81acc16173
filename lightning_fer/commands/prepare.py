"""`fer prepare ROOT OUT`: the offline Haar face-crop pass (videos -> 128x128 VP9 face clips + manifest).

    fer prepare data/liris/videos_208 data/faces --workers 8
    fer prepare ROOT OUT --shard $SLURM_ARRAY_TASK_ID --num-shards 16   # one array task
    fer prepare merge OUT                                                # after the array (or --merge OUT)

Exit codes: 0 done; 1 nothing usable produced, or any failure with --strict; 2 bad arguments/input.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import get_args

HELP = "Haar face-crop pass: videos/images -> 128x128 VP9 face clips + manifest"

_PARAM_HELP = {
    "cascade": "Haar cascade file in cv2.data.haarcascades, or a path",
    "scale_factor": "Haar image-pyramid step",
    "min_neighbors": "Haar: overlapping hits needed to keep a face",
    "min_size": "smallest face side in source pixels",
    "detect_max_side": "detect on a frame downscaled to this longest side (0: full resolution)",
    "detect_every": "detect every k-th frame, interpolate boxes in between (1: every frame)",
    "redetect_every": "search the whole frame at least every k frames (else only near the tracked face)",
    "track_pad": "tracked search: region around the last box, its side times this on each side",
    "track_span": "tracked search: face sizes within scale-factor ** span of the last box",
    "track_face_px": "tracked search: region downscaled so that the face is about this wide",
    "smooth_window": "centered moving average of boxes over this many frames (1: off)",
    "margin": "added around the face box on each side, as a fraction of its side",
    "no_face": "frames without a face: drop, or reuse the last box for up to --reuse-max frames",
    "reuse_max": "frames that may reuse the last box",
    "clip_size": "clip side in pixels, even, >= --input-size; 128 and up decode on NVDEC (the GPU)",
    "input_size": "the model's input side: the face square fills this centre of the clip",
    "max_frames": "decode at most this many frames per source (0: all)",
    "max_pixels": "frames with more pixels are reported as too large",
    "gop": "keyframe interval of the VP9 clips",
    "faces": "detect: find the face with Haar; cropped: every image/frame already is a face crop (no detection)",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    from lightning_fer.prepare.layout import DEFAULT_LAYOUT, LAYOUTS
    from lightning_fer.prepare.params import FacesMode, NoFacePolicy, PrepareParams

    parser = subparsers.add_parser(
        "prepare", help=HELP,
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", metavar="ROOT OUT", help="dataset root and output folder "
                        "(or `merge OUT`)")
    parser.add_argument("--layout", default=DEFAULT_LAYOUT, choices=LAYOUTS,
                        help="liris: S<child>_<emotion>_<n>.mp4 files; class: ROOT/<class>/; "
                        "subject: ROOT/<subject>/<class>/ (default: detect)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--strict", action="store_true", help="exit 1 on any failure")
    parser.add_argument("--shard", type=int, default=0, help="this task's shard index (SLURM_ARRAY_TASK_ID)")
    parser.add_argument("--num-shards", type=int, default=1, help="number of shards; writes OUT/manifests/part-*")
    parser.add_argument("--merge", metavar="OUT", default=None, help="merge OUT/manifests/part-* into OUT")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    defaults = PrepareParams()
    group = parser.add_argument_group("detection and output parameters")
    for f in dataclasses.fields(PrepareParams):
        kind = type(getattr(defaults, f.name))
        choices = {"no_face": get_args(NoFacePolicy), "faces": get_args(FacesMode)}.get(f.name)
        group.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=kind, default=getattr(defaults, f.name),
                           choices=choices, help=f"{_PARAM_HELP.get(f.name, '')} (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lightning_fer.errors import UserError
    from lightning_fer.prepare import PrepareParams, merge_parts, run_prepare

    merge_out = args.merge
    if merge_out is None and len(args.paths) == 2 and args.paths[0] == "merge":
        merge_out = args.paths[1]
    if merge_out is not None:
        summary = merge_parts(merge_out)
        print(summary.report(), file=sys.stderr)
        print(f"merged into {merge_out}/manifest.csv")
        return 0 if summary.ok else 1
    if len(args.paths) != 2:
        raise UserError("expected ROOT OUT (or `merge OUT`)")
    try:
        params = PrepareParams(**{f.name: getattr(args, f.name) for f in dataclasses.fields(PrepareParams)})
    except ValueError as err:
        raise UserError(str(err)) from err
    root, out = args.paths
    summary = run_prepare(root, out, params, workers=args.workers, layout=args.layout, strict=args.strict,
                          shard=args.shard, num_shards=args.num_shards, progress=not args.no_progress)
    print(summary.report(), file=sys.stderr)
    where = f"{out}/manifests/" if args.num_shards > 1 else f"{out}/manifest.csv"
    print(f"{summary.produced} clips; manifest: {where} (params_id {params.params_id})")
    nothing = summary.produced == 0 and (summary.items > 0 or args.num_shards == 1)
    if nothing:
        print("fer prepare: no usable clip produced", file=sys.stderr)
    return 1 if nothing or (args.strict and summary.failures) else 0
