"""The checks benchmark writes its table into docs/benchmarks.md without losing what is written around it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from bench_checks import TABLE_BEGIN, TABLE_END, write_table  # noqa: E402


def test_a_new_file_holds_only_the_table(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    write_table(out, "| a |\n")
    assert out.read_text() == f"{TABLE_BEGIN}\n| a |\n{TABLE_END}\n"


def test_the_table_is_replaced_and_the_text_around_it_kept(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    head, tail = "# Benchmarks\n\nWhat they mean.\n\n", "\n## Earlier\n| x |\n"
    out.write_text(f"{head}{TABLE_BEGIN}\n| old |\n| rows |\n{TABLE_END}\n{tail}")
    write_table(out, "| new |\n")
    assert out.read_text() == f"{head}{TABLE_BEGIN}\n| new |\n{TABLE_END}\n{tail}"


def test_a_file_without_the_markers_gets_the_table_at_its_end(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\nNotes.\n")
    write_table(out, "| a |\n")
    assert out.read_text() == f"# Benchmarks\n\nNotes.\n\n{TABLE_BEGIN}\n| a |\n{TABLE_END}\n"


def test_a_table_without_its_end_marker_stops_the_run_and_changes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    text = f"# Benchmarks\n\n{TABLE_BEGIN}\n| old |\n\n## Earlier\nkept\n"
    out.write_text(text)
    with pytest.raises(SystemExit, match="has no .* after it"):
        write_table(out, "| new |\n")
    assert out.read_text() == text
