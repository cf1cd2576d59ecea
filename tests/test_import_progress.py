"""The Import page's progress bar: ``import_file`` reports how much of the file it has
read, never going back, ending at the whole file; the import itself is unchanged."""

from __future__ import annotations

from pathlib import Path

from engine.ingest.mapping import file_columns, guess_mapping, import_file

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
NOW_MS = 1_800_000_000_000


def test_import_reports_progress_to_the_end_of_the_file(tmp_path):
    path = SAMPLES / "events_sample.csv"
    mapping = guess_mapping(file_columns(path))
    seen: list[tuple[int, int]] = []
    with_bar = import_file(
        path, mapping, tmp_path / "a", "sample", NOW_MS, progress=lambda d, t: seen.append((d, t))
    )
    without = import_file(path, mapping, tmp_path / "b", "sample", NOW_MS)
    total = path.stat().st_size
    assert seen and seen[-1] == (total, total)
    assert all(t == total and 0 <= d <= t for d, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert with_bar.accounting() == without.accounting()
