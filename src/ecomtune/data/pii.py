"""Personal data in training text: find it, and mask it, drop its rows, or keep it (`data.pii: mask | drop | keep`).

Why this runs on every text before anything is trained, cached or written: a fine-tuned model memorises rare strings
(a phone number seen in three reviews can come back out of a generator verbatim), and run folders, token and
embedding caches, reports (the most confident mistakes are quoted) and model cards are shared with people who never
saw the raw data. Masking costs almost nothing in accuracy: a review's sentiment or a product's category does not
depend on which phone number it quotes, and the placeholder (`[PHONE]`) keeps the fact that one was there.

Kinds, and the order they are looked for in (a span taken by one kind is never matched again by a later one, and a
number is only matched whole — never digits inside a longer number, an SKU or a word):

| kind | placeholder | what is caught |
|---|---|---|
| email   | `[EMAIL]`   | `name@domain.tld` (before the numbers: `13812345678@163.com` is one e-mail address) |
| id      | `[ID]`      | CN resident ID: 18 digits (last may be X) with a valid birth date and the GB 11643 check digit; the old 15-digit form only right after a word like 身份证 / ID |
| card    | `[CARD]`    | bank cards: 13-19 digits starting 2-6 or 9, in groups of 4 (or none), passing the Luhn check |
| phone   | `[PHONE]`   | CN mobile 1[3-9]x-xxxx-xxxx (+86 / 0086 optional), CN landline with area code (010-12345678, (0755)1234567), `+CC ...` international numbers of 8-15 digits, North-American (415) 555-2671 |
| address | `[ADDRESS]` | Chinese street addresses (…省…市…区 + a road/street/lane with a number 号, flats 栋/单元/室) and English ones (house number + capitalised name + St/Street/Rd/Ave/…, optional Apt/Suite, city, state + ZIP) |

A number right after an order / tracking / SKU / model word (订单号, 运单号, 货号, order #, tracking, SKU, …) is not
personal data and is left alone, unless a contact word (电话, 手机, phone, call, …) comes nearer to it.

Plain regular expressions, no model and no dictionary: the scan must be fast (every training text passes through it)
and behave the same on every machine. What is not caught — names, addresses without a street number, numbers spelt
out in words or split by other characters, obfuscated e-mails (`name at qq dot com`) — is listed in docs/privacy.md.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

KINDS = ("email", "id", "card", "phone", "address")
PLACEHOLDERS = {"email": "[EMAIL]", "id": "[ID]", "card": "[CARD]", "phone": "[PHONE]", "address": "[ADDRESS]"}
POLICIES = ("mask", "drop", "keep")
POLICY_HELP = ("personal data in the text (phone numbers, e-mails, CN ID and bank-card numbers, street addresses): "
               "`mask` (replace with [PHONE], [EMAIL], …), `drop` (leave out rows that hold any) or `keep`")

# a number starts where no digit or Latin letter precedes it (CJK text around is fine), and not after "digit
# separator" (it would be the tail of a longer number written in groups); the same at its end
_B = r"(?<![0-9A-Za-z])(?<![0-9][ -])"
_E = r"(?![0-9A-Za-z])(?![ -][0-9])"

EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
                   r"\.[A-Za-z]{2,}(?![A-Za-z0-9])")
ID18 = re.compile(_B + r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]" + _E)
ID15 = re.compile(_B + r"[1-9]\d{5}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}" + _E)
CARD = re.compile(_B + r"[2-69]\d{3}(?:[ -]?\d{4}){2,3}(?:[ -]?\d{1,3})?" + _E + r"|"
                  + _B + r"3[47]\d{2}[ -]?\d{6}[ -]?\d{5}" + _E)  # Amex 4-6-5
_CN_PREFIX = r"(?:(?:\+|00)86[ -]?|\(\+?86\)[ -]?)"
_BP = r"(?<![0-9A-Za-z+])(?<![0-9][ -])"
MOBILE = re.compile(_BP + _CN_PREFIX + r"?1[3-9]\d(?:[ -]?\d{4}){2}" + _E)
LANDLINE = re.compile(_BP + _CN_PREFIX + r"?(?:\(0?(?:10|2\d|[3-9]\d{2})\)[ -]?|"
                      r"0(?:10|2\d|[3-9]\d{2})[ -]?)[2-8]\d{2,3}[ -]?\d{4}(?:(?:转|-|ext\.? ?)\d{1,5})?" + _E)
INTERNATIONAL = re.compile(_BP + r"(?:\+|00)(?!86)[1-9]\d{0,2}(?:[ .-]?\(?\d{1,5}\)?){2,5}" + _E)
NANP = re.compile(r"(?<![0-9A-Za-z+])(?:(?<![0-9][ -])|(?<=[A-Z]{2} \d{5} ))(?:\+?1[ .-]?)?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}" + _E)

# Chinese addresses: admin units (optional), then a road/street/lane with a number 号, or a housing estate with a
# building number; then flats. Place-name characters exclude the verbs and particles that precede an address.
_PC = r"(?:(?![在到住址寄送是的我你他她为发往收货请和与及从于了个就要把给那这也都还])[\u4e00-\u9fa5])"
_ZH_ADMIN = (rf"(?:{_PC}{{2,8}}?(?:省|自治区|特别行政区))?(?:{_PC}{{1,7}}?市)?(?:{_PC}{{1,7}}?(?:区|县|旗))?"
             rf"(?:{_PC}{{1,7}}?(?:镇|乡|街道))?")
_ZH_FLAT = r"(?:[\u4e00-\u9fa5A-Za-z]{0,8}?\d{1,5}(?:-\d{1,5})?(?:号楼|栋|幢|座|单元|楼|层|室|号|户))*"
ZH_ADDRESS = re.compile(
    _ZH_ADMIN + rf"(?:{_PC}{{1,10}}?(?:路|街|大道|大街|巷|胡同|弄)\d{{1,5}}(?:-\d{{1,5}})?(?:号|弄)"
    rf"|{_PC}{{2,10}}?(?:小区|花园|公寓|大厦|新村|家园|广场|苑)\d{{1,5}}(?:号楼|栋|幢|座|(?:-\d{{1,5}}){{1,2}}))"
    rf"{_ZH_FLAT}")
_ZH_HINT = re.compile(r"\d\s*(?:号|弄|栋|幢|座)|(?:区|园|苑|寓|厦|村)\d+-\d")
_EN_SUFFIX = (r"(?:Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|"
              r"Parkway|Pkwy|Highway|Hwy|Circle|Cir|Square|Sq|Trail|Trl|Close|Crescent)")
EN_ADDRESS = re.compile(
    r"(?<![0-9A-Za-z])\d{1,6}[A-Za-z]?\s+(?:(?:[A-Z][a-z'\-]+|[NSEW]|\d+(?:st|nd|rd|th))\.?\s+){1,4}" +
    _EN_SUFFIX + r"\b(?!\.?\s+[A-Z][a-z])\.?(?:\s(?:N|S|E|W|NE|NW|SE|SW)\b)?(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor)\.?\s*#?\s*\w+|,?\s*#\s*\d+\w?)?"
    r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2}(?:,\s*[A-Z]{2})?(?:\s+\d{5}(?:-\d{4})?)?)?"
    r"(?=\s*(?:[,.;:!?)\]\n]|$|[a-z]|\s[a-z]))")
_CITY = r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2}(?:,\s*[A-Z]{2})?(?:\s+\d{5}(?:-\d{4})?)?)?"
PO_BOX = re.compile(r"\b(?:[Pp]\.?\s?[Oo]\.?|Post Office)\s*(?:Box|BOX|box)\s+\d{1,6}\b" + _CITY)
_EN_HINT = re.compile(r"\d\s+\S.*?\b" + _EN_SUFFIX + r"\b")

# the last of these words before a number says what the number is (nearest wins)
_NOT_PERSONAL = (r"订单|单号|运单|快递单|物流单|编号|货号|型号|款号|序列号|条码|条形码|批号|发票号|工号|"
                 r"\b(?:sku|asin|isbn|ean|upc|order|tracking|invoice|serial|model|barcode|item ?no|ref)\b")
_CONTACT = (r"电话|手机|联系|致电|拨打|热线|微信|身份证|证件|卡号|银行卡|"
            r"\b(?:tel|phone|call|mobile|cell|whatsapp|contact|fax|card|id)\b")
_CONTEXT = re.compile(rf"(?:({_NOT_PERSONAL})|({_CONTACT}))", re.IGNORECASE)
_ID_WORD = re.compile(r"(?:身份证|证件|\bID\b)[^\d]{0,8}$", re.IGNORECASE)
CONTEXT_CHARS = 16
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class Finding:
    """One piece of personal data: its kind and where it is (`text[start:end]`)."""

    kind: str
    start: int
    end: int


def id_checksum_ok(number: str) -> bool:
    """GB 11643-1999: the 18th character is the weighted digit sum's check code (a check digit of 10 is `X`)."""
    return len(number) == 18 and number[:17].isdigit() and \
        _ID_CHECK[sum(int(d) * w for d, w in zip(number, _ID_WEIGHTS)) % 11] == number[17].upper()


def luhn_ok(digits: str) -> bool:
    """The Luhn mod-10 check every bank-card number passes (a random number passes it one time in ten)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


def _personal(text: str, start: int) -> bool:
    """False when the nearest order/tracking/SKU word before `start` is nearer than any contact word."""
    last = None
    for m in _CONTEXT.finditer(text, max(0, start - CONTEXT_CHARS), start):
        last = m
    return last is None or last.group(1) is None


def _ids(text: str) -> Iterable[tuple[int, int]]:
    for m in ID18.finditer(text):
        s = m.group()
        if id_checksum_ok(s) and _valid_date(int(s[6:10]), int(s[10:12]), int(s[12:14])):
            yield m.span()
    for m in ID15.finditer(text):
        s = m.group()
        if _ID_WORD.search(text, max(0, m.start() - 12), m.start()) and \
                _valid_date(1900 + int(s[6:8]), int(s[8:10]), int(s[10:12])):
            yield m.span()


def _cards(text: str) -> Iterable[tuple[int, int]]:
    for m in CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        if _issued(digits) and luhn_ok(digits):
            yield m.span()


# (first digits, card lengths the networks issue): Visa, Mastercard, Amex, JCB, Diners, UnionPay, Discover, the CN
# domestic 9xxx cards; a Luhn-valid number of another length is more likely an order or ID number than a card
_IIN = ((("4",), (13, 16, 19)), (("51", "52", "53", "54", "55", "22", "23", "24", "25", "26", "27"), (16,)),
        (("34", "37"), (15,)), (("35",), (16, 17, 18, 19)), (("30", "36", "38", "39"), (14, 15, 16)),
        (("62", "60", "64", "65", "9"), (16, 17, 18, 19)))


def _issued(digits: str) -> bool:
    return any(digits.startswith(prefixes) and len(digits) in lengths for prefixes, lengths in _IIN)


def _phones(text: str) -> Iterable[tuple[int, int]]:
    for pattern in (MOBILE, LANDLINE, INTERNATIONAL, NANP):
        for m in pattern.finditer(text):
            # E.164: at most 15 digits; `00` + country code + at least 7 more (IKEA's 002.756.74 is an article number)
            digits = sum(c.isdigit() for c in m.group())
            if pattern is INTERNATIONAL and not (11 if m.group().startswith("00") else 8) <= digits <= 15:
                continue
            yield m.span()


def _addresses(text: str) -> Iterable[tuple[int, int]]:
    if _ZH_HINT.search(text):
        yield from (m.span() for m in ZH_ADDRESS.finditer(text))
    if _EN_HINT.search(text):
        yield from (m.span() for m in EN_ADDRESS.finditer(text))
    if "box" in text.lower():
        yield from (m.span() for m in PO_BOX.finditer(text))


_FINDERS = (("email", lambda t: (m.span() for m in EMAIL.finditer(t))), ("id", _ids), ("card", _cards),
            ("phone", _phones), ("address", _addresses))
_NUMBERS = {"id", "card", "phone"}
_QUICK = re.compile(r"@|\d{3}|\d[ .()-]{1,2}\d|\d\s*(?:号|弄|栋|幢|座)|\d\s+\w")  # texts without any hold no PII


# full-width ASCII (１３８…, ＠) and the ideographic space, common in Chinese text, read as their ASCII forms;
# one character for one, so spans found in the folded text are spans of the original
_FOLD = {**{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}, 0x3000: 0x20}


def find(text: str) -> list[Finding]:
    """Every piece of personal data in `text`, in order; spans never overlap (earlier kinds win)."""
    text = text.translate(_FOLD) if text else text
    if not text or not _QUICK.search(text):
        return []
    taken: list[tuple[int, int]] = []
    found = []
    for kind, finder in _FINDERS:
        for start, end in finder(text):
            if any(start < e and s < end for s, e in taken):
                continue
            if kind in _NUMBERS and not _personal(text, start):
                continue
            taken.append((start, end))
            found.append(Finding(kind, start, end))
    return sorted(found, key=lambda f: f.start)


def mask(text: str, findings: Sequence[Finding] | None = None) -> str:
    """`text` with every finding replaced by its placeholder (`[PHONE]`, `[EMAIL]`, …)."""
    findings = find(text) if findings is None else findings
    out, at = [], 0
    for f in findings:
        out += [text[at:f.start], PLACEHOLDERS[f.kind]]
        at = f.end
    return "".join(out) + text[at:]


@dataclass
class PiiReport:
    """What a policy found and did: findings per kind, rows holding any, rows scanned — counts only, never text."""

    policy: str = "mask"
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    rows: int = 0
    scanned: int = 0

    def add(self, other: PiiReport) -> PiiReport:
        for kind, n in other.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n
        self.rows += other.rows
        self.scanned += other.scanned
        return self

    def as_dict(self) -> dict:
        return {"policy": self.policy, "counts": dict(self.counts), "rows": self.rows, "scanned": self.scanned}

    def said(self, key: str = "data.pii") -> str:
        """One line for `ecomtune data check` and the training log."""
        if not self.rows:
            return f"personal data: none found in {self.scanned} rows (`{key}: {self.policy}`)"
        kinds = ", ".join(f"{n} {kind}" for kind, n in self.counts.items() if n)
        did = {"mask": "masked", "drop": "rows dropped", "keep": "KEPT as is"}[self.policy]
        return f"personal data: {kinds} in {self.rows} of {self.scanned} rows — {did} (`{key}: {self.policy}`)"


def _scan(texts: Sequence[str], policy: str) -> tuple[list[str], np.ndarray, Counter]:
    if policy not in POLICIES:
        raise ValueError(f"unknown PII policy {policy!r} — use one of {', '.join(POLICIES)}")
    counts: Counter = Counter()
    out, found = [], np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        findings = find(text)
        if findings:
            found[i] = True
            counts.update(f.kind for f in findings)
        out.append(mask(text, findings) if findings and policy == "mask" else text)
    return out, found, counts


def scrub(texts: Sequence[str], policy: str = "mask") -> tuple[list[str], np.ndarray, PiiReport]:
    """(texts, keep, report): texts masked (`mask`) or as given; `keep[i]` is False for a row to drop (`drop` and
    the row holds personal data). `keep` still counts, so `ecomtune data check` shows what is there."""
    texts, keep, report = _scan_columns({"text": list(texts)}, ["text"], policy)
    return texts["text"], keep, report


def _scan_columns(columns: dict, names: Sequence[str], policy: str):
    n = len(columns[names[0]])
    report = PiiReport(policy, scanned=n)
    found = np.zeros(n, dtype=bool)
    texts = {}
    for name in dict.fromkeys(names):
        texts[name], hit, counts = _scan([str(t) for t in columns[name]], policy)
        found |= hit
        for kind, k in counts.items():
            report.counts[kind] += k
    report.rows = int(found.sum())
    keep = ~found if policy == "drop" else np.ones(n, dtype=bool)
    return texts, keep, report


def scrub_columns(frame, names: Sequence[str], policy: str = "mask"):
    """(frame, report) for the text columns `names` of one table: masked in place (`mask`), or without the rows
    where any of them holds personal data (`drop`). Findings are counted per cell, rows once."""
    texts, keep, report = _scan_columns({c: frame[c].tolist() for c in names}, names, policy)
    if policy == "mask" and report.rows:  # untouched otherwise (an empty table keeps its column types)
        frame = frame.assign(**texts)
    return frame[keep], report
