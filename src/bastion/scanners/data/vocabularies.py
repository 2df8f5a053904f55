"""Word lists: GDPR special categories (health, origin, beliefs, orientation, union, genetic), offensive language,
and credentials (the secret scanner's rules) inside cells.

Lists are curated, in several languages; a whole cell matches a list when, case-folded, it is one of
its terms (or, for health, contains one). In free text only health terms and offensive words are searched:
words such as "white", "Christian" or "Green" are far too often something else in prose.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bastion.scanners.code.rules import SecretRule
    from bastion.scanners.code.secrets import SecretScanner
    from bastion.scanners.data.entities import EntitySpan

HEALTH_TERMS = (
    "diabetes", "type 1 diabetes", "type 2 diabetes", "diabetes mellitus", "hypertension", "high blood pressure", "asthma",
    "copd", "depression", "major depressive disorder", "anxiety disorder", "generalized anxiety disorder", "bipolar disorder",
    "schizophrenia", "cancer", "carcinoma", "leukemia", "leukaemia", "lymphoma", "melanoma", "tumor", "tumour", "hiv",
    "hepatitis", "hepatitis b", "hepatitis c", "tuberculosis", "covid-19", "pneumonia", "influenza", "stroke",
    "myocardial infarction", "heart attack", "heart failure", "coronary artery disease", "atrial fibrillation", "epilepsy",
    "migraine", "alzheimer's disease", "alzheimer", "dementia", "parkinson's disease", "parkinson", "multiple sclerosis",
    "rheumatoid arthritis", "osteoarthritis", "arthritis", "osteoporosis", "obesity", "anorexia nervosa", "anorexia",
    "bulimia", "autism", "adhd", "chronic kidney disease", "kidney failure", "cirrhosis", "crohn's disease",
    "ulcerative colitis", "psoriasis", "eczema", "hypothyroidism", "hyperthyroidism", "sepsis", "syphilis", "gonorrhea",
    "chlamydia", "herpes", "infertility", "miscarriage", "alcoholism", "alcohol use disorder", "substance use disorder",
    "opioid use disorder", "ptsd", "post-traumatic stress disorder", "ocd", "insomnia", "sleep apnea", "glaucoma",
    "angina", "anemia", "anaemia", "hemophilia", "sickle cell disease", "cystic fibrosis", "lupus", "fibromyalgia",
    "hyperlipidemia", "hypercholesterolemia", "chronic obstructive pulmonary disease", "bronchitis", "appendicitis",
    "gastritis", "celiac disease", "endometriosis",
    # de, fr, es, it, pt, nl, pl, ru
    "bluthochdruck", "krebs", "schlaganfall", "herzinfarkt", "zuckerkrankheit", "diabète", "diabete", "dépression",
    "asthme", "infarctus", "hipertensión", "hipertension", "cáncer", "depresión", "asma", "infarto", "ipertensione",
    "cancro", "depressione", "ictus", "hipertensão", "câncer", "depressão", "suikerziekte", "hoge bloeddruk", "kanker",
    "cukrzyca", "nadciśnienie", "nowotwór", "депрессия", "диабет", "гипертония", "рак", "астма", "инсульт", "инфаркт",
)  # fmt: skip
ICD10 = r"[A-TV-Z][0-9][0-9AB](?:\.[0-9A-TV-Z]{1,4})?"
"""An ICD-10 code (U is reserved for special purposes); in prose only the dotted form counts."""
ICD10_TEXT = r"\b[A-TV-Z][0-9][0-9AB]\.[0-9A-TV-Z]{1,4}\b"

NRP_TERMS = {
    "racial or ethnic origin": (
        "white", "black", "asian", "hispanic", "latino", "latina", "latinx", "caucasian", "african american",
        "black or african american", "native american", "american indian", "american indian or alaska native",
        "alaska native", "pacific islander", "native hawaiian", "native hawaiian or other pacific islander",
        "middle eastern", "arab", "mixed", "multiracial", "biracial", "two or more races", "indigenous", "aboriginal",
        "roma", "romani", "south asian", "east asian", "black african", "black caribbean", "white british", "white irish",
        "hispanic or latino", "not hispanic or latino", "non-hispanic white", "han", "mestizo", "métis", "inuit",
    ),
    "religious or philosophical beliefs": (
        "christian", "christianity", "catholic", "roman catholic", "protestant", "orthodox", "eastern orthodox",
        "evangelical", "baptist", "methodist", "lutheran", "anglican", "mormon", "jehovah's witness", "muslim", "islam",
        "sunni", "shia", "jewish", "judaism", "hindu", "hinduism", "buddhist", "buddhism", "sikh", "sikhism", "jain",
        "shinto", "taoist", "bahá'í", "bahai", "atheist", "agnostic", "no religion", "pagan", "wiccan", "zoroastrian",
        "katholisch", "evangelisch", "muslimisch", "jüdisch", "konfessionslos", "catholique", "musulman", "juif", "athée",
        "católico", "cristiano", "musulmán", "judío", "ateo", "cattolico", "musulmano", "ebreo", "православный",
        "мусульманин", "католик", "атеист",
    ),
    "political opinions": (
        "democrat", "democratic", "republican", "independent", "libertarian", "green", "labour", "labor", "conservative",
        "liberal", "liberal democrat", "socialist", "communist", "social democrat", "christian democrat", "cdu", "csu",
        "spd", "fdp", "afd", "die linke", "grüne", "tory", "snp", "ukip", "reform uk", "renaissance",
        "rassemblement national", "la france insoumise", "psoe", "vox", "podemos", "far-left", "far-right",
        "left-wing", "right-wing", "centrist",
    ),
    "nationality": (
        "american", "british", "german", "french", "spanish", "italian", "chinese", "japanese", "indian", "russian",
        "mexican", "canadian", "brazilian", "polish", "dutch", "swedish", "turkish", "nigerian", "pakistani",
        "bangladeshi", "filipino", "vietnamese", "korean", "iranian", "iraqi", "syrian", "egyptian", "moroccan",
        "ukrainian", "romanian", "portuguese", "greek", "irish", "australian", "argentinian", "colombian", "peruvian",
        "venezuelan", "cuban", "haitian", "ethiopian", "kenyan", "somali", "afghan", "israeli", "palestinian",
        "lebanese", "saudi", "thai", "indonesian", "malaysian", "norwegian", "danish", "finnish", "swiss", "austrian",
        "belgian", "czech", "hungarian", "serbian", "croatian",
    ),
}  # fmt: skip
ORIENTATION_TERMS = (
    "heterosexual", "straight", "gay", "lesbian", "bisexual", "asexual", "pansexual", "queer", "homosexual",
    "questioning", "hétérosexuel", "homosexuel", "bisexuel", "heterosexuell", "homosexuell", "bisexuell",
    "heterosexual", "homosexual", "bissexual", "eterosessuale", "omosessuale", "гетеросексуал", "гомосексуал",
)  # fmt: skip
UNION_TERMS = (
    "union member", "non-union", "member", "non-member", "teamsters", "unison", "unite", "gmb", "ver.di", "verdi",
    "ig metall", "cgt", "cfdt", "force ouvrière", "ugt", "ccoo", "cgil", "cisl", "uil", "afl-cio", "seiu", "uaw", "nea",
    "aft", "afscme", "ibew", "usw", "dgb", "tuc", "ctu", "fnv",
)  # fmt: skip
NEUTRAL_TERMS = frozenset((
    "other", "none", "unknown", "n/a", "na", "declined", "yes", "no", "true", "false", "y", "n", "0", "1", "-",
    "prefer not to say", "prefer not to answer", "not stated", "not reported", "no answer",
))  # fmt: skip
"""Answers that fill any categorical column; they neither prove nor disprove a category."""

_BOOLEAN = frozenset({"yes", "no", "true", "false", "y", "n", "0", "1", "t", "f", "ja", "nein", "oui", "non", "sí", "si"})
GENETIC_VALUE = re.compile(
    r"[ACGTUN]{12,}|[acgtun]{12,}|rs[0-9]{3,12}|[ACGT]{2}|[ACGT][/|][ACGT]|c\.[0-9]+[ACGT]>[ACGT]|(?:BRCA[12]|APOE|TP53|CFTR|HLA-[A-Z0-9*:]+)[^\s]*"
)
_DNA_OR_RSID = re.compile(r"[ACGTUN]{20,}|[acgtun]{20,}|rs[0-9]{3,12}")
_BIOMETRIC_VALUE = re.compile(
    r"[A-Za-z0-9+/=]{32,}|[0-9a-fA-F]{32,}|\[?\s*-?[0-9.]+(?:e-?[0-9]+)?(?:\s*,\s*-?[0-9.]+(?:e-?[0-9]+)?){15,}\s*\]?"
)

OFFENSIVE_TERMS_BY_LANGUAGE: dict[str, tuple[str, ...]] = {
    # Curated: profanity, slurs and threats that are offensive wherever they appear as words. Words with a common
    # innocent meaning are left out ("ass", "cock", "dyke", "prick", "chink", "zorra", "troia", "kanker"), as are the
    # medical and neutral words general lists carry (better_profanity 0.7.0: "uterus", "hiv", "gay", "god", "vodka").
    "en": (
        "fuck", "fucks", "fucking", "fuckin", "fucked", "fucker", "fuckers", "fuckface", "fuckhead", "fuckwit", "fuck off",
        "fuck you", "motherfucker", "motherfuckers", "motherfucking", "mofo", "shit", "shits", "shitty", "shithead",
        "shithole", "bullshit", "horseshit", "dipshit", "bitch", "bitches", "son of a bitch", "bastard", "bastards",
        "asshole", "assholes", "arsehole", "arseholes", "dickhead", "dickheads", "cunt", "cunts", "wanker", "wankers",
        "twat", "twats", "slut", "sluts", "whore", "whores", "skank", "piss off", "pissed off", "cocksucker",
        "bollocks", "bellend", "tosser", "goddamn", "goddammit", "retard", "retarded", "retards", "moron",
        "morons", "dumbass", "jackass", "scumbag", "douchebag", "stfu", "gtfo", "kill yourself", "kys", "go die",
        "i will kill you", "subhuman", "faggot", "faggots", "tranny", "nigger", "niggers",
        "nigga", "kike", "kikes", "spic", "spics", "gook", "wetback", "wetbacks", "raghead",
        "towelhead", "sand nigger",
    ),
    "de": (
        "scheiße", "scheisse", "scheiß", "arschloch", "arschlöcher", "hurensohn", "wichser", "fotze", "schlampe", "hure",
        "missgeburt", "spast", "vollidiot", "drecksau", "fick dich", "verpiss dich", "halt die fresse", "kanake",
        "schwuchtel",
    ),
    "fr": (
        "putain", "merde", "connard", "connasse", "salope", "enculé", "enculés", "enculer", "nique ta mère", "ta gueule",
        "pute", "salaud", "fils de pute", "pédé", "bougnoule", "enfoiré",
    ),
    "es": (
        "mierda", "puta", "puto", "cabrón", "cabron", "gilipollas", "pendejo", "hijo de puta", "coño", "joder", "maricón",
        "chinga tu madre", "culero",
    ),
    "it": (
        "cazzo", "stronzo", "stronza", "vaffanculo", "figlio di puttana", "puttana", "coglione", "minchia", "frocio",
    ),
    "pt": ("porra", "caralho", "filho da puta", "puta que pariu", "viado", "arrombado", "vadia", "otário"),
    "nl": ("klootzak", "godverdomme", "kutwijf", "hoerenzoon"),
    "pl": ("kurwa", "chuj", "pierdolić", "pierdol się", "spierdalaj", "skurwysyn", "jebać", "pizda", "dziwka"),
    "ru": (
        "блять", "бля", "блядь", "сука", "суки", "хуй", "хуйня", "пиздец", "пизда", "мудак", "ебать", "заебал", "долбоёб",
        "долбоеб", "уёбок", "уебок", "гандон", "мразь", "шлюха", "пидор", "пидорас",
    ),
    "tr": ("siktir", "orospu", "orospu çocuğu", "amına koyayım", "yarrak"),
}  # fmt: skip
"""Offensive words and phrases by language (ISO 639-1), matched as whole words, never inside one: "Scunthorpe",
"class" and "assessment" stay clean."""
OFFENSIVE_TERMS = tuple(term for terms in OFFENSIVE_TERMS_BY_LANGUAGE.values() for term in terms)


def _alternation(terms: tuple[str, ...]) -> str:
    return "|".join(re.escape(t).replace(r"\ ", " ") for t in sorted(set(terms), key=lambda t: (-len(t), t)))


# Word boundaries by hand: RE2's \b is ASCII-only, so it would never fire next to "é" or Cyrillic.
_LEFT, _RIGHT = r"(?:^|[^\w])", r"(?:$|[^\w])"
HEALTH_TEXT = rf"(?i){_LEFT}(?:{_alternation(HEALTH_TERMS)}){_RIGHT}"
"""Health terms inside prose (Python and RE2 alike); ``ICD10_TEXT`` adds the codes."""
OFFENSIVE_TEXT = rf"(?i){_LEFT}(?:{_alternation(OFFENSIVE_TERMS)}){_RIGHT}"


_TERM_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")


@dataclass(frozen=True, slots=True)
class _Terms:
    """Case-folded phrases indexed by their first word, so prose is matched by set look-ups, not a big regex."""

    phrases: frozenset[str]
    longest: dict[str, int]
    """First word → the most words a phrase opening with it has."""

    @classmethod
    def of(cls, terms: tuple[str, ...]) -> _Terms:
        terms = tuple(term.casefold() for term in terms)  # "Scheiße" is "scheisse" once folded, as the text will be
        longest: dict[str, int] = {}
        for term in terms:
            words = term.split()
            longest[words[0]] = max(longest.get(words[0], 0), len(words))
        return cls(frozenset(terms), longest)

    def spans(self, text: str) -> list[tuple[int, int]]:
        words = [(m.start(), m.end(), m.group(0).casefold()) for m in _TERM_WORD.finditer(text)]
        found = []
        index = 0
        while index < len(words):
            size = min(self.longest.get(words[index][2], 0), len(words) - index)
            while size:
                chunk = words[index : index + size]
                if " ".join(w for _, _, w in chunk) in self.phrases:
                    found.append((chunk[0][0], chunk[-1][1]))
                    index += size - 1
                    break
                size -= 1
            index += 1
        return found


_HEALTH = _Terms.of(HEALTH_TERMS)
_OFFENSIVE = _Terms.of(OFFENSIVE_TERMS)


@functools.cache
def _term_sets() -> dict[str, frozenset[str]]:
    sets = {"NRP": frozenset(t for terms in NRP_TERMS.values() for t in terms)}
    sets["SEXUAL_ORIENTATION"] = frozenset(ORIENTATION_TERMS)
    sets["TRADE_UNION"] = frozenset(UNION_TERMS)
    return sets


def nrp_category(values: list[str]) -> str | None:
    """Which NRP sub-category most of ``values`` fall in (for the finding's ``special_category``)."""
    tally = {name: sum(v.strip().casefold() in terms for v in values) for name, terms in NRP_TERMS.items()}
    best = max(tally, key=lambda name: tally[name])
    return best if tally[best] else None


def matches(entity: str, value: str, *, hinted: bool) -> bool | None:
    """Whether a whole cell is evidence of a vocabulary entity: True, False, or None for a neutral answer."""
    folded = value.strip().casefold()
    if entity == "MEDICAL_CONDITION":
        if _HEALTH.spans(value):
            return True
        return bool(hinted and re.fullmatch(ICD10, value.strip().upper()))
    if entity == "GENETIC_DATA":
        pattern = GENETIC_VALUE if hinted else _DNA_OR_RSID
        return pattern.fullmatch(value.strip()) is not None
    if entity == "BIOMETRIC_DATA":
        return hinted and _BIOMETRIC_VALUE.fullmatch(value.strip()) is not None
    if entity == "CREDENTIAL":
        return hinted and 4 <= len(folded) <= 400 and not any(ch.isspace() for ch in value.strip())
    if entity == "TRADE_UNION" and hinted and folded in _BOOLEAN:
        return True
    if folded in NEUTRAL_TERMS:
        return None
    terms = _term_sets().get(entity)
    return terms is not None and folded in terms


def find_terms(text: str) -> list[EntitySpan]:
    """Health terms and ICD-10 codes (MEDICAL_CONDITION) and offensive words (OFFENSIVE_CONTENT) inside prose."""
    from bastion.scanners.data.entities import EntitySpan

    spans = [EntitySpan(start, end, "MEDICAL_CONDITION", 0.7) for start, end in _HEALTH.spans(text)]
    spans += [EntitySpan(m.start(), m.end(), "MEDICAL_CONDITION", 0.75) for m in re.finditer(ICD10_TEXT, text)]
    spans += [EntitySpan(start, end, "OFFENSIVE_CONTENT", 0.7) for start, end in _OFFENSIVE.spans(text)]
    return spans


@functools.cache
def credential_prefilter() -> str:
    """The secret rules' keywords as one case-insensitive pattern: cells without one hold no credential."""
    from bastion.scanners.code.rules import default_rules

    keywords = sorted({k.decode() for rule in default_rules() for k in rule.keywords})
    return "(?i)" + "|".join(re.escape(k).replace(r"\ ", " ") for k in keywords)


@functools.cache
def _scanner() -> SecretScanner:
    from bastion.scanners.code.secrets import SecretScanner

    return SecretScanner()


def credential_matches(text: str) -> list[tuple[EntitySpan, SecretRule]]:
    """Credentials inside a text with the rule that found each, where the secret scanner confirms them
    (keywords, pattern, entropy, checksum, no placeholder)."""
    from bastion.scanners.code.rules import default_rules
    from bastion.scanners.data.entities import EntitySpan

    data = text.encode("utf-8", "surrogatepass")
    lowered = data.lower()
    if not any(k in lowered for rule in default_rules() for k in rule.keywords):
        return []
    confirmed = {(f.rule_id, f.location.line, f.location.column) for f in _scanner().scan_bytes(data, "-")}
    found = []
    for rule in default_rules():
        group = 1 if rule.pattern.groups else 0
        for match in rule.pattern.finditer(data):
            start, end = match.start(group), match.end(group)
            line = data.count(b"\n", 0, start) + 1
            column = start - (data.rfind(b"\n", 0, start) + 1) + 1
            if (rule.id, line, column) in confirmed:
                char_start = len(data[:start].decode("utf-8", "replace"))
                char_end = char_start + len(data[start:end].decode("utf-8", "replace"))
                found.append((EntitySpan(char_start, char_end, "CREDENTIAL", 0.95), rule))
    return found


def find_credentials(text: str) -> list[EntitySpan]:
    return [span for span, _rule in credential_matches(text)]
