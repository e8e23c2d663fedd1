"""A run directory: what a search writes as it goes, and what notebooks read back.

    DIR/records/0001.json ...   one `Record` per improvement, in order
    DIR/best.json               the best record so far
    DIR/metrics.csv             one row per logging step (columns fixed by the first row)
"""
from __future__ import annotations

import csv
from pathlib import Path

from alphadev.results import Record, RecordError, load


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise RecordError(f"{self.path}: exists and is not a directory")
        (self.path / "records").mkdir(parents=True, exist_ok=True)

    def records(self) -> list[Record]:
        return [load(p) for p in sorted((self.path / "records").glob("*.json"))]

    def add(self, record: Record) -> Path:
        """Writes the next numbered record and makes it best.json."""
        n = len(list((self.path / "records").glob("*.json"))) + 1
        path = record.save(self.path / "records" / f"{n:04d}.json")
        record.save(self.path / "best.json")
        return path

    def best(self) -> Record | None:
        best = self.path / "best.json"
        return load(best) if best.exists() else None

    def log(self, **row) -> None:
        path = self.path / "metrics.csv"
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)

    def metrics(self) -> dict[str, list[float]]:
        path = self.path / "metrics.csv"
        if not path.exists():
            return {}
        with path.open() as f:
            rows = list(csv.DictReader(f))
        return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}
