"""One pandera model per warehouse table.

The models are the analysts' contract: their descriptions become DuckDB ``COMMENT ON`` text,
Dagster column metadata and the generated data dictionary (docs/DATA_DICTIONARY.md).
Offsets: ``sources.char_start/char_end`` are code-point offsets into the raw file; every other
offset is relative to the start of its source's text (``sources.text``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera import dtypes
from pandera.engines import pandas_engine
from pandera.typing import Series


@pandas_engine.Engine.register_dtype
@dtypes.immutable(init=True)
class Text(pandas_engine.STRING):
    """pandera's string type (``Series[str]``), answering its dtype check with one verdict for the
    whole column when the column already has that type. pandera answers that case element by
    element, and then builds an (empty) table of failure cases and a message for every text
    column of every validation: most of the time a check of a small frame took. Coercion,
    nullability and every other check are pandera's own; a column of any other type is checked
    exactly as ``str`` is."""

    def check(self, pandera_dtype, data_container=None):
        verdict = super().check(pandera_dtype, data_container)
        if isinstance(verdict, np.ndarray) and verdict.all():
            return True
        return verdict


TOPICS = ["overview", "uses", "mechanism", "dosing", "administration", "adverse_effects",
          "serious_adverse_effects", "contraindications", "cautions", "pregnancy_lactation", "pediatric",
          "geriatric", "withdrawal", "overdose", "interactions", "storage", "pharmacology", "identifiers",
          "missed_dose", "driving", "misuse", "long_term", "faq", "boilerplate"]
AE_CATEGORIES = ["common", "serious", "rare", "allergic", "withdrawal", "overdose", "long_term", "high_dose",
                 "neonatal", "sought_effect", "other"]
STANCES = ["contraindicated", "avoid", "caution", "indication"]
MATCH_METHODS = ["exact", "synonym", "fuzzy", "unmatched"]
SEVERITIES = ["critical", "major", "minor", "info"]


def _offsets_ok(df: pd.DataFrame, start: str, end: str) -> pd.Series:
    return (df[start] >= 0) & (df[end] >= df[start])


class _Base(pa.DataFrameModel):
    class Config:
        strict = False
        coerce = True


class SourcesModel(_Base):
    """One row per source document: a web page or label declared in raw/registry.toml."""

    source_id: Series[Text] = pa.Field(unique=True, description="Registry id of the source, unique across drugs")
    drug: Series[Text] = pa.Field(description="Generic drug name in lower case")
    kind: Series[Text] = pa.Field(description="Kind of source (us_monograph, ru_reference, medical_article, overview_article, clinic_text, ...)")
    format: Series[Text] = pa.Field(description="Page template the section parser was told to expect; 'generic' for unknown publishers")
    title: Series[Text] = pa.Field(description="Title of the page")
    publisher: Series[Text] = pa.Field(description="Who published the page")
    country: Series[Text] = pa.Field(description="Country of the publisher (ISO code)")
    language: Series[Text] = pa.Field(description="Language of the text as stored")
    authority: Series[int] = pa.Field(ge=1, le=5, description="Authority tier: 1 regulator label, 2 reference, 3 medical news, 4 SEO, 5 marketing")
    authority_label: Series[Text] = pa.Field(description="Name of the authority tier")
    raw_path: Series[Text] = pa.Field(description="File under raw/ holding the source")
    char_start: Series[int] = pa.Field(ge=0, description="Code-point offset of the source's first character in the raw file")
    char_end: Series[int] = pa.Field(ge=0, description="Code-point offset just past the source's last character in the raw file")
    n_chars: Series[int] = pa.Field(ge=1, description="Length of the source text in code points")
    sha256: Series[Text] = pa.Field(str_length={"min_value": 64, "max_value": 64}, description="SHA-256 of the source text (UTF-8); changes when the source is edited")
    raw_sha256: Series[Text] = pa.Field(description="SHA-256 of the whole raw file's bytes")
    encoding: Series[Text] = pa.Field(description="Encoding the raw file was decoded with (utf-8, utf-8-sig, cp1251, ...)")
    text: Series[Text] = pa.Field(description="The source's text; every offset below a source points into it")

    @pa.dataframe_check
    def span_matches_length(cls, df: pd.DataFrame) -> pd.Series:
        return (df["char_end"] - df["char_start"] == df["n_chars"]) & (df["text"].str.len() == df["n_chars"])


class RawSegmentsModel(_Base):
    """How each raw file divides into sources and unassigned text: the segments of a file cover it
    exactly, in order, without overlap."""

    raw_path: Series[Text] = pa.Field(description="File under raw/")
    segment_index: Series[int] = pa.Field(ge=0, description="Order of the segment in the file")
    char_start: Series[int] = pa.Field(ge=0, description="Offset of the segment in the raw file")
    char_end: Series[int] = pa.Field(ge=0, description="Offset just past the segment in the raw file")
    source_id: Series[Text] = pa.Field(nullable=True, description="Source the segment belongs to; NULL for text assigned to no source")
    is_whitespace: Series[bool] = pa.Field(description="True when an unassigned segment is only white space")

    @pa.dataframe_check
    def ordered(cls, df: pd.DataFrame) -> pd.Series:
        return _offsets_ok(df, "char_start", "char_end")


class SectionsModel(_Base):
    """One row per section of a source: a heading and the body up to the next heading."""

    source_id: Series[Text] = pa.Field(description="Source the section belongs to")
    section_id: Series[Text] = pa.Field(unique=True, description="'<source_id>#s<index>'")
    section_index: Series[int] = pa.Field(ge=0, description="Order of the section in its source")
    heading: Series[Text] = pa.Field(description="Heading line as written ('' for untitled text and advertising blocks)")
    heading_kind: Series[Text] = pa.Field(isin=["title", "heading", "label", "weak", "untitled", "advert", "continuation"],
                                         description="How the heading was recognised: title line, heading, 'Label:' sub-heading, or none")
    level: Series[int] = pa.Field(isin=[1, 2], description="1 for headings, 2 for 'Label:' sub-headings")
    parent_section_id: Series[Text] = pa.Field(nullable=True, description="Enclosing section of a level-2 section")
    topic: Series[Text] = pa.Field(isin=TOPICS, description="Topic from the fixed list; 'boilerplate' for navigation, contents and advertising")
    topic_basis: Series[Text] = pa.Field(description="Why the topic: heading wording, parent, table_of_contents, advertising, continuation, default")
    char_start: Series[int] = pa.Field(ge=0, description="Offset of the section (its heading line) in the source text")
    char_end: Series[int] = pa.Field(ge=0, description="Offset just past the section's last non-blank character")
    body_start: Series[int] = pa.Field(ge=0, description="Offset of the first body line (= char_end when the body is empty)")
    body_end: Series[int] = pa.Field(ge=0, description="Offset just past the body")
    text: Series[Text] = pa.Field(description="source text[char_start:char_end]: heading line plus body, exactly as written")
    n_items: Series[int] = pa.Field(ge=0, description="Number of list items in the section")

    @pa.dataframe_check
    def offsets_ordered(cls, df: pd.DataFrame) -> pd.Series:
        return _offsets_ok(df, "char_start", "char_end") & (df["text"].str.len() == df["char_end"] - df["char_start"])


class ListItemsModel(_Base):
    """One row per bulleted or numbered list item, with its nesting and the line that leads into it."""

    source_id: Series[Text] = pa.Field(description="Source of the item")
    section_id: Series[Text] = pa.Field(description="Section holding the item")
    item_index: Series[int] = pa.Field(ge=0, description="Order of the item within its section")
    marker: Series[Text] = pa.Field(description="Bullet or number as written ('•', '-', '1.')")
    depth: Series[int] = pa.Field(ge=0, description="Nesting depth, 0 for top level")
    parent_item_index: Series[float] = pa.Field(nullable=True, description="item_index of the enclosing item of a nested item")
    char_start: Series[int] = pa.Field(ge=0, description="Offset of the item's text (after the marker) in the source")
    char_end: Series[int] = pa.Field(ge=0, description="Offset just past the item's text")
    text: Series[Text] = pa.Field(description="Item text as written")
    lead_in: Series[Text] = pa.Field(description="The nearest preceding non-item line of the section, e.g. 'Common side effects include:'")
    lead_in_start: Series[int] = pa.Field(ge=-1, description="Offset of the lead-in line, -1 when none")
    lead_in_end: Series[int] = pa.Field(ge=-1, description="Offset just past the lead-in line, -1 when none")

    @pa.dataframe_check
    def offsets_ordered(cls, df: pd.DataFrame) -> pd.Series:
        return _offsets_ok(df, "char_start", "char_end") & (df["text"].str.len() == df["char_end"] - df["char_start"])


class QuarantineModel(_Base):
    """Input that could not be used as it stands: each row says what, where and what to do.
    Nothing is dropped silently; errors skipped a source or passage, warnings note a repair."""

    stage: Series[Text] = pa.Field(description="Stage that found the problem (registry, split, sections, extract, decisions)")
    severity: Series[Text] = pa.Field(isin=["error", "warning"], description="error: skipped; warning: processed, with the repair noted")
    raw_path: Series[Text] = pa.Field(description="Raw file concerned")
    source_id: Series[Text] = pa.Field(description="Source concerned ('' when the whole file or registry)")
    char_start: Series[int] = pa.Field(ge=-1, description="Offset of the passage (raw file for split, else source text); -1 when none")
    char_end: Series[int] = pa.Field(ge=-1, description="Offset just past the passage; -1 when none")
    reason: Series[Text] = pa.Field(description="What is wrong")
    action: Series[Text] = pa.Field(description="What to do about it")
    excerpt: Series[Text] = pa.Field(description="A few words of the passage concerned")


class _FactBase(_Base):
    source_id: Series[Text] = pa.Field(description="Source stating the fact")
    section_id: Series[Text] = pa.Field(description="Section holding the fact")
    section_topic: Series[Text] = pa.Field(isin=TOPICS, description="Topic of that section")
    fact_id: Series[Text] = pa.Field(unique=True, description="Stable id: hash of source, table and mention offsets")
    mention: Series[Text] = pa.Field(description="The words naming the fact, as written")
    char_start: Series[int] = pa.Field(ge=0, description="Offset of the mention in the source text")
    char_end: Series[int] = pa.Field(ge=0, description="Offset just past the mention")
    quote: Series[Text] = pa.Field(description="The sentence or list item the mention stands in, as written")
    quote_start: Series[int] = pa.Field(ge=0, description="Offset of the quote in the source text")
    quote_end: Series[int] = pa.Field(ge=0, description="Offset just past the quote")

    @pa.dataframe_check
    def mention_inside_quote(cls, df: pd.DataFrame) -> pd.Series:
        return ((df["quote_start"] <= df["char_start"]) & (df["char_end"] <= df["quote_end"])
                & (df["char_start"] < df["char_end"]))


class DoseStatementsModel(_FactBase):
    """One row per dose statement (before the indication is matched). Daily figures are normalised to mg/day."""

    route: Series[Text] = pa.Field(description="oral, intrathecal, intravenous, intramuscular, topical, ... or 'unspecified'")
    population: Series[Text] = pa.Field(description="adult, pediatric, elderly, renal_impairment, hepatic_impairment or 'any'")
    age_min_years: Series[float] = pa.Field(nullable=True, description="Lower age bound stated for the population")
    age_max_years: Series[float] = pa.Field(nullable=True, description="Upper age bound stated for the population")
    indication: Series[Text] = pa.Field(description="Indication the dose is for, where stated ('' otherwise)")
    phase: Series[Text] = pa.Field(isin=["initial", "titration_step", "maintenance", "usual_range", "maximum", "test_dose", "single_dose", "other"],
                                  description="Role of the dose in the regimen")
    step_index: Series[int] = pa.Field(ge=0, description="Position within a titration sequence (0 for the first step or a lone statement)")
    amount_min: Series[float] = pa.Field(nullable=True, description="Smallest amount per administration (or per day when stated per day), in `unit`")
    amount_max: Series[float] = pa.Field(nullable=True, description="Largest amount, in `unit`")
    unit: Series[Text] = pa.Field(description="Unit as written (mg, mcg, g, micrograms, mg/day, ...)")
    per: Series[Text] = pa.Field(isin=["dose", "day"], description="Whether the amount is per administration or per day")
    times_per_day: Series[float] = pa.Field(nullable=True, description="Administrations per day (upper value of a range)")
    times_per_day_min: Series[float] = pa.Field(nullable=True, description="Administrations per day (lower value of a range)")
    duration_days: Series[float] = pa.Field(nullable=True, description="How long the step lasts, in days, where stated")
    daily_min_mg: Series[float] = pa.Field(nullable=True, description="Smallest daily amount in mg (mcg and g converted); NULL when not computable")
    daily_max_mg: Series[float] = pa.Field(nullable=True, description="Largest daily amount in mg; NULL when not computable")
    qualifier: Series[Text] = pa.Field(description="Conditions the text attaches to the dose (e.g. 'if no relief within 6 weeks'); '' when none")
    route_basis: Series[Text] = pa.Field(description="Where the route came from: stated (this sentence), heading, default ('oral' assumed for a mg dose with no route anywhere), ''")


class DosingModel(DoseStatementsModel):
    """One row per dose statement, with its indication matched. Daily figures are normalised to mg/day."""

    indication_concept_id: Series[Text] = pa.Field(description="Concept of the indication the dose is for ('' when none is stated)")


class _Matched(_Base):
    concept_id: Series[Text] = pa.Field(description="Vocabulary concept the mention matched (HP:..., ICD10:..., PRJ:...); '' when unmatched")
    concept_label: Series[Text] = pa.Field(description="Preferred label of the concept")
    match_method: Series[Text] = pa.Field(isin=MATCH_METHODS, description="exact (concept label), synonym (ontology or project synonym), fuzzy (scored or sub-phrase), unmatched")
    match_score: Series[float] = pa.Field(ge=0, le=100, description="0-100: 100 for exact/synonym; the rapidfuzz score or the share of words covered for fuzzy")
    runner_up_id: Series[Text] = pa.Field(description="Second-best concept of a fuzzy match ('' when none)")
    runner_up_label: Series[Text] = pa.Field(description="Label of the runner-up concept")
    runner_up_score: Series[float] = pa.Field(ge=0, le=100, description="Score of the runner-up")
    match_note: Series[Text] = pa.Field(description="How the match was made (closest term, sub-phrase, grading words dropped)")


class AdverseEffectMentionsModel(_FactBase):
    """One row per adverse-effect mention, compound list items split (before matching)."""

    mention_expanded: Series[Text] = pa.Field(description="The mention with a word elided by coordination restored ('difficulty swallowing' for 'swallowing' in 'difficulty breathing or swallowing'); '' when nothing was elided")
    category: Series[Text] = pa.Field(isin=AE_CATEGORIES, description="common, serious, rare, allergic, withdrawal, overdose, long_term, high_dose, neonatal, sought_effect or other")
    negated: Series[bool] = pa.Field(description="True when the text says the effect does not occur")
    hedge: Series[Text] = pa.Field(description="Hedging or frequency words attached ('rare', 'may', 'in some'); '' when none")


class ConditionMentionsModel(_FactBase):
    """One row per condition, population or state named as a reason to avoid, take care or use (before matching)."""

    mention_expanded: Series[Text] = pa.Field(description="The mention with a word elided by coordination restored; '' when nothing was elided")
    stance: Series[Text] = pa.Field(isin=STANCES, description="contraindicated > avoid > caution > indication (the stronger when two are named)")
    stance_alt: Series[Text] = pa.Field(description="The weaker stance when the wording names two ('' otherwise)")
    stance_cue: Series[Text] = pa.Field(description="The words that set the stance")
    negated: Series[bool] = pa.Field(description="True when the text says the condition is NOT a reason (e.g. 'does not treat')")


class InteractionMentionsModel(_FactBase):
    """One row per interacting agent or drug class (before matching)."""

    agent: Series[Text] = pa.Field(description="Agent or class as written")
    effect: Series[Text] = pa.Field(description="What the combination does, as written ('' when not stated)")
    direction: Series[Text] = pa.Field(isin=["increases", "decreases", "alters", "unspecified"], description="Direction of the effect where stated")


class AdverseEffectsModel(AdverseEffectMentionsModel, _Matched):
    """One row per adverse-effect mention, compound list items split, matched to HPO or project concepts."""


class ConditionsModel(ConditionMentionsModel, _Matched):
    """One row per condition, population or state named as a reason to avoid, take care or use, matched to ICD-10, HPO or project concepts."""


class InteractionsModel(InteractionMentionsModel, _Matched):
    """One row per interacting agent or drug class, matched to the project's agent vocabulary."""


class StatementsModel(_FactBase):
    """Other checkable claims: taper durations, missed-dose rule, driving, alcohol, storage,
    dependence, pharmacokinetics."""

    topic: Series[Text] = pa.Field(description="withdrawal_taper, missed_dose, driving, alcohol, storage, dependence, half_life, time_to_peak, protein_binding, elimination, min_age, ...")
    value_text: Series[Text] = pa.Field(description="The value as written ('2–4 weeks', '30%')")
    value_min: Series[float] = pa.Field(nullable=True, description="Normalised lower value")
    value_max: Series[float] = pa.Field(nullable=True, description="Normalised upper value")
    value_unit: Series[Text] = pa.Field(description="Unit of the normalised value (days, hours, percent, years, rule, ...)")


class DrugProfileModel(_FactBase):
    """Identity facts a source states: names, brands, forms, class, CAS, formula, ICD-10 codes."""

    field: Series[Text] = pa.Field(description="generic_name, brand_name, dosage_form, drug_class, cas_number, chemical_name, formula, icd10_code, ...")
    value: Series[Text] = pa.Field(description="Value as written (codes normalised, e.g. 'G95.9')")


class DataQualityModel(_Base):
    """What looks broken in a source. Flagged, never repaired silently."""

    source_id: Series[Text] = pa.Field(description="Source concerned")
    section_id: Series[Text] = pa.Field(description="Section concerned ('' when the whole source)")
    issue: Series[Text] = pa.Field(description="empty_list, empty_section, garbled_token, duplicated_passage, truncated_passage, html_residue, mojibake, ...")
    detail: Series[Text] = pa.Field(description="What was seen")
    hides: Series[Text] = pa.Field(description="Fact table the defect may hide facts from ('' when none)")
    char_start: Series[int] = pa.Field(ge=0, description="Offset of the passage in the source text")
    char_end: Series[int] = pa.Field(ge=0, description="Offset just past the passage")
    excerpt: Series[Text] = pa.Field(description="The passage as written (at most 200 characters)")


class ConceptsModel(_Base):
    """Vocabulary concepts: HPO phenotypic abnormalities, ICD-10 chapters/blocks/categories and the project's own
    concepts. Keyed by the ontologies' versions; rebuilt only when one changes."""

    concept_id: Series[Text] = pa.Field(unique=True, description="HP:nnnnnnn, ICD10:<code>, PRJ:<name>")
    vocabulary: Series[Text] = pa.Field(isin=["HPO", "ICD10", "PROJECT"], description="Vocabulary the concept belongs to")
    label: Series[Text] = pa.Field(description="Preferred label")
    kind: Series[Text] = pa.Field(description="phenotype, chapter, block, category, population, condition, agent, agent_class")
    parents: Series[Text] = pa.Field(description="'|'-separated is-a parents")
    covers: Series[Text] = pa.Field(description="Project groups: '|'-separated ICD-10 codes or blocks they are broader than")


class ConceptTermsModel(_Base):
    """Every wording matched against: ontology labels and synonyms, and the project's synonyms with their reasons."""

    concept_id: Series[Text] = pa.Field(description="Concept the term names")
    term: Series[Text] = pa.Field(description="The term as the vocabulary writes it")
    term_norm: Series[Text] = pa.Field(description="Normalised form used for matching")
    term_type: Series[Text] = pa.Field(isin=["name", "synonym", "project_synonym"], description="Label, ontology synonym, or project synonym")
    domain: Series[Text] = pa.Field(isin=["phenotype", "condition", "population", "agent"], description="Which fact tables match against it")
    origin: Series[Text] = pa.Field(description="Where the term comes from, or why the project added it")


class ConceptRelationsModel(_Base):
    """Broader/narrower pairs among the concepts each drug's sources use (is-a links and project groups)."""

    drug: Series[Text] = pa.Field(description="Drug")
    broader_id: Series[Text] = pa.Field(description="The broader concept")
    broader_label: Series[Text] = pa.Field(description="Its label")
    narrower_id: Series[Text] = pa.Field(description="The narrower concept")
    narrower_label: Series[Text] = pa.Field(description="Its label")
    relation: Series[Text] = pa.Field(isin=["broader_than"], description="broader_id is broader than narrower_id")


class DiscrepanciesModel(_Base):
    """One row per point of disagreement between sources, however many sources take part."""

    discrepancy_id: Series[Text] = pa.Field(unique=True, description="Stable id: hash of drug, topic and comparison key (never of the sources), so editors' decisions survive new sources")
    drug: Series[Text] = pa.Field(description="Drug")
    topic: Series[Text] = pa.Field(description="dose, stance, statement, coverage_adverse_effects, coverage_conditions, coverage_interactions, data_quality")
    kind: Series[Text] = pa.Field(description="value_conflict, stance_conflict, broader_narrower_conflict, single_source, unsupported_claim, or the data-quality issue")
    comparison_key: Series[Text] = pa.Field(description="What is compared: the concept, or route|population|phase|indication for doses")
    concept_id: Series[Text] = pa.Field(description="Concept compared ('' for doses without indication and statements)")
    concept_label: Series[Text] = pa.Field(description="Label of what is compared")
    severity: Series[Text] = pa.Field(isin=SEVERITIES, description="critical / major / minor / info, from the score (see README 'How severity is scored')")
    score: Series[float] = pa.Field(ge=0, description="base(kind of disagreement) x support(authority of the weaker side)")
    supported: Series[bool] = pa.Field(description="False when one side is held only by SEO or marketing sources")
    n_sources: Series[int] = pa.Field(ge=1, description="Sources taking part")
    summary: Series[Text] = pa.Field(description="One sentence an editor understands, naming the values")
    status: Series[Text] = pa.Field(isin=["open", "confirmed", "dismissed", "fixed upstream", "needs expert", "reopened"],
                                   description="Editors' decision from reports/decisions.csv ('open' when none; 'reopened' when the values it was made on changed)")
    values_hash: Series[Text] = pa.Field(description="Fingerprint of the sources' values and quotes; a decision records it and is re-opened when it changes")


class DiscrepancyEvidenceModel(_Base):
    """One row per source on each discrepancy: its value and the quote it came from."""

    discrepancy_id: Series[Text] = pa.Field(description="Discrepancy")
    source_id: Series[Text] = pa.Field(description="Source")
    source_kind: Series[Text] = pa.Field(description="Kind of source")
    authority: Series[int] = pa.Field(ge=1, le=5, description="Authority tier of the source")
    value: Series[Text] = pa.Field(description="What the source says, normalised, with unit (e.g. '40 mg/day', 'contraindicated')")
    mention: Series[Text] = pa.Field(description="The words naming the fact")
    quote: Series[Text] = pa.Field(description="Sentence or list item quoted")
    section_id: Series[Text] = pa.Field(description="Section of the quote")
    char_start: Series[int] = pa.Field(ge=0, description="Offset of the mention in the source text")
    char_end: Series[int] = pa.Field(ge=0, description="Offset just past the mention")
    quote_start: Series[int] = pa.Field(ge=0, description="Offset of the quote in the source text")
    quote_end: Series[int] = pa.Field(ge=0, description="Offset just past the quote")
    independent: Series[bool] = pa.Field(description="False when the source restates another source (not independent support)")


class SourceDependenciesModel(_Base):
    """Sources that restate another source of the same drug (near-duplicate passages)."""

    drug: Series[Text] = pa.Field(description="Drug")
    source_id: Series[Text] = pa.Field(description="The restating source")
    restates_source_id: Series[Text] = pa.Field(description="The source it restates")
    shared_passages: Series[int] = pa.Field(ge=0, description="Its passages that nearly repeat a passage of the other")
    share: Series[float] = pa.Field(ge=0, le=1, description="Share of its passages that do")
    fact_order_share: Series[float] = pa.Field(ge=0, le=1, description="Share of its matched facts found in the same order in the other source")


class ReviewsModel(_Base):
    """Editors' decisions read from reports/decisions.csv, with the status in force after re-opening."""

    discrepancy_id: Series[Text] = pa.Field(unique=True, description="Discrepancy decided on")
    status: Series[Text] = pa.Field(isin=["confirmed", "dismissed", "fixed upstream", "needs expert", "reopened"], description="Status in force: the decision, or 'reopened' when its values changed")
    decided_status: Series[Text] = pa.Field(isin=["confirmed", "dismissed", "fixed upstream", "needs expert"], description="Status the editor recorded")
    reviewer: Series[Text] = pa.Field(description="Who decided")
    decided_at: Series[Text] = pa.Field(description="When (as written in the file)")
    comment: Series[Text] = pa.Field(description="Editor's comment")
    values_hash_at_decision: Series[Text] = pa.Field(description="Fingerprint of the values the decision was made on ('' when not recorded)")
    current_values_hash: Series[Text] = pa.Field(description="Fingerprint of the values now")
    reopened: Series[bool] = pa.Field(description="True when the values or quotes changed since the decision")
    line: Series[int] = pa.Field(ge=2, description="Line of the decisions file")


class RunsModel(_Base):
    """One row per pipeline run that published: when, what it read, what it produced."""

    run_id: Series[Text] = pa.Field(unique=True, description="Dagster run id")
    started_at: Series[Text] = pa.Field(description="Start of the run (UTC, ISO 8601)")
    ended_at: Series[Text] = pa.Field(description="When the run's results were assembled (UTC, ISO 8601)")
    source_hashes: Series[Text] = pa.Field(description=(
        "JSON object source_id -> SHA-256 of the source text this run read, for the sources that are new or whose "
        "text changed since the previous run, and source_id -> null for a source gone since then; the first run "
        "lists every source, a run that changed nothing {}. The hashes a run read: the latest entry of each source "
        "up to that run; the latest run's are in sources.sha256"))
    row_counts: Series[Text] = pa.Field(description="JSON object table -> rows produced")
    severity_counts: Series[Text] = pa.Field(description="JSON object severity -> discrepancies")


class _Seen(_Base):
    first_seen_run: Series[Text] = pa.Field(description="Run that first produced it")
    first_seen_at: Series[Text] = pa.Field(description="When it was first produced (UTC, ISO 8601)")
    last_seen_run: Series[Text] = pa.Field(nullable=True, description="Last run that produced it; empty while `present` "
                                           "(the latest run: see the views v_fact_history and v_discrepancy_history)")
    last_seen_at: Series[Text] = pa.Field(nullable=True, description="When it was last produced (UTC, ISO 8601); empty "
                                          "while `present`")
    present: Series[bool] = pa.Field(description="Produced by the latest run (False: gone, e.g. a resolved discrepancy)")

    @pa.dataframe_check
    def last_sighting_only_when_gone(cls, df: pd.DataFrame) -> pd.Series:
        """A row the latest run produced has no last sighting of its own; a gone row has one."""
        gone = ~df["present"].astype(bool)
        return (df["last_seen_run"].notna() == gone) & (df["last_seen_at"].notna() == gone)


class FactHistoryModel(_Seen):
    """When each fact (source, table, wording, label) was first and last seen."""

    fact_key: Series[Text] = pa.Field(unique=True, description="Hash of table, source, normalised wording and label (offsets left out)")
    fact_table: Series[Text] = pa.Field(description="Fact table")
    source_id: Series[Text] = pa.Field(description="Source")
    mention: Series[Text] = pa.Field(description="Wording when last seen")
    label: Series[Text] = pa.Field(description="Stance, category, direction, phase or topic")


class DiscrepancyHistoryModel(_Seen):
    """When each discrepancy was first and last seen, and its latest values fingerprint."""

    discrepancy_id: Series[Text] = pa.Field(unique=True, description="Discrepancy")
    drug: Series[Text] = pa.Field(description="Drug")
    topic: Series[Text] = pa.Field(description="Topic")
    severity: Series[Text] = pa.Field(description="Severity when last seen")
    summary: Series[Text] = pa.Field(description="Summary when last seen")
    values_hash: Series[Text] = pa.Field(description="Values fingerprint when last seen")


class SectionHistoryModel(_Base):
    """Fingerprint of every section's text in the latest run, to tell which sections an edit changed."""

    source_id: Series[Text] = pa.Field(description="Source")
    section_key: Series[Text] = pa.Field(description="Heading and its occurrence number within the source")
    heading: Series[Text] = pa.Field(description="Heading")
    text_sha: Series[Text] = pa.Field(description="Hash of the section text")
    last_seen_run: Series[Text] = pa.Field(description="Run that recorded the fingerprint")


MENTION_MODELS: dict[str, type[_Base]] = {
    "adverse_effect_mentions": AdverseEffectMentionsModel,
    "condition_mentions": ConditionMentionsModel,
    "interaction_mentions": InteractionMentionsModel,
    "dose_statements": DoseStatementsModel,
}

WAREHOUSE_MODELS: dict[str, type[_Base]] = {
    "sources": SourcesModel,
    "raw_segments": RawSegmentsModel,
    "sections": SectionsModel,
    "list_items": ListItemsModel,
    "quarantine": QuarantineModel,
    "dosing": DosingModel,
    "adverse_effects": AdverseEffectsModel,
    "conditions": ConditionsModel,
    "interactions": InteractionsModel,
    "statements": StatementsModel,
    "drug_profile": DrugProfileModel,
    "data_quality": DataQualityModel,
    "concepts": ConceptsModel,
    "concept_terms": ConceptTermsModel,
    "concept_relations": ConceptRelationsModel,
    "discrepancies": DiscrepanciesModel,
    "discrepancy_evidence": DiscrepancyEvidenceModel,
    "source_dependencies": SourceDependenciesModel,
    "reviews": ReviewsModel,
    "runs": RunsModel,
    "fact_history": FactHistoryModel,
    "discrepancy_history": DiscrepancyHistoryModel,
    "section_history": SectionHistoryModel,
}


def empty_frame(model: type[_Base]) -> pd.DataFrame:
    """A zero-row frame with the model's columns, for sources that yield nothing."""
    schema = model.to_schema()
    return pd.DataFrame({name: pd.Series(dtype=object) for name in schema.columns})


def typed_empty(frame: pd.DataFrame, model: type[_Base]) -> pd.DataFrame:
    """A zero-row ``frame`` with its model's column types. An empty column has no value for
    DuckDB to infer a type from: it stored such columns as DOUBLE or as a column of no type, so
    a run that found nothing published tables a later run could not insert text into or bucket
    by drug."""
    if len(frame):
        return frame
    columns = model.to_schema().columns
    types = {c: ("string" if columns[c].dtype.type is str else columns[c].dtype.type)
             for c in frame.columns if c in columns}
    return frame.astype(types)


def table_description(model: type[_Base]) -> str:
    return " ".join((model.__doc__ or "").split())


def column_descriptions(model: type[_Base]) -> dict[str, str]:
    return {name: col.description or "" for name, col in model.to_schema().columns.items()}
