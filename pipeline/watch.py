"""What the sensor watches: content hashes of the raw files and of each declared source.

Plain functions (no Dagster) so they can be tested and reused: ``raw_snapshot`` hashes every file
under raw/; ``source_hashes`` splits the registry's files and hashes each source's text, so a run
request can name exactly the sources an edit changed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.cache import file_sha256
from pipeline.registry import load_registry
from pipeline.split import split_all


def raw_snapshot(raw_dir: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of its bytes, for every file under ``raw_dir``."""
    out = {}
    for path in sorted(p for p in raw_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
        out[path.relative_to(raw_dir).as_posix()] = file_sha256(path)
    return out


def snapshot_key(snapshot: dict[str, str]) -> str:
    return hashlib.sha256("\n".join(f"{k}={v}" for k, v in sorted(snapshot.items())).encode()).hexdigest()[:16]


def source_hashes(raw_dir: Path, max_bytes: int, control_ratio: float) -> dict[str, str]:
    entries, _ = load_registry(raw_dir / "registry.toml")
    sources, _, _ = split_all(raw_dir, entries, max_bytes, control_ratio)
    return dict(zip(sources["source_id"], sources["sha256"])) if len(sources) else {}


def changed_sources(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Sources that are new or whose text changed (removed ones are reported by the run)."""
    return sorted(s for s, h in after.items() if before.get(s) != h)
