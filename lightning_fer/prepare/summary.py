"""The end-of-pass summary: counts, and every failure with its file and reason.

Shards of a SLURM array each produce one; ``merge`` adds them up, so a merged run reports the
same numbers as a single run over the whole dataset.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field


@dataclass
class Failure:
    """A source (or folder) that produced no clip."""

    source: str
    reason: str
    detail: str


@dataclass
class PrepareSummary:
    """Counters of one pass (or of merged shards) and its failures."""

    items: int = 0  # sources attempted
    produced: int = 0  # clips in the manifest (including resumed ones)
    resumed: int = 0  # clips found finished from an earlier run
    frames_decoded: int = 0
    faces_found: int = 0  # frames with a detected or interpolated face
    frames_reused: int = 0  # frames that reused an earlier box
    frames_dropped: int = 0
    frames_written: int = 0
    failures: list[Failure] = field(default_factory=list)
    strict: bool = False

    @property
    def failures_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(f.reason for f in self.failures).items()))

    @property
    def ok(self) -> bool:
        """Usable output, and no failure at all when strict."""
        return self.produced > 0 and not (self.strict and self.failures)

    def add(self, other: PrepareSummary) -> PrepareSummary:
        """The sum of two summaries (shards)."""
        counts = {k: getattr(self, k) + getattr(other, k) for k in _COUNTERS}
        return PrepareSummary(**counts, failures=self.failures + other.failures, strict=self.strict or other.strict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["failures_by_reason"] = self.failures_by_reason
        return data

    @classmethod
    def from_dict(cls, data: dict) -> PrepareSummary:
        counts = {k: int(data.get(k, 0)) for k in _COUNTERS}
        failures = [Failure(**f) for f in data.get("failures", [])]
        return cls(**counts, failures=failures, strict=bool(data.get("strict", False)))

    def report(self) -> str:
        """Human-readable lines: totals, failures by reason, then one line per failure."""
        lines = [
            f"items {self.items}: {self.produced} clips ({self.resumed} already done), {len(self.failures)} failed",
            f"frames {self.frames_decoded} decoded, {self.faces_found} with a face, {self.frames_reused} reused a box, "
            f"{self.frames_dropped} dropped, {self.frames_written} written",
        ]
        if self.failures:
            lines.append("failures by reason: " + ", ".join(f"{k} {v}" for k, v in self.failures_by_reason.items()))
            lines.extend(f"  {f.source}: {f.reason}: {f.detail}" for f in self.failures)
        return "\n".join(lines)


_COUNTERS = ("items", "produced", "resumed", "frames_decoded", "faces_found", "frames_reused", "frames_dropped",
             "frames_written")
