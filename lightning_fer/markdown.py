"""Markdown pipe tables, written one way for every report (eval, tune, scale, cv, bench)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence


def markdown_table(header: Sequence[object], rows: Iterable[Sequence[object]],
                   fmt: Callable[[object], str] = str) -> str:
    """``| a | b |`` lines: the header, a ``|---|`` rule, one line per row (cells through ``fmt``); no final newline."""
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
