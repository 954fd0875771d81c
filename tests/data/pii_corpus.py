"""A generated zh/en corpus of reviews, questions and delivery notes with known personal data, and hard negatives.

Every piece of personal data is placed at a known span: phones (CN mobile in several spellings, CN landlines,
international and North-American numbers), e-mails, CN resident IDs with a valid GB 11643 check digit (and a few
old 15-digit ones after 身份证), Luhn-valid bank cards, Chinese and English street addresses. The hard negatives
look like them and are not personal data: order and tracking numbers (even Luhn-valid ones, after 订单号 / order #),
SKUs, prices, dates, 11-digit numbers that are not mobiles, Luhn-invalid 16-digit numbers, 18-digit numbers with a
wrong ID check digit, product model numbers, "10 Piece Court Set".

`corpus(n, seed)` -> [(text, [(kind, start, end), ...])]; `score(corpus)` -> per-kind precision and recall.
"""
from __future__ import annotations

import random
import string
from datetime import date, timedelta

from ecomtune.data.pii import KINDS, find, luhn_ok

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
REGIONS = ["110105", "310104", "440305", "330106", "510107", "320102", "420111", "610113", "120101", "500103"]
PROVINCES = [("广东省", "深圳市", "南山区"), ("浙江省", "杭州市", "西湖区"), ("江苏省", "南京市", "鼓楼区"),
             ("", "北京市", "朝阳区"), ("", "上海市", "浦东新区"), ("四川省", "成都市", "武侯区"),
             ("湖北省", "武汉市", "洪山区"), ("山东省", "青岛市", "市南区")]
ROADS = ["科技园南路", "文三路", "中山北路", "建国路", "世纪大道", "人民南路", "珞喻路", "香港中路", "长乐街", "淮海中路"]
ESTATES = ["阳光花园", "碧桂园小区", "金色家园", "万科公寓"]
EN_STREETS = ["Main", "Oak", "Maple", "Evergreen", "Sunset", "Park", "Elm", "Lake View", "Cedar Hill", "5th"]
EN_SUFFIX = ["Street", "St", "Road", "Rd", "Avenue", "Ave", "Lane", "Drive", "Blvd", "Court", "Way", "Terrace"]
CITIES = [("Springfield", "IL"), ("Austin", "TX"), ("Portland", "OR"), ("Denver", "CO"), ("Boston", "MA")]
DOMAINS = ["qq.com", "163.com", "gmail.com", "outlook.com", "126.com", "yahoo.co.uk", "example.com.cn", "foxmail.com"]


def id_number(rng: random.Random, x_ok: bool = True) -> str:
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(20000))
    body = f"{rng.choice(REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS)) % 11]
    return body + check


def wrong_id(rng: random.Random) -> str:
    good = id_number(rng)
    return good[:17] + rng.choice([c for c in "0123456789X" if c != good[17]])


def old_id(rng: random.Random) -> str:
    born = date(1940, 1, 1) + timedelta(days=rng.randrange(20000))
    return f"{rng.choice(REGIONS)}{born:%y%m%d}{rng.randrange(1000):03d}"


def luhn_complete(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


def card_digits(rng: random.Random) -> str:
    prefix, length = rng.choice([("62", 16), ("62", 19), ("4", 16), ("51", 16), ("55", 16), ("37", 15), ("35", 16)])
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return luhn_complete(body)


def card(rng: random.Random) -> str:
    digits = card_digits(rng)
    if digits.startswith("37"):
        return rng.choice([digits, f"{digits[:4]} {digits[4:10]} {digits[10:]}"])
    sep = rng.choice(["", " ", "-"])
    return sep.join(digits[i:i + 4] for i in range(0, len(digits), 4))


def mobile(rng: random.Random) -> str:
    n = f"1{rng.choice('3456789')}{rng.randrange(10)}{rng.randrange(10**8):08d}"
    style = rng.randrange(6)
    if style == 1:
        n = f"{n[:3]}-{n[3:7]}-{n[7:]}"
    elif style == 2:
        n = f"{n[:3]} {n[3:7]} {n[7:]}"
    elif style == 3:
        n = "+86 " + n
    elif style == 4:
        n = f"+86-{n[:3]}-{n[3:7]}-{n[7:]}"
    elif style == 5:
        n = "0086" + n
    if rng.random() < 0.1:  # full-width digits, as Chinese input methods type them
        n = n.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    return n


def landline(rng: random.Random) -> str:
    area = rng.choice(["010", "021", "020", "0755", "0571", "028", "0532"])
    local = f"{rng.randint(2, 8)}{rng.randrange(10**7 if len(area) == 3 else 10**6):0{7 if len(area) == 3 else 6}d}"
    return rng.choice([f"{area}-{local}", f"({area}){local}", f"{area} {local}", f"{area}{local}"])


def international(rng: random.Random) -> str:
    return rng.choice([
        f"+44 20 {rng.randint(2000, 8999)} {rng.randrange(10000):04d}",
        f"+1 {rng.randint(201, 989)} {rng.randint(200, 999)} {rng.randrange(10000):04d}",
        f"+49 30 {rng.randint(1000, 9999)} {rng.randrange(10000):04d}",
        f"+81 3-{rng.randint(1000, 9999)}-{rng.randrange(10000):04d}",
        f"+33 1 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        f"+65 {rng.randint(6000, 9999)} {rng.randrange(10000):04d}",
        f"+852 {rng.randint(5000, 9999)} {rng.randrange(10000):04d}",
        f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randrange(10000):04d}",
        f"{rng.randint(201, 989)}-{rng.randint(200, 999)}-{rng.randrange(10000):04d}",
    ])


def email(rng: random.Random) -> str:
    style = rng.randrange(3)
    if style == 0:
        local = f"{rng.randrange(10**5, 10**10)}"  # QQ-number mailboxes
    elif style == 1:
        local = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 8))) + \
            rng.choice(["", ".", "_"]) + "".join(rng.choice(string.ascii_lowercase + string.digits)
                                               for _ in range(rng.randint(1, 5)))
    else:
        local = rng.choice(["zhang.wei", "li_na88", "john.smith", "amy+shop", "wang2019", "Mary.Jones"])
    return f"{local}@{rng.choice(DOMAINS + ['Mail.Example.COM', 'cs.tsinghua.edu.cn'])}"


def zh_address(rng: random.Random) -> str:
    province, city, district = rng.choice(PROVINCES)
    head = rng.choice([province + city + district, city + district, district])
    if rng.random() < 0.75:
        body = f"{rng.choice(ROADS)}{rng.randint(1, 999)}号"
        tail = rng.choice(["", f"{rng.randint(1, 30)}栋{rng.randint(101, 2504)}室",
                           f"{rng.randint(1, 9)}单元{rng.randint(101, 1802)}", f"{rng.randint(1, 40)}号楼"])
    elif rng.random() < 0.5:
        body = f"{rng.choice(ESTATES)}{rng.randint(1, 30)}栋"
        tail = f"{rng.randint(1, 6)}单元{rng.randint(101, 1802)}室"
    elif rng.random() < 0.6:
        body, tail = f"{rng.choice(ESTATES)}{rng.randint(1, 30)}-{rng.randint(1, 6)}-{rng.randint(101, 1802)}", ""
    else:  # no number at all: not caught (docs/privacy.md)
        body, tail = rng.choice(["中关村大街", "西溪湿地旁边", "万达广场对面"]), ""
    return head + body + tail


def en_address(rng: random.Random) -> str:
    street = f"{rng.randint(1, 9999)} {rng.choice(EN_STREETS)} {rng.choice(EN_SUFFIX)}"
    apt = rng.choice(["", f", Apt {rng.randint(1, 40)}{rng.choice('ABC')}", f" #{rng.randint(1, 999)}",
                      f", Suite {rng.randint(100, 999)}"])
    city, state = rng.choice(CITIES)
    where = rng.choice(["", f", {city}", f", {city}, {state} {rng.randrange(10000, 99999)}"])
    if rng.random() < 0.1:  # typed in lower case, or a PO box: not caught (docs/privacy.md)
        return rng.choice([(street + where).lower(), f"PO Box {rng.randint(10, 9999)}{where}"])
    return street + apt + where


MAKERS = {"phone": lambda r: r.choice([mobile, mobile, mobile, landline, international])(r), "email": email,
          "id": lambda r: id_number(r), "card": card, "zh_address": zh_address, "en_address": en_address}

# (language, template): {kind} slots are filled with personal data, {neg} with a hard negative
TEMPLATES = [
    ("zh", "衣服很好看，有问题请联系我{phone}，谢谢"), ("zh", "物流太慢了，打{phone}也没人接。{neg}"),
    ("zh", "快递放门口就行，地址：{zh_address}，电话{phone}"), ("zh", "请寄到{zh_address}，收件人王先生"),
    ("zh", "发票请发到邮箱{email}，{neg}"), ("zh", "我的身份证号是{id}，为什么实名认证不通过？"),
    ("zh", "退款请退到这张卡{card}，不要退到余额"), ("zh", "请问能开发票吗？我的邮箱是{email}"),
    ("zh", "{neg}，质量一般，客服电话{phone}"), ("zh", "买给我妈的，她住在{zh_address}，老人家很喜欢"),
    ("zh", "收货人：李娜 {phone} {zh_address}"), ("zh", "银行卡号：{card}，户名张伟，{neg}"),
    ("zh", "很满意，{neg}，下次还来"), ("zh", "有没有大码？{neg}"), ("zh", "问：这个能用多久？答：{neg}"),
    ("en", "Great dress! If the seller reads this, text me at {phone}."), ("en", "Send the invoice to {email} please. {neg}"),
    ("en", "Delivered to {en_address} but the box was open."), ("en", "My card {card} was charged twice. {neg}"),
    ("en", "Q: does it ship abroad? A: yes, write to {email} or call {phone}."),
    ("en", "Please ship to {en_address}. {neg}"), ("en", "Love it. {neg}"), ("en", "Runs small, order a size up. {neg}"),
    ("en", "Return label went to {en_address}; reach me on {phone} or {email}"),
    ("en", "Customer ID on the form was {id} (Chinese ID card), is that needed?"),
]


def negative(rng: random.Random) -> str:
    """A string that looks like personal data and is not."""
    order = "".join(rng.choice(string.digits) for _ in range(rng.choice([12, 16, 18, 19])))
    luhn_order = luhn_complete("4" + "".join(rng.choice(string.digits) for _ in range(14)))
    not_luhn = card_digits(rng)[:-1]
    not_luhn += next(d for d in "0123456789" if not luhn_ok(not_luhn + d))
    not_mobile = f"1{rng.choice('012')}{rng.randrange(10**9):09d}"
    return rng.choice([
        f"订单号：{order}", f"订单编号 {order}", f"order #{luhn_order}", f"Order number {order}",
        f"运单号SF{rng.randrange(10**12):012d}", f"tracking no. {order}", f"货号 HX{rng.randrange(10**11):011d}",
        f"SKU: AB-{rng.randrange(10**8):08d}", f"sku {rng.randrange(10**10):010d}X", f"型号 {order[:11]}",
        f"¥{rng.randint(10, 9999)}.{rng.randrange(100):02d}", f"${rng.randint(5, 500)}.99", f"价格{rng.randint(100, 99999)}元",
        f"{rng.randint(2015, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        f"{rng.randint(2015, 2025)}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日",
        f"{rng.randint(2015, 2025)}/{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d} {rng.randint(0, 23)}:30",
        f"编码{not_mobile}", f"{not_mobile}", f"ref {not_luhn}", f"{not_luhn}", f"{wrong_id(rng)}",
        "iPhone 13 Pro Max 256GB", "尺码 165/88A", "USB 3.0, 1080p", f"买了{rng.randint(2, 9)}件",
        "10 Piece Court Set", "4 Way Stretch fabric", f"{rng.randint(2, 12)} Main Features",
        f"size {rng.randint(4, 14)} and {rng.randint(2, 5)} Pack", f"{rng.randint(100, 999)}ml x {rng.randint(2, 6)}",
        f"第{rng.randint(1, 9)}次购买", f"{order}这单什么时候发货", f"{rng.randrange(10**18, 10**19)}", f"model {rng.randint(1000, 9999)}-{rng.randint(100, 999)}-{rng.randrange(10000):04d}",
    ])


def corpus(n: int = 2000, seed: int = 0) -> list[tuple[str, list[tuple[str, int, int]]]]:
    """`n` texts, each with the (kind, start, end) of every piece of personal data in it."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 40 == 0:  # the old 15-digit ID: caught only after the word 身份证
            value = old_id(rng)
            prefix = "身份证 "
            out.append((prefix + value + " 能用吗", [("id", len(prefix), len(prefix) + len(value))]))
            continue
        _, template = rng.choice(TEMPLATES)
        text, spans = "", []
        for literal, slot in _parts(template):
            text += literal
            if slot is None:
                continue
            value = negative(rng) if slot == "neg" else MAKERS[slot](rng)
            if slot != "neg":
                spans.append(("address" if slot.endswith("address") else slot, len(text), len(text) + len(value)))
            text += value
        out.append((text, spans))
    return out


def _parts(template: str):
    import re

    at = 0
    for m in re.finditer(r"\{(\w+)\}", template):
        yield template[at:m.start()], m.group(1)
        at = m.end()
    yield template[at:], None


def score(texts: list[tuple[str, list[tuple[str, int, int]]]]) -> dict[str, dict[str, float]]:
    """Per kind: gold, found, precision, recall. Numbers and e-mails must match the gold span exactly; an address
    counts when the found span overlaps the gold one (where an address begins is fuzzy: `寄到北京市…`)."""
    tally = {k: {"gold": 0, "found": 0, "true_found": 0, "gold_hit": 0} for k in KINDS}
    for text, gold in texts:
        found = find(text)
        for kind, start, end in gold:
            tally[kind]["gold"] += 1
            tally[kind]["gold_hit"] += any(_match(kind, (start, end), (f.start, f.end)) for f in found
                                           if f.kind == kind)
        for f in found:
            tally[f.kind]["found"] += 1
            tally[f.kind]["true_found"] += any(_match(f.kind, (s, e), (f.start, f.end)) for k, s, e in gold
                                               if k == f.kind)
    return {k: {"gold": t["gold"], "found": t["found"],
                "precision": t["true_found"] / t["found"] if t["found"] else 1.0,
                "recall": t["gold_hit"] / t["gold"] if t["gold"] else 1.0} for k, t in tally.items()}


def _match(kind: str, gold: tuple[int, int], got: tuple[int, int]) -> bool:
    if kind == "address":
        return got[0] < gold[1] and gold[0] < got[1]
    return gold == got
