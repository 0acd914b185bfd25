"""Effects stated in running prose rather than in lists, on made-up pages (no seed wording)."""

from __future__ import annotations

import pandas as pd

from pipeline.extract import extract_source, frames_from_rows
from pipeline.sections import section_source


def _effects(text: str, drug: str = "zentorin") -> pd.DataFrame:
    sections, items, _ = section_source("made-up", text, "generic")
    frames = frames_from_rows(extract_source("made-up", drug, text, pd.DataFrame(sections), pd.DataFrame(items)))
    return frames["adverse_effects"]


def _pairs(ae: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(ae["mention"], ae["category"]))


def test_dependence_on_the_drug_is_a_long_term_effect_wherever_it_is_named():
    text = ("Zentorin misuse\n\n"
            "Misuse of the tablets is spreading among young people. Within months users report a strong "
            "psychological dependence on zentorin and its analogues.\n")
    ae = _effects(text)
    assert ("psychological dependence", "long_term") in _pairs(ae)
    row = ae[ae["mention"] == "psychological dependence"].iloc[0]
    assert text[row["char_start"]:row["char_end"]] == "psychological dependence"


def test_negated_dependence_is_marked_negated():
    text = ("Zentorin safety\n\n"
            "In trials the medicine did not produce physical dependence on repeated dosing, and no "
            "withdrawal was reported.\n")
    ae = _effects(text)
    hits = ae[ae["mention"].str.contains("dependence")]
    assert hits.empty or hits["negated"].all()


def test_a_sentence_pointing_back_takes_its_category_from_the_sentences_before_it():
    text = ("Taking too much\n\n"
            "An overdose of zentorin develops within an hour. This condition needs care in hospital to "
            "prevent lasting harm and death.\n")
    ae = _effects(text)
    assert ("death", "overdose") in _pairs(ae)
    row = ae[ae["mention"] == "death"].iloc[0]
    assert text[row["quote_start"]:row["quote_end"]].startswith("This condition")


def test_an_overlong_list_item_loses_its_closing_place_phrase():
    text = ("Zentorin side effects\n\n"
            "Side effects may include:\n\n"
            "  • weakens the response of sensory pathways on the surface of the lower spinal cord;\n"
            "  • pain in the chest;\n"
            "  • dry mouth.\n")
    mentions = set(_effects(text)["mention"])
    assert "weakens the response of sensory pathways" in mentions
    assert "pain in the chest" in mentions  # a short mention keeps its place phrase
    assert "dry mouth" in mentions


def test_manifested_by_is_read_when_the_list_before_it_names_no_effect():
    text = ("Zentorin tablets\n\nSide effects\n\n"
            "The effect of the medicine on the brain, which is manifested by a slowing of motor "
            "reactions, limits its use in drivers.\n")
    assert "slowing of motor reactions" in set(_effects(text)["mention"])


def test_second_effect_after_the_drug_as_subject_only_in_an_effects_section():
    effects = ("Zentorin tablets\n\nSide effects\n\n"
               "The drug has a strong calming effect, weakens attention to road traffic.\n")
    other = ("Zentorin tablets\n\nStorage\n\n"
             "The drug has a long shelf life, reduces waste in pharmacies.\n")
    assert "weakens attention to road traffic" in set(_effects(effects)["mention"])
    assert "reduces waste in pharmacies" not in set(_effects(other)["mention"])
