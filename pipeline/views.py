"""The analysts' views (SQL in data/views.sql) and their descriptions."""

from pipeline.warehouse import VIEWS_FILE

VIEW_COMMENTS = {
    "v_concept_matrix": "One row per (drug, concept, source): what each source says about each matched side effect, condition or interaction, with the mentions and quotes.",
    "v_discrepancy_history": "discrepancy_history with the last sighting of every present discrepancy filled in: the latest run.",
    "v_dose_comparison": "Dose facts side by side per drug, route, population and phase, sources ordered by authority.",
    "v_fact_history": "fact_history with the last sighting of every present fact filled in: the latest run.",
    "v_latest_run": "The run that published the warehouse (the last row of runs).",
    "v_open_discrepancies": "Discrepancies no editor has closed (open, needs expert, reopened), most severe first.",
    "v_source_coverage": "For each source and each section topic any source of the drug covers: whether this source covers it.",
    "v_unmatched_mentions": "Curation list: mentions that matched no vocabulary concept, by table, with how often and where.",
}


def views_sql() -> str:
    return VIEWS_FILE.read_text(encoding="utf-8")


# Columns a view derives ("view.column" for one view's column); every other view column takes
# the description of the table column of the same name (from the pandera models).
DERIVED_COLUMN_COMMENTS = {
    "source_kind": "Kind of source (sources.kind)",
    "fact_type": "condition, adverse_effect or interaction",
    "stance_or_category": "The source's stance(s) for a condition, category(ies) for an adverse effect, direction for an interaction",
    "mentions": "The source's wordings for the concept, '|'-separated",
    "quotes": "The sentences or list items they stand in, '|'-separated",
    "n_mentions": "How many times the source mentions the concept",
    "n_sections": "Number of the source's sections with this topic",
    "covered": "True when the source has at least one section with this topic",
    "v_unmatched_mentions.fact_table": "Table the unmatched mention comes from",
    "v_fact_history.last_seen_run": "Last run that produced it (the latest run for a present fact)",
    "v_fact_history.last_seen_at": "When it was last produced (UTC, ISO 8601)",
    "v_discrepancy_history.last_seen_run": "Last run that produced it (the latest run for a present discrepancy)",
    "v_discrepancy_history.last_seen_at": "When it was last produced (UTC, ISO 8601)",
    "n": "Number of rows with this wording",
    "sources": "Sources using this wording, comma-separated",
}
