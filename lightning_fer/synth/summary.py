"""What `fer synth` produced: counts per child and class, frames, files, Haar detection rate."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from lightning_fer.classes import CLASSES


@dataclass
class SynthSummary:
    """The result of :func:`lightning_fer.synth.generate_dataset`; `format()` is what the CLI prints."""

    out: Path
    parameters: dict
    counts: dict[int, dict[str, int]]  # videos per child, per class
    frames: int
    files: list[str]  # written files, relative to `out`
    detection_hits: int
    detection_sampled: int
    detection_every: int
    bad_files: list[dict] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def videos(self) -> int:
        return sum(self.per_child.values())

    @property
    def per_child(self) -> dict[int, int]:
        return {child: sum(row.values()) for child, row in sorted(self.counts.items())}

    @property
    def per_class(self) -> dict[str, int]:
        return {label: sum(row.get(label, 0) for row in self.counts.values()) for label in CLASSES}

    @property
    def detection_rate(self) -> float:
        return self.detection_hits / self.detection_sampled if self.detection_sampled else 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["out"] = str(self.out)
        data["counts"] = {str(child): row for child, row in sorted(self.counts.items())}
        data.update(videos=self.videos, per_child={str(k): v for k, v in self.per_child.items()},
                    per_class=self.per_class, detection_rate=self.detection_rate)
        return data

    def format(self) -> str:
        p = self.parameters
        lines = [f"{self.videos} videos, {self.frames} frames ({p['width']}x{p['height']} @ {p['fps']} fps, "
                 f"{p['seconds']} s each) in {self.out / 'videos'} [{self.elapsed_s:.1f} s]"]
        header = f"{'child':<7}" + "".join(f"{label:>9}" for label in CLASSES) + f"{'total':>8}"
        lines += ["", header]
        for child, row in sorted(self.counts.items()):
            cells = "".join(f"{row.get(label, 0):>9}" for label in CLASSES)
            lines.append(f"{'S' + str(child):<7}{cells}{self.per_child[child]:>8}")
        totals = "".join(f"{self.per_class[label]:>9}" for label in CLASSES)
        lines += [f"{'total':<7}{totals}{self.videos:>8}", ""]
        lines.append(f"Haar face detection: {self.detection_rate:.1%} of {self.detection_sampled} sampled frames "
                     f"(every {self.detection_every}th)")
        if self.bad_files:
            lines.append(f"bad files (on purpose, listed in {self.out / 'bad_files.json'}):")
            lines += [f"  {item['file']}: {item['defect']} ({item['detail']})" for item in self.bad_files]
        return "\n".join(lines)
