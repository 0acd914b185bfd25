"""Content-hash caches keep what a run used and drop what it no longer needs."""

import os
import time

from pipeline.cache import SourceCache


def test_prune_keeps_the_entries_this_run_used_and_drops_the_rest(tmp_path):
    first = SourceCache(tmp_path, "facts", "v1")
    for key in ("a", "b", "c"):
        first.put(key, {"key": key})
    other_stage = SourceCache(tmp_path, "sections", "v1")
    other_stage.put("a", 1)

    second = SourceCache(tmp_path, "facts", "v1")  # the next run: "b" was edited into "d", "c" removed
    assert second.get("a") == {"key": "a"}
    assert second.get("d") is None
    second.put("d", {"key": "d"})
    old_code = SourceCache(tmp_path, "facts", "v0")
    old_code.put("a", "from older rules")
    assert second.prune() == 3  # b, c and the older code version's entry
    names = sorted(p.name for p in (tmp_path / "sources").iterdir())
    assert names == ["facts-v1-a.pkl", "facts-v1-d.pkl", "sections-v1-a.pkl"]


def test_prune_removes_only_old_temporary_files(tmp_path):
    cache = SourceCache(tmp_path, "facts", "v1")
    cache.put("a", 1)
    fresh = tmp_path / "sources" / "facts-v1-b.pkl.123.tmp"
    stale = tmp_path / "sources" / "facts-v1-c.pkl.456.tmp"
    fresh.write_bytes(b"half")
    stale.write_bytes(b"half")
    hour_ago = time.time() - 7200
    os.utime(stale, (hour_ago, hour_ago))
    assert cache.prune() == 1
    assert fresh.exists() and not stale.exists()


def test_a_cache_without_a_directory_prunes_nothing():
    assert SourceCache(None, "facts", "v1").prune() == 0


def test_an_entry_that_cannot_be_loaded_is_a_miss_and_is_rewritten(tmp_path):
    import pickle
    import sys
    import types

    cache = SourceCache(tmp_path, "facts", "v1")
    cache.put("a", 1)
    (tmp_path / "sources" / "facts-v1-a.pkl").write_bytes(b"\x80\x05truncated")
    module = types.ModuleType("gone_module")
    exec("class Thing:\n    pass", module.__dict__)
    sys.modules["gone_module"] = module
    try:
        data = pickle.dumps(module.Thing())
    finally:
        del sys.modules["gone_module"]
    (tmp_path / "sources" / "facts-v1-b.pkl").write_bytes(data)  # written by code that no longer exists
    fresh = SourceCache(tmp_path, "facts", "v1")
    assert fresh.get("a") is None and fresh.get("b") is None and fresh.misses == 2
    fresh.put("a", 2)
    assert SourceCache(tmp_path, "facts", "v1").get("a") == 2
