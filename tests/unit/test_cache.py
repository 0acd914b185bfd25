"""Content-hash caches: entries kept in one pack per batch, read one at a time, pruned to what
a run used."""

import os
import sys
import time
import types

from pipeline.cache import SourceCache, read_pack_index


def _packs(tmp_path, stage="facts"):
    return sorted((tmp_path / "sources").glob(f"{stage}-*.pack"))


def test_a_batch_of_entries_is_one_file_and_each_entry_reads_back_alone(tmp_path):
    cache = SourceCache(tmp_path, "facts", "v1")
    for k in range(50):
        cache.put(f"k{k}", {"rows": list(range(k))})
    assert _packs(tmp_path) == []  # held until the batch ends
    pack = cache.flush()
    assert _packs(tmp_path) == [pack] and cache.flush() is None
    assert len(read_pack_index(pack)) == 50
    again = SourceCache(tmp_path, "facts", "v1")  # the next run
    assert again.get("k7") == {"rows": list(range(7))} and again.get("k49") == {"rows": list(range(49))}
    assert again.get("nope") is None and (again.hits, again.misses) == (2, 1)
    assert again.used == {"k7", "k49"}
    assert SourceCache(tmp_path, "sections", "v1").get("k7") is None  # other stage
    assert SourceCache(tmp_path, "facts", "v2").get("k7") is None     # other code version


def test_a_cache_sees_packs_written_after_it_first_looked(tmp_path):
    parent = SourceCache(tmp_path, "facts", "v1")
    assert parent.get("a") is None  # the folder is read: nothing yet
    worker = SourceCache(tmp_path, "facts", "v1")  # a worker process writing for the parent
    worker.put("a", "from the worker")
    worker.flush()
    assert parent.get("a") == "from the worker"
    parent.put("b", "own")
    parent.flush()
    assert parent.get("b") == "own" and parent.hits == 2


def test_whole_second_folder_times_are_not_trusted_within_the_second(tmp_path):
    parent = SourceCache(tmp_path, "facts", "v1")
    now = (time.time_ns() // 1_000_000_000) * 1_000_000_000
    folder = tmp_path / "sources"
    os.utime(folder, ns=(now, now))  # as a file system keeping whole seconds shows it
    assert parent.get("a") is None
    worker = SourceCache(tmp_path, "facts", "v1")
    worker.put("a", 1)
    worker.flush()
    os.utime(folder, ns=(now, now))  # the write did not change the time
    assert parent.get("a") == 1


def test_put_writes_a_pack_on_its_own_past_the_memory_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(SourceCache, "PENDING_LIMIT", 1000)
    cache = SourceCache(tmp_path, "facts", "v1")
    for k in range(10):
        cache.put(f"k{k}", "x" * 300)
    assert 2 <= len(_packs(tmp_path)) <= 4
    assert cache.get("k0") == "x" * 300 and cache.get("k9") == "x" * 300  # written or still held


def test_the_newer_pack_wins_for_a_key_in_two(tmp_path):
    first = SourceCache(tmp_path, "facts", "v1")
    first.put("a", "old")
    first.flush()
    second = SourceCache(tmp_path, "facts", "v1")
    second.put("a", "new")
    second.flush()
    assert SourceCache(tmp_path, "facts", "v1").get("a") == "new"
    assert second.get("a") == "new"


def test_prune_keeps_the_entries_this_run_used_and_drops_the_rest(tmp_path):
    first = SourceCache(tmp_path, "facts", "v1")
    for key in ("a", "b", "c"):
        first.put(key, {"key": key})
    first.flush()
    other_stage = SourceCache(tmp_path, "sections", "v1")
    other_stage.put("a", 1)
    other_stage.flush()
    old_code = SourceCache(tmp_path, "facts", "v0")
    old_code.put("a", "from older rules")
    old_code.flush()

    second = SourceCache(tmp_path, "facts", "v1")  # the next run: "b" was edited into "d", "c" removed
    assert second.get("a") == {"key": "a"}
    assert second.get("d") is None
    second.put("d", {"key": "d"})
    assert second.prune() == 3  # b, c and the older code version's entry
    after = SourceCache(tmp_path, "facts", "v1")
    assert after.keys() == {"a", "d"} and after.get("a") == {"key": "a"} and after.get("d") == {"key": "d"}
    assert all(p.name.startswith("facts-v1-") for p in _packs(tmp_path))
    assert SourceCache(tmp_path, "sections", "v1").get("a") == 1  # another stage's entries are not touched


def test_a_mostly_used_pack_is_kept_and_a_mostly_dead_one_rewritten(tmp_path):
    cache = SourceCache(tmp_path, "facts", "v1")
    for k in range(10):
        cache.put(f"k{k}", "x" * 1000)
    pack = cache.flush()

    run = SourceCache(tmp_path, "facts", "v1")
    for k in range(6):
        run.get(f"k{k}")
    assert run.prune() == 0
    assert _packs(tmp_path) == [pack]  # 60 % of it is used: rewriting it would cost more than it frees
    assert run.keys() == {f"k{k}" for k in range(10)}

    run = SourceCache(tmp_path, "facts", "v1")
    for k in range(4):
        run.get(f"k{k}")
    assert run.prune() == 6
    assert _packs(tmp_path) != [pack] and len(_packs(tmp_path)) == 1
    assert SourceCache(tmp_path, "facts", "v1").keys() == {f"k{k}" for k in range(4)}
    assert SourceCache(tmp_path, "facts", "v1").get("k3") == "x" * 1000


def test_many_small_packs_are_joined(tmp_path):
    keys = [f"k{k}" for k in range(SourceCache.MAX_SMALL_PACKS + 3)]
    for key in keys:  # one incremental run after another, each writing one entry
        run = SourceCache(tmp_path, "facts", "v1")
        run.put(key, key.upper())
        run.flush()
    assert len(_packs(tmp_path)) == len(keys)
    run = SourceCache(tmp_path, "facts", "v1")
    for key in keys:
        run.get(key)
    assert run.prune() == 0
    assert len(_packs(tmp_path)) == 1
    assert all(SourceCache(tmp_path, "facts", "v1").get(key) == key.upper() for key in keys)


def test_prune_removes_only_old_temporary_files_and_single_entry_files(tmp_path):
    cache = SourceCache(tmp_path, "facts", "v1")
    cache.put("a", 1)
    fresh = tmp_path / "sources" / "facts-v1-1-2-3.pack.tmp"
    stale = tmp_path / "sources" / "facts-v1-4-5-6.pack.tmp"
    legacy = tmp_path / "sources" / "facts-v1-b.pkl"
    for path in (fresh, stale, legacy):
        path.write_bytes(b"half")
    hour_ago = time.time() - 7200
    os.utime(stale, (hour_ago, hour_ago))
    assert cache.prune() == 2
    assert fresh.exists() and not stale.exists() and not legacy.exists()
    assert SourceCache(tmp_path, "facts", "v1").get("a") == 1


def test_a_cache_without_a_directory_keeps_nothing():
    cache = SourceCache(None, "facts", "v1")
    cache.put("a", 1)
    assert cache.flush() is None and cache.get("a") is None and cache.prune() == 0 and cache.keys() == set()


def test_an_entry_or_pack_that_cannot_be_read_is_a_miss_and_is_rewritten(tmp_path):
    cache = SourceCache(tmp_path, "facts", "v1")
    cache.put("a", 1)
    cache.flush()
    module = types.ModuleType("gone_module")
    exec("class Thing:\n    pass", module.__dict__)
    sys.modules["gone_module"] = module
    try:
        cache.put("b", module.Thing())  # written by code that no longer exists
        cache.flush()
    finally:
        del sys.modules["gone_module"]
    broken = tmp_path / "sources" / "facts-v1-99999999999999999999-1-1.pack"
    broken.write_bytes(b"not a pack at all")
    fresh = SourceCache(tmp_path, "facts", "v1")
    assert fresh.get("a") == 1
    assert fresh.get("b") is None and fresh.misses == 1
    fresh.put("b", 2)
    fresh.flush()
    assert SourceCache(tmp_path, "facts", "v1").get("b") == 2
    (pack,) = [p for p in _packs(tmp_path) if p != broken and "a" in read_pack_index(p)]
    pack.write_bytes(pack.read_bytes()[:-5])  # truncated: its footer is gone
    assert SourceCache(tmp_path, "facts", "v1").get("a") is None
    assert read_pack_index(broken) == {}
