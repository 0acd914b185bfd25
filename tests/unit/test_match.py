"""Matching: synonyms land on one concept, opposites never meet, broader/narrower relations,
and the chosen thresholds reproduce the figures recorded in README."""

import csv

import pandas as pd
import pytest
from rapidfuzz import fuzz

from pipeline.match import TABLE_DOMAINS, concept_relations, confusable, settings
from pipeline.normalise import normalise_term
from pipeline.paths import DATA_DIR

AE = TABLE_DOMAINS["adverse_effects"]
COND = TABLE_DOMAINS["conditions"]


@pytest.mark.parametrize("a,b", [("Somnolence", "sleepiness"), ("drowsiness", "Sleepiness"), ("drowsy", "somnolence"),
                                 ("itching", "pruritus"), ("low blood pressure", "hypotension"),
                                 ("muscle hypotension", "hypotonia"), ("taste perversion", "dysgeusia")])
def test_synonyms_land_on_one_concept(matcher, a, b):
    ma, mb = matcher.match(a, AE), matcher.match(b, AE)
    assert ma.concept_id and ma.concept_id == mb.concept_id


@pytest.mark.parametrize("a,b", [("hypotension", "hypertension"), ("hypoglycaemia", "hyperglycaemia"),
                                 ("insomnia", "somnolence"), ("tachycardia", "bradycardia"),
                                 ("increased muscle tone", "decreased muscle tone"), ("weight gain", "weight loss")])
def test_opposites_never_meet(matcher, a, b):
    ma, mb = matcher.match(a, AE), matcher.match(b, AE)
    assert ma.concept_id != mb.concept_id or not ma.concept_id


def _guard_rows():
    with open(DATA_DIR / "confusable_pairs.tsv", encoding="utf-8") as fh:
        lines = [ln for ln in fh if ln.strip() and not ln.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


@pytest.mark.parametrize("row", _guard_rows(), ids=lambda r: f"{r['a']}-{r['b']}")
def test_every_guard_pair_refuses_a_match(row):
    a, b = f"{row['a']}example", f"{row['b']}example"
    assert confusable(a, b) and confusable(b, a)
    assert not confusable(a, a)


def test_british_spelling_plurals_and_case_are_normalised():
    assert normalise_term("Diarrhoea") == normalise_term("diarrhea")
    assert normalise_term("Seizures") == normalise_term("seizure")
    assert normalise_term("Parkinson’s disease") == normalise_term("Parkinson's disease")


def test_wratio_partial_trap_is_avoided(matcher):
    # WRatio scores "stomach cramps" against "RA" at 90; the chosen scorer and blocking must not
    assert fuzz.WRatio("stomach cramps", "ra") >= 85
    assert settings()["fuzzy_scorer"] != "WRatio"
    assert matcher.match("stomach cramps", AE).concept_label != "RA"


def test_unmatched_mentions_are_kept_with_method_unmatched(matcher):
    from pipeline.match import match_table

    frame = pd.DataFrame({"source_id": ["s"], "mention": ["zqxv wobble"]})
    out = match_table(frame, "adverse_effects", matcher)
    assert len(out) == 1 and out["match_method"].iloc[0] == "unmatched" and out["concept_id"].iloc[0] == ""


def test_fuzzy_match_records_runner_up(matcher):
    r = matcher.match("abdominal pains severe cramping", AE)
    assert r.match_method in ("fuzzy", "exact", "synonym", "unmatched")
    r = matcher.match("breathing difficulty", AE)
    assert r.concept_label == "Dyspnea"


def test_kidney_disease_is_broader_than_chronic_renal_failure(matcher, vocabulary):
    concepts, _ = vocabulary
    broad = matcher.match("kidney disease", COND).concept_id
    narrow = matcher.match("chronic renal failure", COND).concept_id
    rel = concept_relations(pd.DataFrame({"drug": ["x", "x"], "concept_id": [broad, narrow]}), concepts)
    assert (rel["broader_id"] == broad).any() and (rel["narrower_id"] == narrow).any()


@pytest.mark.parametrize("broad,narrow", [("psychiatric conditions", "schizophrenia"), ("seizure disorder", "epilepsy")])
def test_group_concepts_cover_their_members(matcher, vocabulary, broad, narrow):
    concepts, _ = vocabulary
    b, n = matcher.match(broad, COND).concept_id, matcher.match(narrow, COND).concept_id
    rel = concept_relations(pd.DataFrame({"drug": ["x", "x"], "concept_id": [b, n]}), concepts)
    assert list(zip(rel["broader_id"], rel["narrower_id"])) == [(b, n)]


def test_distinct_mentions_are_matched_once(vocabulary):
    from pipeline.match import Matcher, match_table

    m = Matcher(*vocabulary)
    frame = pd.DataFrame({"source_id": ["a"] * 6, "mention": ["Nausea", "nausea", "NAUSEA", "vomiting", "Vomiting", "nausea"]})
    match_table(frame, "adverse_effects", m)
    assert m.misses == 2 and m.hits == 3  # five distinct wordings asked once each, two after normalising


def test_drug_name_is_generic_in_matching(matcher):
    from pipeline.match import match_table

    frame = pd.DataFrame({"source_id": ["a", "b"], "mention": ["allergic to zolpidem", "allergic to metformin"]})
    out = match_table(frame, "conditions", matcher, {"a": "zolpidem", "b": "metformin"})
    assert set(out["concept_id"]) == {"PRJ:hypersensitivity_to_drug"}


@pytest.mark.parametrize("mention,drug,expected", [
    ("allergic to Zolpidem", "zolpidem", "allergic to the drug"),
    ("zolpidem-induced amnesia", "zolpidem", "the drug-induced amnesia"),
    ("zolpidemum intolerance", "zolpidem", "zolpidemum intolerance"),          # not the whole word
    ("nausea", "zolpidem", "nausea"),
    ("nausea", "", "nausea"),
    ("Überempfindlichkeit gegen ÄMFETAMIN", "ämfetamin", "Überempfindlichkeit gegen the drug"),  # non-ASCII case
    ("allergic to ΚΑΡΒΑΜΑΖΕΠΊΝΗ", "καρβαμαζεπίνη", "allergic to the drug"),
    ("allergic to İbuprofen", "ibuprofen", "allergic to the drug"),  # str.lower() gives 'i' + a dot here
])
def test_generic_wording_replaces_the_drugs_own_name(mention, drug, expected):
    from pipeline.match import generic_wording

    assert generic_wording(mention, drug) == expected


def test_match_table_gives_each_row_its_wordings_match(matcher):
    from pipeline.match import MatchResult, match_table

    frame = pd.DataFrame({"source_id": ["a", "b", "a", "c", "b"],
                          "mention": ["Nausea", "allergic to metformin", "dizzyness", "headache", "nausea"],
                          "mention_expanded": ["", "", "dizziness", None, ""]})
    drugs = {"a": "zolpidem", "b": "metformin"}  # "c": a source of no known drug
    out = match_table(frame, "conditions", matcher, drugs)
    wordings = ["Nausea", "allergic to the drug", "dizziness", "headache", "nausea"]
    for k, w in enumerate(wordings):
        expected = matcher.match(w, TABLE_DOMAINS["conditions"])
        for col in MatchResult.__dataclass_fields__:
            assert out[col].iloc[k] == getattr(expected, col), (k, col)
    assert list(out["mention"]) == list(frame["mention"])


def test_relations_are_found_within_each_drug_only(matcher, vocabulary):
    concepts, _ = vocabulary
    broad = matcher.match("kidney disease", COND).concept_id
    narrow = matcher.match("chronic renal failure", COND).concept_id
    used = pd.DataFrame({"drug": ["y", "x", "z", None, "x", "y", "y"],
                         "concept_id": [narrow, narrow, broad, broad, broad, "", broad]})
    rel = concept_relations(used, concepts)
    assert list(zip(rel["drug"], rel["broader_id"], rel["narrower_id"])) == [("x", broad, narrow), ("y", broad, narrow)]


@pytest.mark.parametrize("mention,expected_word", [("visual and auditory hallucinations", "auditory"),
                                                   ("acute and chronic pain", "chronic")])
def test_coordinated_modifiers_share_their_head(matcher, mention, expected_word):
    r = matcher.match(mention, ("phenotype",))
    assert r.concept_id.startswith("HP:")
    assert expected_word in r.concept_label.lower() and "share the head" in r.match_note


def test_addiction_wordings_land_on_hpo_and_physical_dependence_stays_apart(matcher):
    addiction = matcher.match("addiction", ("phenotype",)).concept_id
    assert addiction == matcher.match("drug addiction", ("phenotype",)).concept_id
    assert addiction == matcher.match("psychological dependence", ("phenotype",)).concept_id
    assert matcher.match("physical dependence", ("phenotype",)).concept_id not in ("", addiction)


# -- the fuzzy step's shortcuts give the results of its plain definition -----------------------
# Mentions that exercise every path: fuzzy with and without a runner-up, words reordered or
# misspelt, grading words, a best candidate refused as a confusable opposite ("congenital
# hypothyroidism" for "hyperthyroidism congenital") or for a word without counterpart, the first
# accepted candidate under the cutoff (no match: "topoisomerase dna i antibody positivity" is
# refused, "anti topoisomerase i antibody positivity" scores 87.5), no candidate at all, stop words
# only, and repeats.
_VARIED = ["hyperthyroidism congenital", "hyperkalemic paralysis periodic", "Decreased serum acid concentration",
           "Anti-topoisomerase I anitbody positivity", "severe Severe alcohol intoxication",
           "mild Abnormal nasal hair morphology", "Prtial dyscognitive seizure", "Decreased urinary noerpinephrine level",
           "Other feamle pelvic inflammatory diseases", "Other specified diseases of and anus rectum",
           "hypertension intracranial idiopathic", "increased muscle tone", "tachycardia ventricular paroxysmal",
           "abnormality of the left ventricle morphology", "severe headache", "zqxv wobble", "of the and", "",
           "visual and auditory hallucinations", "convulsions that are difficult to control", "hyperthyroidism congenital",
           "Nausea", "nausea"]


def _reference_fuzzy(matcher, domains, norm):
    """The fuzzy step as first written: block by shared tokens (most shared first, ties in
    order of first encounter), score with token_sort_ratio, walk the ten best refusing
    confusable and unaligned terms; (concept, score, runner-up, runner-up score) or None."""
    from rapidfuzz import process

    from pipeline.match import _STOP

    cfg = settings()
    cutoff = float(cfg["fuzzy_min_score"])
    toks = [t for t in norm.split() if len(t) >= int(cfg["candidate_min_token_len"]) and t not in _STOP]
    for domain in domains:
        items = matcher._terms_by_domain[domain]
        counts: dict[int, int] = {}
        for tok in toks:
            for i in matcher._index[domain].get(tok, ()):
                counts[i] = counts.get(i, 0) + 1
        if not counts:
            continue
        cand = sorted(counts, key=lambda i: -counts[i])[:int(cfg["max_candidates"])]
        scored = process.extract(norm, [items[i][0] for i in cand], scorer=getattr(fuzz, cfg["fuzzy_scorer"]), limit=10)
        ranked, seen = [], set()
        for text, score, pos in scored:
            cid = items[cand[pos]][1]
            if cid in seen or confusable(norm, text) or not _tokens_align(norm, text):
                continue
            seen.add(cid)
            ranked.append((cid, round(score, 1)))
        if ranked and ranked[0][1] >= cutoff:
            return ranked[0] + (ranked[1] if len(ranked) > 1 else ("", 0.0))
    return None


def _perturbed_terms(vocabulary, n=150, seed=7):
    """Vocabulary terms with two letters swapped, a word dropped or the words reversed."""
    import random

    rng = random.Random(seed)
    _, terms = vocabulary
    pool = terms[terms["domain"].isin(["phenotype", "condition"])]["term"].drop_duplicates().tolist()
    out = []
    for term in rng.sample(pool, n):
        words = term.split()
        kind = rng.randrange(3)
        if kind == 0 and len(words[0]) >= 5:
            w = words[0]
            words[0] = w[:1] + w[2] + w[1] + w[3:]
        elif kind == 1 and len(words) >= 3:
            del words[rng.randrange(len(words))]
        else:
            words.reverse()
        out.append(" ".join(words))
    return out


@pytest.mark.parametrize("domains", [AE, COND])
def test_fuzzy_step_equals_its_plain_definition(vocabulary, domains):
    from pipeline.match import Matcher

    matcher = Matcher(*vocabulary)  # not prepared: the per-domain data is built on first use
    mentions = _VARIED + _perturbed_terms(vocabulary)
    checked = fuzzy = with_runner_up = 0
    for mention in mentions:
        norm = normalise_term(mention)
        got = matcher._fuzzy(domains, norm)
        want = _reference_fuzzy(matcher, domains, norm)
        assert (None if got is None else (got.concept_id, got.match_score, got.runner_up_id,
                                          got.runner_up_score)) == want, mention
        checked += 1
        fuzzy += got is not None
        with_runner_up += bool(got and got.runner_up_id)
    assert checked == len(mentions) and fuzzy > len(mentions) // 3 and with_runner_up > 0


def test_a_confusable_best_candidate_is_refused(matcher):
    # "congenital hypothyroidism" scores 94 but is the opposite: the sub-phrase names the concept
    r = matcher.match("hyperthyroidism congenital", AE)
    assert "hypothyroidism" not in r.concept_label.lower() and "sub-phrase" in r.match_note


def test_match_results_do_not_depend_on_order_prepare_or_repeats(vocabulary):
    from pipeline.match import Matcher

    mentions = [(m, AE if k % 2 else COND) for k, m in enumerate(_VARIED + _perturbed_terms(vocabulary, 60, 3))]
    first = Matcher(*vocabulary)
    once = [first.match(m, d) for m, d in mentions]
    again = Matcher(*vocabulary).prepare()
    backwards = [again.match(m, d) for m, d in reversed(mentions)][::-1]
    assert once == backwards
    hits = first.hits  # the repeats among the mentions
    assert hits > 0 and first.misses == len(mentions) - hits
    assert [first.match(m, d) for m, d in mentions] == once and first.hits == hits + len(mentions)


def test_candidates_are_the_terms_sharing_most_tokens(vocabulary):
    """The numpy counting (many postings), the dict counting (few) and a single token all give
    the terms sharing most tokens, ties in order of first encounter, as a plain count does."""
    from pipeline.match import _SMALL_POSTINGS, Matcher

    matcher = Matcher(*vocabulary).prepare()
    index = matcher._index["phenotype"]
    big = max(index, key=lambda t: len(index[t]))
    small = [t for t in index if 2 <= len(index[t]) <= 5][:3]
    cases = [[big], small, small[:1], [big] + small, ["abnormal", "morphology", "heart", "left"],
             ["left", "heart", "left", "ventricle"], ["zqxv"], [], ["zqxv", small[0]],
             [big, small[0]] * 130]  # more tokens than the scratch array counts: the dict counts them
    assert sum(len(index[t]) for t in cases[3]) > _SMALL_POSTINGS and sum(len(index[t]) for t in small) <= _SMALL_POSTINGS
    for toks in cases:
        for limit in (1, 7, 400):
            counts: dict[int, int] = {}
            for tok in toks:
                for i in index.get(tok, ()):
                    counts[i] = counts.get(i, 0) + 1
            want = sorted(counts, key=lambda i: -counts[i])[:limit] if counts else None
            got = matcher._candidates("phenotype", toks, limit)
            assert (None if got is None else got.tolist()) == want, (toks, limit)
    assert not matcher._scratch["phenotype"].any()  # the scratch counts are reset after each use


def test_mention_guards_equal_confusable_and_token_alignment():
    from pipeline.match import _STOP, _content_words, _MentionGuards, _sides_of_words

    mentions = ["hyperthyroidism congenital", "increased muscle tone", "left ventricle abnormality", "of the", "pain",
                "hypokalemic periodic paralysis", "weight gain", "stiff neck"]
    terms = ["congenital hypothyroidism", "congenital hyperthyroidism", "decreased muscle tone", "increased muscle tones",
             "abnormality of the left ventricle", "left ventricular abnormality", "the", "pains", "pain in the neck",
             "periodic hyperkalemic paralysis", "hypokalemic periodic paralyses", "weight loss", "gain weight",
             "neck stiffness", "stiff neck", "stiff necks and backs"]
    answers = set()
    for limit in (80.0, 0.0, 100.0, 101.0, 50.0):
        for mention in mentions:
            want = [not confusable(mention, term) and _tokens_align(mention, term, limit) for term in terms]
            answers.update((limit, w) for w in want)
            words = [t for t in mention.split() if t not in _STOP]
            for order in (terms, terms[::-1]):  # the remembered word comparisons do not depend on the order
                guards = _MentionGuards(mention, words, limit)
                got = {term: guards.accepts(_content_words(term), _sides_of_words(term)) for term in order}
                assert [got[term] for term in terms] == want, (mention, limit)
    assert {(80.0, True), (80.0, False), (50.0, True), (0.0, True), (101.0, False)} <= answers


def _tokens_align(a, b, limit=None):
    """The token-alignment guard stated plainly: every content word of each string has a word
    of the other with fuzz.ratio >= token_min_ratio (``limit``: another ratio than the configured one)."""
    from pipeline.match import _STOP

    limit = float(settings()["token_min_ratio"]) if limit is None else limit
    ta, tb = [t for t in a.split() if t not in _STOP], [t for t in b.split() if t not in _STOP]
    if not ta or not tb or limit > 100:
        return False
    return all(any(fuzz.ratio(x, y) >= limit for y in ys) for xs, ys in ((ta, tb), (tb, ta)) for x in xs)


@pytest.mark.parametrize("text", ["Hypotension and TACHYCARDIA", "weight gain", "no side here", "", "hyperhypo",
                                  "increased  decreased\tlow"])
def test_sides_found_word_by_word_equal_the_sides_of_the_text(text):
    from pipeline.match import _find_sides, _sides_of_words

    assert _sides_of_words(text) == _find_sides(text.lower())


@pytest.mark.parametrize("norm", ["severe headache", "headache", "history of severe severe pain", "mild  pain", "pain mild",
                                  "mildly painful", "", "acute on chronic kidney disease"])
def test_strip_modifiers_shortcut_equals_strip_modifiers(norm):
    from pipeline.match import _strip_modifiers
    from pipeline.normalise import strip_modifiers

    assert _strip_modifiers(norm) == strip_modifiers(norm)
