"""Checksums and structural rules of identifiers: a pattern says a value looks like one, these say it is one.

Each validator takes the matched text (separators included) and returns True when it holds. They run in
Python on a column's sample only, so they favour clarity over speed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re

_NOT_DIGIT = re.compile(r"[^0-9]")


def digits_of(text: str) -> str:
    """The ASCII digits of ``text``, separators dropped."""
    return _NOT_DIGIT.sub("", text)


def luhn(digits: str) -> bool:
    """The Luhn mod-10 check (cards, NPI, Swedish personal numbers)."""
    if not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


# Issuer prefixes of the card networks (IIN ranges) with their lengths; a Luhn-valid number outside them is not a card.
_CARD_PREFIXES = re.compile(
    r"4[0-9]{12}(?:[0-9]{3}){0,2}"  # Visa 13, 16, 19
    r"|(?:5[1-5][0-9]{2}|222[1-9]|22[3-9][0-9]|2[3-6][0-9]{2}|27[01][0-9]|2720)[0-9]{12}"  # Mastercard
    r"|3[47][0-9]{13}"  # American Express
    r"|3(?:0[0-5]|[68][0-9])[0-9]{11,16}"  # Diners Club
    r"|6(?:011|5[0-9]{2}|4[4-9][0-9])[0-9]{12,15}"  # Discover
    r"|(?:2131|1800|35[0-9]{2})[0-9]{11,15}"  # JCB
    r"|62[0-9]{14,17}"  # UnionPay
    r"|(?:5[06-9]|6[0-9])[0-9]{10,17}"  # Maestro (50, 56-69; 12 to 19 digits)
)


def credit_card(text: str) -> bool:
    digits = digits_of(text)
    return _CARD_PREFIXES.fullmatch(digits) is not None and luhn(digits)


# IBAN length by country (ISO 13616 registry); a country missing here is checked by mod-97 alone.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21,
    "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18,
    "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23,
    "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27,
    "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29,
    "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26,
    "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")


def iban(text: str) -> bool:
    """ISO 13616: country length, then the number read with letters as 10..35 is 1 modulo 97."""
    compact = re.sub(r"[ \-]", "", text).upper()
    if not _IBAN_SHAPE.fullmatch(compact):
        return False
    expected = _IBAN_LENGTHS.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


_SSN_NEVER_ISSUED = frozenset({"078051120", "219099999", "123456789", "111111111", "333333333"})


def us_ssn(text: str) -> bool:
    """Area not 000, 666 or 9xx; group not 00; serial not 0000; not a famous advertising number."""
    digits = digits_of(text)
    if len(digits) != 9 or digits in _SSN_NEVER_ISSUED or len(set(digits)) == 1:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def us_itin(text: str) -> bool:
    """9xx, then a group in 50-65, 70-88, 90-92 or 94-99."""
    digits = digits_of(text)
    if len(digits) != 9 or digits[0] != "9":
        return False
    group = int(digits[3:5])
    return 50 <= group <= 65 or 70 <= group <= 88 or 90 <= group <= 92 or 94 <= group <= 99


def aba_routing(text: str) -> bool:
    """ABA routing number: a valid Federal Reserve prefix and the 3-7-1 weighted checksum."""
    digits = digits_of(text)
    if len(digits) != 9:
        return False
    prefix = int(digits[:2])
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 10 == 0


def dea_number(text: str) -> bool:
    """US DEA registration (Presidio's MEDICAL_LICENSE): two letters, seven digits, the last a checksum."""
    compact = text.strip().upper()
    if not re.fullmatch(r"[ABCDEFGHJKLMPRSTUX][A-Z9][0-9]{7}", compact):
        return False
    d = [int(c) for c in compact[2:]]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


def us_npi(text: str) -> bool:
    """US National Provider Identifier: ten digits, Luhn over the 80840 prefix."""
    digits = digits_of(text)
    return len(digits) == 10 and digits[0] in "12" and luhn("80840" + digits)


def uk_nhs(text: str) -> bool:
    """Ten digits; weights 10..2, the check digit is 11 minus the sum mod 11 (10 is never issued)."""
    digits = digits_of(text)
    if len(digits) != 10 or len(set(digits)) == 1:
        return False
    check = 11 - sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True)) % 11
    return (0 if check == 11 else check) == int(digits[9])


_NINO = re.compile(r"(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]")


def uk_nino(text: str) -> bool:
    """UK National Insurance number: allowed prefix letters (not the administrative ones), six digits, suffix A-D."""
    return _NINO.fullmatch(re.sub(r"\s", "", text).upper()) is not None


_NIF_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_nif(text: str) -> bool:
    """Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter); letter = number mod 23."""
    compact = re.sub(r"[ \-]", "", text).upper()
    match = re.fullmatch(r"([XYZ]?)([0-9]{7,8})([A-Z])", compact)
    if not match:
        return False
    prefix, number, letter = match.groups()
    if prefix:
        if len(number) != 7:
            return False
        number = str("XYZ".index(prefix)) + number
    elif len(number) != 8:
        return False
    return _NIF_LETTERS[int(number) % 23] == letter


_CF_ODD = {
    **dict(zip("0123456789", (1, 0, 5, 7, 9, 13, 15, 17, 19, 21), strict=True)),
    **dict(
        zip(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23),
            strict=True,
        )
    ),
}
_CF_SHAPE = re.compile(r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]")


def it_fiscal_code(text: str) -> bool:
    """Italian codice fiscale: its shape, then the check letter from the odd/even position tables."""
    code = text.strip().upper()
    if not _CF_SHAPE.fullmatch(code):
        return False
    total = 0
    for index, char in enumerate(code[:15]):
        if index % 2 == 0:
            total += _CF_ODD[char]
        else:
            total += int(char) if char.isdigit() else ord(char) - ord("A")
    return chr(ord("A") + total % 26) == code[15]


def pl_pesel(text: str) -> bool:
    """Polish PESEL: a real birth date (century in the month) and the 1-3-7-9 checksum."""
    digits = digits_of(text)
    if len(digits) != 11:
        return False
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    if (10 - sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 10) % 10 != int(digits[10]):
        return False
    year, month, day = int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    century = {0: 1900, 1: 2000, 2: 2100, 3: 2200, 4: 1800}.get(month // 20)
    return century is not None and _is_date(century + year, month % 20, day)


def sg_nric(text: str) -> bool:
    """Singapore NRIC/FIN: S, T, F or G, seven digits and a check letter (weights 2,7,6,5,4,3,2)."""
    code = text.strip().upper()
    if not re.fullmatch(r"[STFG][0-9]{7}[A-Z]", code):
        return False
    total = sum(int(d) * w for d, w in zip(code[1:8], (2, 7, 6, 5, 4, 3, 2), strict=True))
    if code[0] in "TG":
        total += 4
    letters = "JZIHGFEDCBA" if code[0] in "ST" else "XWUTRQPNMLK"
    return letters[total % 11] == code[8]


def au_tfn(text: str) -> bool:
    """Australian Tax File Number: nine digits, weighted sum divisible by 11."""
    digits = digits_of(text)
    if len(digits) != 9 or len(set(digits)) == 1:
        return False
    weights = (1, 4, 3, 7, 5, 8, 6, 9, 10)
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 == 0


def au_abn(text: str) -> bool:
    """Australian Business Number: eleven digits, first minus one, weighted sum divisible by 89."""
    digits = digits_of(text)
    if len(digits) != 11 or digits[0] == "0":
        return False
    values = [int(digits[0]) - 1, *(int(d) for d in digits[1:])]
    weights = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
    return sum(v * w for v, w in zip(values, weights, strict=True)) % 89 == 0


_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)  # fmt: skip
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)  # fmt: skip


def in_aadhaar(text: str) -> bool:
    """Indian Aadhaar: twelve digits, not starting 0 or 1, Verhoeff checksum."""
    digits = digits_of(text)
    if len(digits) != 12 or digits[0] in "01" or len(set(digits)) == 1:
        return False
    check = 0
    for index, char in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[index % 8][int(char)]]
    return check == 0


def in_pan(text: str) -> bool:
    """Indian PAN: five letters (the fourth a holder type), four digits, a letter."""
    return re.fullmatch(r"[A-Z]{3}[ABCFGHLJPT][A-Z][0-9]{4}[A-Z]", text.strip().upper()) is not None


_HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_HETU_CENTURY = {"+": 1800, "-": 1900, "U": 1900, "V": 1900, "W": 1900, "X": 1900, "Y": 1900}


def fi_hetu(text: str) -> bool:
    """Finnish personal identity code: DDMMYY, century sign, individual number, mod-31 check character."""
    code = text.strip().upper()
    match = re.fullmatch(r"([0-9]{6})([\-+A-FU-Y])([0-9]{3})([0-9A-Y])", code)
    if not match:
        return False
    date, sign, serial, check = match.groups()
    century = _HETU_CENTURY.get(sign, 2000)
    if not _is_date(century + int(date[4:6]), int(date[2:4]), int(date[:2])):
        return False
    return _HETU_CHECK[int(date + serial) % 31] == check


def fr_nir(text: str) -> bool:
    """French social security number (NIR): 13 digits (Corsica 2A/2B) and a key of 97 minus the number mod 97."""
    compact = re.sub(r"[ .\-]", "", text).upper()
    match = re.fullmatch(r"([12][0-9]{4})(2A|2B|[0-9]{2})([0-9]{6})([0-9]{2})", compact)
    if not match:
        return False
    head, department, tail, key = match.groups()
    number = int(head + department.replace("2A", "19").replace("2B", "18") + tail)
    return 97 - number % 97 == int(key)


def br_cpf(text: str) -> bool:
    """Brazilian CPF: eleven digits with two mod-11 check digits."""
    digits = digits_of(text)
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    for size in (9, 10):
        total = sum(int(d) * w for d, w in zip(digits[:size], range(size + 1, 1, -1), strict=True))
        if (total * 10 % 11) % 10 != int(digits[size]):
            return False
    return True


def nl_bsn(text: str) -> bool:
    """Dutch citizen service number: nine digits passing the 11-test (last weight -1)."""
    digits = digits_of(text)
    if len(digits) != 9 or len(set(digits)) == 1:
        return False
    total = sum(int(d) * w for d, w in zip(digits, (9, 8, 7, 6, 5, 4, 3, 2, -1), strict=True))
    return total % 11 == 0


def cn_resident_id(text: str) -> bool:
    """Chinese resident identity card: 17 digits, a birth date inside, ISO 7064 MOD 11-2 check (X for 10)."""
    code = text.strip().upper()
    if not re.fullmatch(r"[1-9][0-9]{16}[0-9X]", code):
        return False
    if not _is_date(int(code[6:10]), int(code[10:12]), int(code[12:14])):
        return False
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(code[:17], weights, strict=True))
    return "10X98765432"[total % 11] == code[17]


def se_personnummer(text: str) -> bool:
    """Swedish personal identity number: (CC)YYMMDD-NNNC, a real date (day + 60 for coordination numbers), Luhn."""
    match = re.fullmatch(r"(?:[0-9]{2})?([0-9]{6})[\-+]?([0-9]{4})", text.strip())
    if not match:
        return False
    date, tail = match.groups()
    day = int(date[4:6])
    if not _is_date(2000, int(date[2:4]), day - 60 if day > 60 else day):
        return False
    return luhn(date + tail)


# --- crypto addresses --------------------------------------------------------------------------------------

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: index for index, char in enumerate(_BASE58)}
_BITCOIN_VERSIONS = frozenset({0x00, 0x05, 0x6F, 0xC4})  # P2PKH and P2SH, main net and test net


def base58check(text: str) -> bool:
    """A Bitcoin P2PKH/P2SH address: 25 bytes, a known version byte, and a double-SHA-256 checksum."""
    value = 0
    for char in text:
        index = _BASE58_INDEX.get(char)
        if index is None:
            return False
        value = value * 58 + index
    leading_zeros = len(text) - len(text.lstrip("1"))
    body = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    raw = b"\x00" * leading_zeros + body
    if len(raw) != 25 or raw[0] not in _BITCOIN_VERSIONS:
        return False
    return hashlib.sha256(hashlib.sha256(raw[:21]).digest()).digest()[:4] == raw[21:]


_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_CONST, _BECH32M_CONST = 1, 0x2BC830A3


def _bech32_polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for index in range(5):
            check ^= generator[index] if (top >> index) & 1 else 0
    return check


def bech32_address(text: str) -> bool:
    """A SegWit address (BIP 173 / BIP 350): bech32 for witness version 0, bech32m for 1..16, valid program length."""
    if text.lower() != text and text.upper() != text:
        return False
    lowered = text.lower()
    hrp, sep, data_part = lowered.rpartition("1")
    if not sep or hrp not in ("bc", "tb", "bcrt") or not len(data_part) > 6 or len(lowered) > 90:
        return False
    data = [_BECH32_CHARSET.find(char) for char in data_part]
    if -1 in data:
        return False
    constant = _bech32_polymod([ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data)
    version = data[0]
    if version > 16 or constant != (_BECH32_CONST if version == 0 else _BECH32M_CONST):
        return False
    # Regroup the 5-bit program into bytes; leftover bits must be zero padding of under 5 bits.
    accumulator, bits, program = 0, 0, []
    for value in data[1:-6]:
        accumulator = accumulator << 5 | value
        bits += 5
        while bits >= 8:
            bits -= 8
            program.append(accumulator >> bits & 0xFF)
    if bits >= 5 or accumulator & ((1 << bits) - 1):
        return False
    return len(program) in (20, 32) if version == 0 else 2 <= len(program) <= 40


def ethereum_address(text: str) -> bool:
    """0x and 40 hex digits; a mixed-case address must carry a valid EIP-55 checksum."""
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", text):
        return False
    body = text[2:]
    if body.lower() == body or body.upper() == body:
        return True
    digest = keccak256(body.lower().encode()).hex()
    return all(
        (char.upper() if int(nibble, 16) >= 8 else char.lower()) == char for char, nibble in zip(body, digest, strict=False)
    )


def crypto_address(text: str) -> bool:
    value = text.strip()
    if value.startswith("0x"):
        return ethereum_address(value)
    if value[:3].lower() in ("bc1", "tb1") or value[:5].lower() == "bcrt1":
        return bech32_address(value)
    return base58check(value)


_KECCAK_ROUND_CONSTANTS = (
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000, 0x000000000000808B,
    0x0000000080000001, 0x8000000080008081, 0x8000000000008009, 0x000000000000008A, 0x0000000000000088,
    0x0000000080008009, 0x000000008000000A, 0x000000008000808B, 0x800000000000008B, 0x8000000000008089,
    0x8000000000008003, 0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
)  # fmt: skip
_KECCAK_ROTATIONS = (
    (0, 36, 3, 41, 18), (1, 44, 10, 45, 2), (62, 6, 43, 15, 61), (28, 55, 25, 21, 56), (27, 20, 39, 8, 14),
)  # fmt: skip
_MASK64 = (1 << 64) - 1


def keccak256(data: bytes) -> bytes:
    """Keccak-256 as Ethereum uses it (the pre-standard padding 0x01, not SHA3-256's 0x06); hashlib lacks it."""
    rate = 136
    padded = bytearray(data) + b"\x01" + b"\x00" * ((-len(data) - 1) % rate)
    padded[-1] |= 0x80
    state = [[0] * 5 for _ in range(5)]
    for offset in range(0, len(padded), rate):
        for index in range(rate // 8):
            x, y = index % 5, index // 5
            state[x][y] ^= int.from_bytes(padded[offset + 8 * index : offset + 8 * index + 8], "little")
        for constant in _KECCAK_ROUND_CONSTANTS:
            columns = [state[x][0] ^ state[x][1] ^ state[x][2] ^ state[x][3] ^ state[x][4] for x in range(5)]
            for x in range(5):
                mix = columns[(x - 1) % 5] ^ _rotate(columns[(x + 1) % 5], 1)
                for y in range(5):
                    state[x][y] ^= mix
            moved = [[0] * 5 for _ in range(5)]
            for x in range(5):
                for y in range(5):
                    moved[y][(2 * x + 3 * y) % 5] = _rotate(state[x][y], _KECCAK_ROTATIONS[x][y])
            for x in range(5):
                for y in range(5):
                    state[x][y] = moved[x][y] ^ (~moved[(x + 1) % 5][y] & moved[(x + 2) % 5][y])
            state[0][0] ^= constant
    return b"".join(state[index % 5][index // 5].to_bytes(8, "little") for index in range(4))


def _rotate(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _MASK64 if shift else value


# --- network, dates, e-mail --------------------------------------------------------------------------------


def ip_address(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return False
    # Unspecified and loopback addresses identify nobody.
    return not (address.is_unspecified or address.is_loopback)


def email(text: str) -> bool:
    local, _, domain = text.strip().rpartition("@")
    return bool(local) and ".." not in text and not domain.startswith(("-", ".")) and "." in domain


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january", "januar", "janvier", "enero", "gennaio", "janeiro", "januari", "jänner"),
            ("feb", "february", "februar", "février", "fevrier", "febrero", "febbraio", "fevereiro", "februari"),
            ("mar", "march", "märz", "maerz", "mars", "marzo", "março", "marco", "maart"),
            ("apr", "april", "avril", "abril", "aprile"),
            ("may", "mai", "mayo", "maggio", "maio", "mei"),
            ("jun", "june", "juni", "juin", "junio", "giugno", "junho"),
            ("jul", "july", "juli", "juillet", "julio", "luglio", "julho"),
            ("aug", "august", "août", "aout", "agosto", "augustus"),
            ("sep", "sept", "september", "septembre", "septiembre", "settembre", "setembro"),
            ("oct", "october", "oktober", "octobre", "octubre", "ottobre", "outubro"),
            ("nov", "november", "novembre", "noviembre", "novembro"),
            ("dec", "december", "dezember", "décembre", "decembre", "diciembre", "dicembre", "dezembro"),
        ),
        start=1,
    )
    for name in names
}


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def calendar_date(text: str) -> bool:
    """A real calendar date in a common numeric or spelled-out form, with a year between 1850 and 2100."""
    value = text.strip().lower().rstrip(".")
    numbers = [int(n) for n in re.findall(r"[0-9]+", value)]
    month_names = [_MONTHS[w] for w in re.findall(r"[^\W\d_]+", value) if w in _MONTHS]
    if month_names and len(numbers) >= 2:
        first, second = numbers[0], numbers[1]
        year, day = (first, second) if first > 31 else (second, first)
        return 1850 <= year <= 2100 and _is_date(year, month_names[0], day)
    if len(numbers) < 3:
        return False
    a, b, c = numbers[:3]
    if a > 31:  # year first: Y-M-D
        return 1850 <= a <= 2100 and _is_date(a, b, c)
    year = c + (1900 if c >= 30 else 2000) if c < 100 else c
    # Day-first or month-first: either reading that is a real date will do.
    return 1850 <= year <= 2100 and (_is_date(year, b, a) or _is_date(year, a, b))


def date_year(text: str) -> int | None:
    """The year of a date already accepted by ``calendar_date``."""
    numbers = [int(n) for n in re.findall(r"[0-9]+", text)]
    for number in numbers:
        if number > 31:
            return number if number >= 100 else number + (1900 if number >= 30 else 2000)
    return None
