"""The analysts' views (SQL in data/views.sql) and their descriptions."""

from pipeline.warehouse import VIEWS_FILE

VIEW_COMMENTS = {
    "v_concept_matrix": "One row per (drug, concept, source): what each source says about each matched side effect, condition or interaction, with the mentions and quotes.",
    "v_dose_comparison": "Dose facts side by side per drug, route, population and phase, sources ordered by authority.",
    "v_open_discrepancies": "Discrepancies no editor has closed (open, needs expert, reopened), most severe first.",
    "v_source_coverage": "For each source and each section topic any source of the drug covers: whether this source covers it.",
    "v_unmatched_mentions": "Curation list: mentions that matched no vocabulary concept, by table, with how often and where.",
}


def views_sql() -> str:
    return VIEWS_FILE.read_text(encoding="utf-8")
