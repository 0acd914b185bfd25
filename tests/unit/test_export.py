"""The Parquet export (pipeline/export.py): bucketed tables, and tables whose lookup is empty
(published by ``warehouse.write_database``, as a run that found nothing publishes them)."""

from __future__ import annotations

import pandas as pd

from pipeline.export import bucket_of, export_from_database, read_exported
from pipeline.schemas import WAREHOUSE_MODELS
from pipeline.warehouse import connect, write_database


def _database(path, discrepancies: pd.DataFrame, evidence: pd.DataFrame) -> None:
    tables = {
        "sources": pd.DataFrame({"source_id": ["a-1", "a-2", "b-1"], "drug": ["alpha", "alpha", "beta"]}),
        "discrepancies": discrepancies,
        "discrepancy_evidence": evidence,
        "fact_history": pd.DataFrame({"fact_key": ["k1", "k2", "k3", "k4"], "source_id": ["a-1", "a-2", "b-1", "gone"],
                                      "present": [True, True, False, False]}),
    }
    write_database(path, tables, WAREHOUSE_MODELS)


def test_the_fact_history_is_bucketed_by_its_sources_drug_and_an_empty_lookup_exports(tmp_path):
    # a run that found no discrepancy publishes them from empty frames whose columns are numeric
    # (or hold nothing at all): the tables bucketed through them must still export
    empty = pd.DataFrame({"discrepancy_id": pd.Series(dtype="float64"), "drug": pd.Series(dtype="float64")})
    evidence = pd.DataFrame({"discrepancy_id": pd.Series(dtype="float64"), "source_id": pd.Series(dtype="float64")})
    db = tmp_path / "w.duckdb"
    _database(db, empty, evidence)
    con = connect(db, read_only=True)
    try:  # the empty tables have their models' types, not the frames' (no value to infer one from)
        types = dict(con.execute("SELECT table_name || '.' || column_name, data_type FROM duckdb_columns() "
                                 "WHERE table_name IN ('discrepancies', 'discrepancy_evidence')").fetchall())
    finally:
        con.close()
    assert types == {"discrepancies.discrepancy_id": "VARCHAR", "discrepancies.drug": "VARCHAR",
                     "discrepancy_evidence.discrepancy_id": "VARCHAR", "discrepancy_evidence.source_id": "VARCHAR"}
    out = tmp_path / "parquet"
    export_from_database(db, ["discrepancy_evidence", "fact_history"], out)
    facts = read_exported(out, "fact_history")
    assert sorted(facts["fact_key"]) == ["k1", "k2", "k3", "k4"]
    buckets = {p.parent.name for p in (out / "fact_history").rglob("*.parquet")}
    # each fact in the bucket of its source's drug; a fact of a source no longer known in that of ''
    assert buckets == {f"bucket={bucket_of(d)}" for d in ("alpha", "beta", "")}
    assert read_exported(out, "discrepancy_evidence") is None  # no rows, no file, no error
    # an incremental export rewrites one bucket, through the same lookups
    export_from_database(db, ["discrepancy_evidence", "fact_history"], out,
                         {"discrepancy_evidence": {bucket_of("alpha")}, "fact_history": {bucket_of("alpha")}})
    assert sorted(read_exported(out, "fact_history")["fact_key"]) == ["k1", "k2", "k3", "k4"]


def test_a_rewritten_bucket_holds_the_rows_a_whole_export_puts_there(tmp_path):
    """Bucket by bucket, what an incremental export writes equals the whole export's file,
    including the bucket of '' with the rows whose source no lookup row knows ("gone")."""
    db = tmp_path / "w.duckdb"
    _database(db, pd.DataFrame({"discrepancy_id": ["d1"], "drug": ["alpha"]}),
              pd.DataFrame({"discrepancy_id": ["d1", "d-gone"], "source_id": ["a-1", "a-1"]}))
    whole, part = tmp_path / "whole", tmp_path / "part"
    names = ["discrepancy_evidence", "fact_history"]
    export_from_database(db, names, whole)
    export_from_database(db, names, part)

    def keys(root, name, bucket):
        files = list((root / name / f"bucket={bucket}").glob("*.parquet"))
        return sorted(pd.concat([pd.read_parquet(f) for f in files]).iloc[:, 0]) if files else []

    for bucket in sorted({bucket_of(k) for k in ("alpha", "beta", "")}):
        export_from_database(db, names, part, {n: {bucket} for n in names})
        for name in names:
            assert keys(part, name, bucket) == keys(whole, name, bucket), (name, bucket)
    assert "k4" in keys(part, "fact_history", bucket_of(""))
    assert "d-gone" in keys(part, "discrepancy_evidence", bucket_of(""))


def test_export_in_two_threads_writes_what_one_thread_writes(tmp_path):
    """``export_tables`` deals the tables out to two connections at once: the same files as
    ``export_from_database`` in one; an error in either thread is raised, after both finished."""
    import pytest

    from pipeline.export import export_tables

    db = tmp_path / "w.duckdb"
    _database(db, pd.DataFrame({"discrepancy_id": ["d1"], "drug": ["alpha"]}),
              pd.DataFrame({"discrepancy_id": ["d1", "d-gone"], "source_id": ["a-1", "a-1"]}))
    names = ["sources", "discrepancies", "discrepancy_evidence", "fact_history"]
    one, two = tmp_path / "one", tmp_path / "two"
    export_from_database(db, names, one)
    assert export_tables(db, names, two, threads=2) == two

    def files(root):
        return {p.relative_to(root).as_posix(): pd.read_parquet(p).sort_values(list(pd.read_parquet(p).columns))
                .reset_index(drop=True) for p in root.rglob("*.parquet")}

    got, want = files(two), files(one)
    assert sorted(got) == sorted(want) and len(want) >= 5
    for rel in want:
        pd.testing.assert_frame_equal(got[rel], want[rel])
    # buckets alone, as an incremental run asks
    export_tables(db, names, two, {"fact_history": {bucket_of("alpha")}, "discrepancies": {bucket_of("alpha")}})
    assert sorted(read_exported(two, "fact_history")["fact_key"]) == ["k1", "k2", "k3", "k4"]
    with pytest.raises(Exception, match="no_such_table"):
        export_tables(db, ["sources", "no_such_table"], tmp_path / "three")
    assert (tmp_path / "three" / "sources").is_dir()  # the other thread's table was written
