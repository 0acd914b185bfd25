"""Problems found in the input. Every stage returns them beside its rows; they become rows of
the ``quarantine`` table so nothing that could not be parsed is silently dropped."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

QUARANTINE_COLUMNS = [
    "stage", "severity", "raw_path", "source_id", "char_start", "char_end", "reason", "action", "excerpt",
]


@dataclass(frozen=True)
class Problem:
    """One defect in the input. ``char_start``/``char_end`` are offsets into the raw file for
    ``stage='split'`` and into the source text for later stages; -1 when not applicable."""

    stage: str
    severity: str  # "error": a source or passage was skipped; "warning": processed with a repair noted
    raw_path: str
    source_id: str
    reason: str
    action: str
    char_start: int = -1
    char_end: int = -1
    excerpt: str = ""

    def message(self) -> str:
        where = f"{self.raw_path}" + (f" [{self.source_id}]" if self.source_id else "")
        if self.char_start >= 0:
            where += f" chars {self.char_start}-{self.char_end}"
        return f"{self.severity.upper()} {self.stage}: {where}: {self.reason}. What to do: {self.action}"


def problems_frame(problems: list[Problem]) -> pd.DataFrame:
    if not problems:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c.startswith("char_") else "object")
                             for c in QUARANTINE_COLUMNS})
    return pd.DataFrame([asdict(p) for p in problems], columns=QUARANTINE_COLUMNS)
