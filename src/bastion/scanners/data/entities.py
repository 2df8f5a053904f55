"""Sensitive-data entities as data: what each is (severity, remediation, header hints) and how to recognise it.

Patterns are written in the subset of regular-expression syntax that Python's ``re`` and RE2 (DuckDB's
``regexp_matches``) share — no look-arounds, no back-references, ``[0-9]`` rather than ``\\d`` — so one
pattern decides on a sample in Python and counts every cell in DuckDB. Checksums live in ``validators``.

``find_entities(text)`` finds them inside free text, for span redaction and for free-text columns.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import IntEnum

from bastion.core import Severity
from bastion.scanners.data import validators as v
from bastion.scanners.data.headers import HeaderHint, hint

# --- what each entity is ------------------------------------------------------------------------------------

REMOVE, ANONYMIZE, PSEUDONYMIZE, ENCRYPT, FILTER = "remove", "anonymize", "pseudonymize", "encrypt", "filter"
"""The seed's compliance table's recommended measures (plus ``filter`` for offensive content)."""


@dataclass(frozen=True, slots=True)
class EntityInfo:
    """One kind of sensitive data and what to do about it."""

    name: str
    """Presidio's entity name where Presidio has one (``EMAIL_ADDRESS``), else one in its style."""
    description: str
    """Plural noun phrase for messages: 'e-mail addresses'."""
    severity: Severity
    action: str
    """remove, anonymize, pseudonymize, encrypt or filter: the seed table's recommended measure."""
    remediation: str
    header: HeaderHint | None = None
    """Header phrases that name it; None: recognised by value only."""
    special_category: str | None = None
    """The GDPR Art. 9 special category this entity falls in, if any."""


_ID_REMEDIATION = "Remove the column; if rows must be linked, replace it with a keyed pseudonym (bastion anonymize)."
_ID_EXCLUDE = "count|type|status|hash|length"


ENTITIES: dict[str, EntityInfo] = {
    info.name: info
    for info in (
        EntityInfo(
            "PERSON",
            "personal names",
            Severity.MEDIUM,
            PSEUDONYMIZE,
            "Pseudonymize with a keyed pseudonym (stable, so joins still work) or remove the column.",
            hint(
                (
                    "name|full name|first name|last name|given name|family name|surname|forename|middle name|maiden name|"
                    "patient|cardholder|holder name|nombre|apellido|apellidos|nom|prenom|vorname|nachname|familienname|cognome|"
                    "nome|sobrenome|naam|voornaam|achternaam|imie|nazwisko|fornavn|efternavn|etternavn|fornamn|efternamn|"
                    "etunimi|sukunimi|имя|фамилия|отчество|фио|姓名|名前|氏名|이름|성명|اسم"
                ),
                (
                    "file|host|user|username|domain|company|business|product|item|brand|city|street|country|state|bank|model|"
                    "column|table|app|project|device|job|org|organization|organisation|store|shop|event|server|screen|login|"
                    "category|type|species|place|school|hotel|team|dataset|field|key|machine|id|number|count|code|email|mail|"
                    "phone|address|date|sku|drug|medication|diagnosis|disease|plan|campaign|channel|stadt|ville|ciudad|empresa"
                ),
            ),
        ),
        EntityInfo(
            "EMAIL_ADDRESS",
            "e-mail addresses",
            Severity.MEDIUM,
            PSEUDONYMIZE,
            "Pseudonymize (keyed pseudonym) or remove; keep only the domain if it is needed as a feature.",
            hint("email|e mail|mail|courriel|correo|почта|メール|邮箱|이메일"),
        ),
        EntityInfo(
            "PHONE_NUMBER",
            "phone numbers",
            Severity.MEDIUM,
            ANONYMIZE,
            "Mask or remove; keep the country code only if it is needed as a feature.",
            hint(
                (
                    "phone|telephone|tel|mobile|cell|cellphone|fax|msisdn|telefono|telefon|telephone|portable|handy|movil|"
                    "celular|cellulare|telefone|telefoon|телефон|電話|电话|전화|contact number"
                ),
                "model|brand|type|count|carrier|plan|country code",
            ),
        ),
        EntityInfo(
            "US_SSN",
            "US social security numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("ssn|social security|soc sec|social security number", _ID_EXCLUDE),
        ),
        EntityInfo(
            "US_ITIN",
            "US individual taxpayer identification numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("itin|taxpayer id|taxpayer identification", _ID_EXCLUDE),
        ),
        EntityInfo(
            "CREDIT_CARD",
            "payment card numbers",
            Severity.HIGH,
            REMOVE,
            "Remove (PCI DSS keeps card numbers out of analytics); use a token from the payment provider if needed.",
            hint(
                (
                    "credit card|card number|card no|card num|cc|ccnum|cc number|creditcard|pan|kreditkarte|kartennummer|"
                    "carte bancaire|numero de carte|tarjeta|carta di credito|cartao|номер карты|кредитная карта"
                ),
                "type|brand|provider|expiry|expiration|exp|cvv|cvc|holder|count|status",
            ),
        ),
        EntityInfo(
            "IBAN_CODE",
            "IBANs",
            Severity.HIGH,
            ENCRYPT,
            "Remove, or encrypt before processing when the pipeline needs it (financial data).",
            hint("iban|bank account|konto|kontonummer|compte bancaire|cuenta bancaria"),
        ),
        EntityInfo(
            "US_BANK_NUMBER",
            "bank account numbers",
            Severity.HIGH,
            ENCRYPT,
            "Remove, or encrypt before processing when the pipeline needs it (financial data).",
            hint(
                (
                    "bank account|account number|account no|acct|acct no|acct num|bank number|kontonummer|numero de cuenta|"
                    "numero de compte|numero conto|conto|bban"
                ),
                "type|status|manager|owner|name|count|open|opened|balance|currency",
            ),
        ),
        EntityInfo(
            "ABA_ROUTING_NUMBER",
            "ABA routing numbers",
            Severity.MEDIUM,
            ENCRYPT,
            "Remove, or encrypt together with the account numbers they route to.",
            hint("routing|aba|routing number|bank routing|transit number"),
        ),
        EntityInfo(
            "IP_ADDRESS",
            "IP addresses",
            Severity.MEDIUM,
            ANONYMIZE,
            "Truncate (IPv4 /24, IPv6 /48) or pseudonymize; an IP address is personal data under GDPR.",
            hint("ip|ip address|ipv4|ipv6|ip addr|remote addr|client ip|source ip|src ip|dst ip"),
        ),
        EntityInfo(
            "URL",
            "URLs",
            Severity.LOW,
            ANONYMIZE,
            "Review: strip paths and query strings (they often carry names, e-mails or tokens) or remove.",
            hint("url|uri|website|web site|homepage|link|href|web"),
        ),
        EntityInfo(
            "DATE_TIME",
            "dates of birth",
            Severity.MEDIUM,
            ANONYMIZE,
            "Generalize to the year (or an age band); a full date of birth is a strong quasi-identifier.",
            hint(
                (
                    "dob|birth|date of birth|birthday|birthdate|born|geburtsdatum|geburtstag|date de naissance|naissance|"
                    "fecha de nacimiento|nacimiento|data di nascita|nascita|data de nascimento|nascimento|geboortedatum|"
                    "data urodzenia|дата рождения|生年月日|出生日期|fodselsdato|fodelsedatum|syntymaaika|date of death|death|dod|"
                    "deceased"
                ),
                "count|place|country|city|weight|order|rate",
            ),
        ),
        EntityInfo(
            "LOCATION",
            "postal addresses and places",
            Severity.MEDIUM,
            ANONYMIZE,
            "Generalize (keep the city or a ZIP prefix) or remove the street part.",
            hint(
                (
                    "address|street|street address|addr|city|town|postcode|postal code|post code|zip|zipcode|zip code|plz|"
                    "country|province|county|residence|domicile|adresse|anschrift|strasse|ort|stadt|wohnort|rue|ville|"
                    "code postal|pays|direccion|calle|ciudad|codigo postal|pais|indirizzo|citta|cap|paese|endereco|rua|cidade|"
                    "cep|adres|straat|woonplaats|plaats|ulica|miasto|адрес|город|улица|индекс|住所|地址|주소|location|"
                    "billing address|shipping address|home address|mailing address"
                ),
                (
                    "ip|mac|email|mail|e mail|web|url|wallet|btc|eth|crypto|server|host|memory|count|code of conduct|type|"
                    "status|id|mac address|bitcoin"
                ),
            ),
        ),
        EntityInfo(
            "CRYPTO",
            "cryptocurrency wallet addresses",
            Severity.MEDIUM,
            PSEUDONYMIZE,
            "Pseudonymize or remove; a wallet address links every transaction of its owner.",
            hint("wallet|btc|bitcoin|eth|ethereum|crypto|wallet address|coin address"),
        ),
        EntityInfo(
            "US_PASSPORT",
            "passport numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("passport|reisepass|pasaporte|passeport|passaporto|passaporte|paspoort|paszport|паспорт|护照|旅券", _ID_EXCLUDE),
        ),
        EntityInfo(
            "US_DRIVER_LICENSE",
            "driver's licence numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint(
                (
                    "driver license|drivers license|driver licence|drivers licence|driving licence|driving license|dl|dl number|"
                    "dl no|fuhrerschein|permis de conduire|licencia de conducir|carnet de conducir|patente di guida|"
                    "carteira de motorista|cnh|rijbewijs|prawo jazdy|водительское удостоверение"
                ),
                "plate|vehicle|car|software|product|key|class|type|state|expiry|expiration",
            ),
        ),
        EntityInfo(
            "MEDICAL_LICENSE",
            "medical licence numbers (DEA, NPI)",
            Severity.MEDIUM,
            PSEUDONYMIZE,
            "Pseudonymize or remove; the number identifies the prescriber.",
            hint("dea|dea number|medical license|medical licence|npi|physician license|prescriber id"),
        ),
        EntityInfo(
            "UK_NHS",
            "NHS numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("nhs|nhs number|nhs no", _ID_EXCLUDE),
        ),
        EntityInfo(
            "UK_NINO",
            "UK National Insurance numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("nino|national insurance|ni number|ni no", _ID_EXCLUDE),
        ),
        EntityInfo(
            "ES_NIF",
            "Spanish NIF/NIE numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("nif|dni|nie|documento nacional", _ID_EXCLUDE),
        ),
        EntityInfo(
            "IT_FISCAL_CODE",
            "Italian fiscal codes",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("codice fiscale|cf|fiscal code|tax code", _ID_EXCLUDE),
        ),
        EntityInfo(
            "PL_PESEL",
            "Polish PESEL numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("pesel", _ID_EXCLUDE),
        ),
        EntityInfo(
            "SG_NRIC_FIN",
            "Singapore NRIC/FIN numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("nric|fin|nric fin", _ID_EXCLUDE),
        ),
        EntityInfo(
            "AU_TFN",
            "Australian tax file numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("tfn|tax file number", _ID_EXCLUDE),
        ),
        EntityInfo(
            "AU_ABN",
            "Australian business numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("abn|business number", _ID_EXCLUDE),
        ),
        EntityInfo(
            "IN_PAN",
            "Indian PAN numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("pan|pan number|permanent account number", _ID_EXCLUDE),
        ),
        EntityInfo(
            "IN_AADHAAR",
            "Aadhaar numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("aadhaar|aadhar|uidai", _ID_EXCLUDE),
        ),
        EntityInfo(
            "FI_PERSONAL_IDENTITY_CODE",
            "Finnish personal identity codes",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("hetu|henkilotunnus|personal identity code", _ID_EXCLUDE),
        ),
        EntityInfo(
            "FR_NIR",
            "French social security numbers (NIR)",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("nir|insee|securite sociale|numero de securite", _ID_EXCLUDE),
        ),
        EntityInfo(
            "BR_CPF",
            "Brazilian CPF numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("cpf", _ID_EXCLUDE),
        ),
        EntityInfo(
            "NL_BSN",
            "Dutch citizen service numbers (BSN)",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("bsn|burgerservicenummer|sofinummer", _ID_EXCLUDE),
        ),
        EntityInfo(
            "CN_RESIDENT_ID",
            "Chinese resident identity numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("resident id|身份证|shenfenzheng|id card", _ID_EXCLUDE),
        ),
        EntityInfo(
            "SE_PERSONNUMMER",
            "Swedish personal identity numbers",
            Severity.HIGH,
            REMOVE,
            _ID_REMEDIATION,
            hint("personnummer|personal number", _ID_EXCLUDE),
        ),
        EntityInfo(
            "MEDICAL_CONDITION",
            "health data (diagnoses, ICD-10 codes)",
            Severity.HIGH,
            ENCRYPT,
            "Health data is a GDPR special category: remove, or encrypt before processing and restrict access.",
            hint(
                (
                    "diagnosis|diagnoses|condition|medical condition|disease|illness|icd|icd10|icd 10|medical history|health|"
                    "health status|comorbidity|comorbidities|disorder|symptom|symptoms|diagnose|krankheit|erkrankung|maladie|"
                    "pathologie|enfermedad|diagnostico|malattia|diagnosi|doenca|ziekte|choroba|диагноз|заболевание|病名|诊断|"
                    "hiv status|allergies|allergy|medication|prescription|drug|treatment"
                ),
                "count|code system|plan|insurance",
            ),
            special_category="health",
        ),
        EntityInfo(
            "NRP",
            "racial or ethnic origin, religious or political beliefs, nationality",
            Severity.HIGH,
            REMOVE,
            "A GDPR special category: remove, or anonymize (pseudonyms, redaction) if it is essential and lawful.",
            hint(
                (
                    "race|ethnicity|ethnic|ethnic group|ethnic origin|racial|nationality|citizenship|religion|religious|faith|"
                    "denomination|confession|belief|beliefs|political|political party|party affiliation|political affiliation|"
                    "political opinion|political view|voting|voted|ethnie|etnia|etnicidad|raza|herkunft|religion|"
                    "religionszugehorigkeit|konfession|religione|religiao|godsdienst|religia|вероисповедание|религия|"
                    "национальность|partei|parti politique|partido|partito|nationalite|nacionalidad|nazionalita|"
                    "staatsangehorigkeit"
                ),
                "count|race condition|code",
            ),
            special_category="racial or ethnic origin, religious or philosophical beliefs, political opinions",
        ),
        EntityInfo(
            "SEXUAL_ORIENTATION",
            "sexual orientation",
            Severity.HIGH,
            REMOVE,
            "A GDPR special category: remove, or anonymize if it is essential and lawful.",
            hint(
                (
                    "sexual orientation|orientation|sexuality|orientation sexuelle|orientacion sexual|sexuelle orientierung|"
                    "orientamento sessuale|lgbt|lgbtq"
                ),
                "page|screen|device|image|display|layout",
            ),
            special_category="sex life or sexual orientation",
        ),
        EntityInfo(
            "TRADE_UNION",
            "trade-union membership",
            Severity.HIGH,
            REMOVE,
            "A GDPR special category: remove, or anonymize if it is essential and lawful.",
            hint(
                (
                    "trade union|union member|union membership|labor union|labour union|union|gewerkschaft|syndicat|sindicato|"
                    "sindacato|vakbond|zwiazek zawodowy|профсоюз"
                ),
                "european|soviet|credit union|join|type|query|all|jack",
            ),
            special_category="trade-union membership",
        ),
        EntityInfo(
            "GENETIC_DATA",
            "genetic data",
            Severity.HIGH,
            REMOVE,
            "A GDPR special category: remove, or anonymize if it is essential and lawful.",
            hint(
                (
                    "genotype|genome|genomic|dna|snp|rsid|allele|alleles|gene|genetic|haplotype|brca|sequence|variant|mutation|"
                    "genetisch|genetique|genetico"
                ),
                "count|product|version|sequence number|seq no|sequence id|order",
            ),
            special_category="genetic data",
        ),
        EntityInfo(
            "BIOMETRIC_DATA",
            "biometric data",
            Severity.HIGH,
            ENCRYPT,
            "A GDPR special category: remove, or encrypt before processing and restrict access.",
            hint(
                (
                    "fingerprint|face embedding|face encoding|faceprint|face template|face vector|iris|retina|voiceprint|"
                    "voice print|biometric|biometrics|palm print|gait|face id"
                ),
                "browser|device|file|ssh|tls|cert|certificate|key|count|hash|sha",
            ),
            special_category="biometric data",
        ),
        EntityInfo(
            "CREDENTIAL",
            "credentials (passwords, keys, tokens)",
            Severity.HIGH,
            REMOVE,
            "Revoke the credentials and remove the column; never train on them.",
            hint(
                (
                    "password|passwd|pwd|pass|passphrase|secret|api key|apikey|access key|secret key|token|access token|"
                    "auth token|refresh token|private key|client secret|credential|credentials|pin|pin code|security answer|"
                    "passwort|kennwort|mot de passe|contrasena|senha|wachtwoord|haslo|пароль|パスワード|密码"
                ),
                (
                    "count|len|length|type|expiry|expires|expiration|date|at|time|policy|strength|changed|updated|created|last|"
                    "required|reset|pass rate|passed|passenger|passengers|passage|bypass|compass|pinned|pinyin|tokens used|"
                    "passport"
                ),
            ),
        ),
        EntityInfo(
            "OFFENSIVE_CONTENT",
            "offensive language",
            Severity.MEDIUM,
            FILTER,
            "Filter the rows or send them through content moderation before training.",
        ),
    )
}

# --- how to recognise them by pattern -----------------------------------------------------------------------


class Strength(IntEnum):
    """How much a value matching a recognizer says on its own."""

    WEAK = 1
    """A common shape (nine digits): counts only where the header names the entity."""
    PATTERN = 2
    """A distinctive shape (an e-mail address, a dashed SSN) without a checksum."""
    CHECKSUM = 3
    """A shape and a checksum that random values pass rarely (Luhn, mod 97, base58check)."""


@dataclass(frozen=True, slots=True)
class Recognizer:
    """One way an entity is written: a whole-cell pattern, an optional in-text pattern, and a validator."""

    entity: str
    value: str
    """Matches a whole trimmed cell (Python ``fullmatch``, DuckDB ``regexp_full_match``)."""
    strength: Strength
    text: str | None = None
    """Finds the entity inside free text (``finditer`` / ``regexp_matches``); None: not searched in text."""
    validate: Callable[[str], bool] | None = None
    bare_digits_weak: bool = False
    """A value of digits alone is only WEAK evidence (an SSN without dashes is any nine-digit number)."""

    @property
    def text_re(self) -> re.Pattern[str] | None:
        return compiled(self.text) if self.text else None

    def shaped(self, value: str) -> bool:
        """Whether a whole trimmed cell has this recognizer's shape."""
        return compiled(self.value).fullmatch(value) is not None

    def accepts(self, value: str) -> bool:
        """Whether a whole trimmed cell is this entity: the shape, then the validator."""
        return self.shaped(value) and (self.validate is None or self.validate(value))


@functools.cache
def compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_H = "[0-9A-Fa-f]{1,4}"
_IPV4 = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}"
_IPV6 = rf"(?:{_H}(?::{_H}){{7}}|{_H}(?::{_H}){{0,6}}::(?:{_H}(?::{_H}){{0,6}})?)"
_EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}"
_MONTH = r"[A-Za-zÀ-ÿ]{3,10}\.?"
_TIME = r"(?:[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?: ?[AaPp][Mm])?(?:Z|[+\-][0-9]{2}:?[0-9]{2})?)?"
_DATE = (
    rf"(?:[0-9]{{4}}[\-/.][0-9]{{1,2}}[\-/.][0-9]{{1,2}}{_TIME}"
    rf"|[0-9]{{1,2}}[\-/.][0-9]{{1,2}}[\-/.](?:[0-9]{{4}}|[0-9]{{2}}){_TIME}"
    rf"|[0-9]{{1,2}}\.? {_MONTH},? [0-9]{{4}}|{_MONTH} [0-9]{{1,2}}(?:st|nd|rd|th)?,? [0-9]{{4}})"
)
_PHONE_TEXT = (
    r"(?:\+[0-9]{1,3}[ .\-]?(?:\(0\)[ .\-]?)?\(?[0-9]{1,4}\)?(?:[ .\-][0-9]{2,6}){1,4}"
    r"|\([0-9]{2,5}\) ?[0-9]{3,4}[ .\-]?[0-9]{3,4}"
    r"|\b[0-9]{3}[.\-][0-9]{3}[.\-][0-9]{4}"
    r"|\b0[1-9](?:[ .][0-9]{2}){4})(?: ?(?:x|ext\.?) ?[0-9]{1,6})?\b"
)


def _phone(text: str) -> bool:
    """7 to 15 digits (E.164), and not a date, an SSN, an IP address or a decimal number in disguise."""
    body = re.split(r"\s*(?:x|ext\.?|#)\s*[0-9]+$", text.strip(), maxsplit=1)[0]
    digits = v.digits_of(body)
    if not 7 <= len(digits) <= 15 or len(set(digits)) == 1:
        return False
    if re.fullmatch(r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]+\.[0-9]+|97[89]-[0-9]+-[0-9]+-[0-9]+-[0-9]", body) or v.ip_address(body):
        return False  # an SSN, a decimal number, an ISBN-13
    groups = re.findall(r"[0-9]+", body)
    return not (len(groups) == 3 and re.fullmatch(r"[0-9./\-]+", body) and v.calendar_date(body))


def _ipv6_in_text(text: str) -> bool:
    # "add::" or "std::vector" parse as IPv6; in prose, ask for two groups on the side of the "::".
    left, sep, right = text.partition("::")
    if sep and (left.count(":") + bool(left) < 2 and right.count(":") + bool(right) < 2):
        return False
    return v.ip_address(text)


RECOGNIZERS: tuple[Recognizer, ...] = (
    Recognizer("EMAIL_ADDRESS", _EMAIL, Strength.PATTERN, rf"\b{_EMAIL}\b", v.email),
    Recognizer(
        "URL",
        r"(?:[Hh][Tt][Tt][Pp][Ss]?|[Ff][Tt][Pp])://[^\s/?#]+[^\s]*|[Ww][Ww][Ww]\.[^\s/?#]+\.[A-Za-z]{2,}[^\s]*",
        Strength.PATTERN,
        r"\b(?:(?:[Hh][Tt][Tt][Pp][Ss]?|[Ff][Tt][Pp])://|[Ww][Ww][Ww]\.)[^\s<>\"']+[^\s<>\"'.,;:!?)]",
    ),
    Recognizer("IP_ADDRESS", _IPV4, Strength.PATTERN, rf"\b{_IPV4}\b", v.ip_address),
    Recognizer("IP_ADDRESS", _IPV6, Strength.PATTERN, rf"\b{_IPV6}\b", _ipv6_in_text),
    Recognizer(
        "CREDIT_CARD", r"[0-9](?:[ \-]?[0-9]){11,18}", Strength.CHECKSUM, r"\b[0-9](?:[ \-]?[0-9]){11,18}\b", v.credit_card
    ),
    Recognizer(
        "IBAN_CODE",
        r"[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){11,30}",
        Strength.CHECKSUM,
        r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
        v.iban,
    ),
    Recognizer(
        "US_SSN",
        r"[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}",
        Strength.PATTERN,
        r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b",
        v.us_ssn,
        bare_digits_weak=True,
    ),
    Recognizer(
        "US_ITIN",
        r"9[0-9]{2}[- ]?[0-9]{2}[- ]?[0-9]{4}",
        Strength.PATTERN,
        r"\b9[0-9]{2}-[0-9]{2}-[0-9]{4}\b",
        v.us_itin,
        bare_digits_weak=True,
    ),
    Recognizer(
        "PHONE_NUMBER",
        r"(?:\+|00)?\(?[0-9][0-9 ().\-/]{5,22}[0-9](?: ?(?:x|ext\.?|#) ?[0-9]{1,6})?",
        Strength.PATTERN,
        _PHONE_TEXT,
        _phone,
        bare_digits_weak=True,
    ),
    Recognizer(
        "CRYPTO",
        r"(?:[Bb][Cc]1|[Tt][Bb]1)[0-9A-Za-z]{11,87}|[123mn][1-9A-HJ-NP-Za-km-z]{25,34}|0x[0-9a-fA-F]{40}",
        Strength.CHECKSUM,
        r"\b(?:(?:bc1|tb1)[02-9ac-hj-np-z]{11,87}|[13][1-9A-HJ-NP-Za-km-z]{25,34}|0x[0-9a-fA-F]{40})\b",
        v.crypto_address,
    ),
    Recognizer("DATE_TIME", _DATE, Strength.PATTERN, rf"\b{_DATE}\b", v.calendar_date),
    Recognizer(
        "LOCATION",  # postal codes: US, UK, Canada, Netherlands, Japan, Poland, Brazil and plain 4-6 digits
        r"[0-9]{3,6}(?:-[0-9]{3,4})?|[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}|[0-9]{4} ?[A-Za-z]{2}"
        r"|[A-Za-z][0-9][A-Za-z] ?[0-9][A-Za-z][0-9]",
        Strength.WEAK,
    ),
    Recognizer("US_BANK_NUMBER", r"[A-Za-z]{0,4}[0-9]{8,17}", Strength.WEAK),
    Recognizer("ABA_ROUTING_NUMBER", r"[0-9]{9}", Strength.CHECKSUM, None, v.aba_routing, bare_digits_weak=True),
    Recognizer("US_PASSPORT", r"[A-Za-z]{0,2}[0-9]{6,9}|[0-9]{2,4} ?[0-9]{6}", Strength.WEAK),
    Recognizer("US_DRIVER_LICENSE", r"[A-Za-z]{0,3}[0-9][0-9A-Za-z\- *]{3,18}", Strength.WEAK),
    Recognizer("MEDICAL_LICENSE", r"[A-Za-z][A-Za-z9][0-9]{7}", Strength.CHECKSUM, r"\b[A-Z][A-Z9][0-9]{7}\b", v.dea_number),
    Recognizer("MEDICAL_LICENSE", r"[12][0-9]{9}", Strength.WEAK, None, v.us_npi),
    Recognizer("UK_NHS", r"[0-9]{3}[ \-]?[0-9]{3}[ \-]?[0-9]{4}", Strength.CHECKSUM, None, v.uk_nhs),
    Recognizer(
        "UK_NINO",
        r"[A-Za-z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-Da-d]",
        Strength.PATTERN,
        r"\b[A-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b",
        v.uk_nino,
    ),
    Recognizer("ES_NIF", r"[XYZxyz]?[0-9]{7,8}[ \-]?[A-Za-z]", Strength.CHECKSUM, r"\b[XYZ]?[0-9]{7,8}-?[A-Z]\b", v.es_nif),
    Recognizer(
        "IT_FISCAL_CODE",
        r"[A-Za-z]{6}[0-9A-Za-z]{2}[A-Za-z][0-9A-Za-z]{2}[A-Za-z][0-9A-Za-z]{3}[A-Za-z]",
        Strength.CHECKSUM,
        r"\b[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]\b",
        v.it_fiscal_code,
    ),
    Recognizer("PL_PESEL", r"[0-9]{11}", Strength.CHECKSUM, r"\b[0-9]{11}\b", v.pl_pesel),
    Recognizer("SG_NRIC_FIN", r"[STFGstfg][0-9]{7}[A-Za-z]", Strength.CHECKSUM, r"\b[STFG][0-9]{7}[A-Z]\b", v.sg_nric),
    Recognizer("AU_TFN", r"[0-9]{3} ?[0-9]{3} ?[0-9]{2,3}", Strength.CHECKSUM, None, v.au_tfn),
    Recognizer("AU_ABN", r"[0-9]{2} ?[0-9]{3} ?[0-9]{3} ?[0-9]{3}", Strength.CHECKSUM, None, v.au_abn),
    Recognizer("IN_PAN", r"[A-Za-z]{5}[0-9]{4}[A-Za-z]", Strength.PATTERN, r"\b[A-Z]{5}[0-9]{4}[A-Z]\b", v.in_pan),
    Recognizer(
        "IN_AADHAAR",
        r"[2-9][0-9]{3}[ \-]?[0-9]{4}[ \-]?[0-9]{4}",
        Strength.CHECKSUM,
        r"\b[2-9][0-9]{3} [0-9]{4} [0-9]{4}\b",
        v.in_aadhaar,
    ),
    Recognizer(
        "FI_PERSONAL_IDENTITY_CODE",
        r"[0-9]{6}[\-+A-FU-Ya-fu-y][0-9]{3}[0-9A-Ya-y]",
        Strength.CHECKSUM,
        r"\b[0-9]{6}[\-+A-FU-Y][0-9]{3}[0-9A-Y]\b",
        v.fi_hetu,
    ),
    Recognizer(
        "FR_NIR",
        r"[12] ?[0-9]{2} ?[0-9]{2} ?(?:[0-9]{2}|2[ABab]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}",
        Strength.CHECKSUM,
        r"\b[12] ?[0-9]{2} ?[0-9]{2} ?(?:[0-9]{2}|2[AB]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}\b",
        v.fr_nir,
    ),
    Recognizer(
        "BR_CPF",
        r"[0-9]{3}\.?[0-9]{3}\.?[0-9]{3}-?[0-9]{2}",
        Strength.CHECKSUM,
        r"\b[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}\b",
        v.br_cpf,
    ),
    Recognizer("NL_BSN", r"[0-9]{9}", Strength.CHECKSUM, None, v.nl_bsn),
    Recognizer("CN_RESIDENT_ID", r"[1-9][0-9]{16}[0-9Xx]", Strength.CHECKSUM, r"\b[1-9][0-9]{16}[0-9X]\b", v.cn_resident_id),
    Recognizer(
        "SE_PERSONNUMMER",
        r"(?:19|20)?[0-9]{6}[\-+]?[0-9]{4}",
        Strength.CHECKSUM,
        r"\b(?:19|20)?[0-9]{6}-[0-9]{4}\b",
        v.se_personnummer,
        bare_digits_weak=True,
    ),
)
"""Every pattern recognizer; order breaks ties between overlapping matches in text (earlier wins)."""


# --- entities inside free text ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class EntitySpan:
    """One entity found in a text: ``text[start:end]`` is it."""

    start: int
    """Character offset of the first character (0-based)."""
    end: int
    """Character offset just past the last character."""
    entity: str
    """The entity's name (a key of ``ENTITIES``)."""
    score: float
    """Confidence between 0 and 1."""


_TEXT_SCORES = {Strength.CHECKSUM: 0.95, Strength.PATTERN: 0.85, Strength.WEAK: 0.5}


def find_entities(text: str, *, entities: Collection[str] | None = None) -> list[EntitySpan]:
    """Sensitive entities inside ``text``, by pattern and checksum, name and address dictionaries, and vocabularies.

    Spans never overlap: where two candidates do, the higher score wins, then the longer one. ``entities``
    limits the search to those names (all of ``ENTITIES`` by default). Sorted by position.
    """
    from bastion.scanners.data import places, vocabularies
    from bastion.scanners.data.names import find_names

    wanted = set(ENTITIES) if entities is None else set(entities)
    candidates: list[EntitySpan] = []
    for rank, recognizer in enumerate(RECOGNIZERS):
        pattern = recognizer.text_re
        if pattern is None or recognizer.entity not in wanted:
            continue
        for match in pattern.finditer(text):
            found = match.group(0)
            if recognizer.validate is None or recognizer.validate(found):
                # Earlier recognizers win ties: a tiny rank-based nudge keeps the order stable.
                score = _TEXT_SCORES[recognizer.strength] - rank * 1e-4
                candidates.append(EntitySpan(match.start(), match.end(), recognizer.entity, score))
    if "PERSON" in wanted:
        candidates.extend(find_names(text))
    if "LOCATION" in wanted:
        candidates.extend(places.find_addresses(text))
    candidates.extend(span for span in vocabularies.find_terms(text) if span.entity in wanted)
    if "CREDENTIAL" in wanted:
        candidates.extend(vocabularies.find_credentials(text))
    return _without_overlaps(candidates)


def _without_overlaps(candidates: list[EntitySpan]) -> list[EntitySpan]:
    kept: list[EntitySpan] = []
    for span in sorted(candidates, key=lambda s: (-s.score, s.start - s.end, s.start)):
        if all(span.end <= other.start or span.start >= other.end for other in kept):
            kept.append(span)
    return sorted(kept)
