"""`fer bench prepare` on a short real segment: our boxes agree with the naive loop's (speed is the bench's job)."""

from __future__ import annotations

import argparse

from lightning_fer.bench import prepare as bench


def test_bench_rows_and_agreement(test_media, tmp_path):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--video", str(test_media / "WolfgangLanger_Pexels.mp4"), "--max-frames", "24",
                              "--rounds", "1"])
    result = bench.run(args)
    assert [row[1] for row in result.rows] == [24] * 5
    ours = next(row for row in result.rows if row[0].startswith("ours"))
    decode_only = result.rows[-1]
    assert decode_only[0] == bench.DECODE_ONLY and decode_only[4:7] == ["-", "-", "-"]
    assert ours[0].startswith("ours") and float(ours[5]) >= 0.9 and float(ours[6]) >= 0.9
    assert result.ratio is not None and result.ratio > 0
    assert "| ours: 320 px" in result.to_markdown()
    assert any("decoding alone takes" in note for note in result.notes)
