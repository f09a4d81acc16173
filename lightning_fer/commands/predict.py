"""`fer predict`: per-frame expression labels on videos, images, folders or a camera.

    fer predict --ckpt runs/demo/checkpoints/best.ckpt --input clip.mp4 --out predictions --annotate
    fer predict --onnx model.onnx --input folder/ --multi-face
    fer predict --ckpt best.ckpt --input 0            # camera 0 (Ctrl-C ends and writes the results)

Writes OUT/NAME.csv and OUT/NAME.json (per frame: time, box, six probabilities, label, smoothed label,
or "no face"; the JSON adds the settings and the per-video summary) and, with --annotate,
OUT/NAME.annotated.mp4. Haar parameters come from the checkpoint's training data (prepare.json) unless
overridden here. Exit codes: 0 done; 1 some inputs of a folder failed; 2 bad arguments/input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "per-frame expression labels on videos/images/camera"

_OVERRIDES = {
    "detect_every": (int, "run Haar on every k-th frame, interpolate between"),
    "detect_max_side": (int, "detect on frames downscaled to this longest side (0: full resolution)"),
    "scale_factor": (float, "Haar image-pyramid step"),
    "min_neighbors": (int, "Haar: overlapping hits needed to keep a face"),
    "min_size": (int, "smallest face side in source pixels"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("predict", help=HELP,
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", default=None, help="checkpoint from `fer fit` (best.ckpt)")
    parser.add_argument("--onnx", default=None, help="run this `fer export` ONNX model with ONNX Runtime "
                        "(settings from its metadata, or from --ckpt when given)")
    parser.add_argument("--input", required=True, help="video, image, folder of them, or camera index")
    parser.add_argument("--out", default="predictions", help="output folder (default: %(default)s)")
    parser.add_argument("--smooth-window", type=int, default=5, help="frames in the centered label-smoothing "
                        "window (1: off; default: %(default)s)")
    parser.add_argument("--classify-every", type=int, default=3, help="run the model on each tracked face every "
                        "k-th frame, keeping its probabilities in between (1: every frame; default: %(default)s)")
    parser.add_argument("--multi-face", action="store_true", help="label every face with a track id "
                        "(default: the largest face only)")
    parser.add_argument("--annotate", action="store_true", help="also write NAME.annotated.mp4")
    parser.add_argument("--batch-size", type=int, default=32, help="faces per model call (default: %(default)s)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: %(default)s")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after N frames per input (0: all)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    group = parser.add_argument_group("Haar overrides (default: as the checkpoint was trained)")
    for name, (kind, text) in _OVERRIDES.items():
        group.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=None, help=text)
    parser.set_defaults(func=run)


def load_engine(args: argparse.Namespace):
    """(engine, spec) from --ckpt and/or --onnx, with the command-line Haar overrides applied."""
    from lightning_fer.checkpoint_record import load_checkpoint_dict
    from lightning_fer.errors import UserError
    from lightning_fer.predict import OnnxEngine, TorchEngine, load_model
    from lightning_fer.predict.checkpoint import spec_from_checkpoint
    from lightning_fer.predict.export import spec_from_onnx_metadata

    if not args.ckpt and not args.onnx:
        raise UserError("give --ckpt CHECKPOINT (or --onnx MODEL.onnx)")
    if args.onnx:
        engine = OnnxEngine(args.onnx, args.device)
        spec = (spec_from_checkpoint(load_checkpoint_dict(args.ckpt), args.ckpt) if args.ckpt
                else spec_from_onnx_metadata(engine.metadata(), args.onnx))
    else:
        model, spec = load_model(args.ckpt)
        engine = TorchEngine(model, args.device)
    return engine, spec.with_overrides(**{name: getattr(args, name) for name in _OVERRIDES})


def run(args: argparse.Namespace) -> int:
    from lightning_fer.atomic_write import write_text
    from lightning_fer.errors import UserError
    from lightning_fer.predict import PredictOptions, format_summary, predict_source, resolve_sources, write_outputs
    from lightning_fer.predict.pipeline import write_annotated

    for name in ("smooth_window", "batch_size", "classify_every"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1")
    sources = resolve_sources(args.input)
    if args.annotate and any(s.camera is not None for s in sources):
        raise UserError("--annotate needs a video or image file (not a camera)")
    engine, spec = load_engine(args)
    p = spec.params
    print(f"model: {engine.name}; normalization {spec.normalization.mode}; Haar from {spec.params_source}: "
          f"scale_factor {p.scale_factor}, min_neighbors {p.min_neighbors}, min_size {p.min_size}, "
          f"detect_max_side {p.detect_max_side}, detect_every {p.detect_every}", file=sys.stderr)
    options = PredictOptions(multi_face=args.multi_face, batch_size=args.batch_size, smooth_window=args.smooth_window,
                             classify_every=args.classify_every,
                             max_frames=args.max_frames, progress=not args.no_progress)
    meta = {"checkpoint": args.ckpt, "onnx": args.onnx, "engine": engine.name, "multi_face": args.multi_face,
            "smooth_window": args.smooth_window, "classify_every": args.classify_every,
            "classes": list(spec.classes), "params": p.to_dict(),
            "params_source": spec.params_source, "normalization": spec.normalization.mode}
    out, failures, summaries = Path(args.out), [], []
    for source in sources:
        try:
            result = predict_source(source, engine, spec, options)
        except UserError as err:
            if len(sources) == 1:
                raise
            failures.append(f"{source.describe()}: {err}")
            print(f"fer predict: skipped {err}", file=sys.stderr)
            continue
        paths = write_outputs(out, source.name, result.rows, result.summary, spec.classes,
                              {**meta, "source": source.describe()})
        if args.annotate:
            paths["annotated"] = write_annotated(result, spec, out / f"{source.name}.annotated.mp4")
        summaries.append(result.summary)
        print(format_summary(result.summary))
        print("  -> " + ", ".join(str(v) for v in paths.values()))
    if len(sources) > 1:
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "summary.json", json.dumps({"sources": summaries, "failures": failures}, indent=1) + "\n")
    if failures:
        print(f"fer predict: {len(failures)} of {len(sources)} inputs failed (listed in {out / 'summary.json'})",
              file=sys.stderr)
        return 2 if not summaries else 1
    return 0
