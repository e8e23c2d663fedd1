"""Export formats for a verified record: `alphadev export --format FORMAT`.

  header  the C header of alphadev/export.py: GNU inline asm and the function's bytes (default)
  c       portable C: the program lifted into a `static inline` function (formats/c.py)
  cpp     a C++ template over the value type and comparator, for comparator networks (formats/cpp.py)
  asm     a GNU as `.S` file with one global System V function (formats/asm.py)
  rust    a Rust function around `core::arch::asm!` (formats/rust.py)
"""
from __future__ import annotations

from alphadev.results import MIN_RANDOM_INPUTS, Record, RecordError

__all__ = ["FORMATS", "render"]

FORMATS = ("header", "c", "cpp", "asm", "rust")


def render(record: Record, fmt: str, name: str | None = None, *, min_random: int = MIN_RANDOM_INPUTS) -> str:
    """The text of `record` in format `fmt`.

    Args:
      record: it must pass `record.untrusted(min_random=min_random)` (results.py).
      fmt: one of `FORMATS`.
      name: the function's name (default alphadev_<game>).
      min_random: the least random inputs its verification must have run.
    Raises:
      RecordError: for a record that does not count as verified, an unknown format, a bad name,
        or a program the format cannot express (the message says which instruction and why).
    """
    if fmt not in FORMATS:
        raise RecordError(f"--format {fmt!r}: not one of {', '.join(FORMATS)}")
    from alphadev import export
    if fmt == "header":
        return export.header(record, name, min_random=min_random)
    name = name or f"alphadev_{record.game}"
    export.check_name(name)
    if problem := record.untrusted(min_random=min_random):
        raise RecordError(f"refusing to export the {record.game} program: {problem}")
    if fmt == "c":
        from alphadev.formats.c import c_source
        return c_source(record, name)
    if fmt == "cpp":
        from alphadev.formats.cpp import cpp_source
        return cpp_source(record, name)
    if fmt == "asm":
        from alphadev.formats.asm import asm_source
        return asm_source(record, name)
    from alphadev.formats.rust import rust_source
    return rust_source(record, name)
