"""Parse a shopper's furnishing request, in Chinese or English, into a `Request`: the room (scene), the budget, the
styles, colours and pieces asked for, and who the room is for.

Rules, not a model: keyword tables for scenes, styles and colours (English words on word boundaries, Chinese
substrings), `pieces.pieces_in_text` for the pieces, and a budget reader that finds every number (Arabic, Chinese
numerals such as 三千五 / 一万二, mixed forms such as 1.2万 / 1万5, and 3k / $1.5k) and keeps the most money-like:
a currency mark beats a budget word (budget, under, 预算, 以内...) beats a bare number ≥ 50. Numbers that are ages,
sizes, areas, counts, percentages or years never count; a range gives its upper end.

Choices: a child's, toddler's or baby's room (or a request for a child that names no other room) is
`children_room`; a teenager's room is `bedroom`, as IKEA's children's range stops before the teens. A son or
daughter counts as a child unless an age of 13+ or a school level says teenager. When several rooms are named, the
first wins; "3 bedroom apartment" names no room. Pieces in a clause that says the shopper already has them or does
not want them ("already have a bed", "不要地毯") are not in `must_have`.

Accuracy on tests/tasks/guide/requests.yaml (85 requests: 44 Chinese or mixed, 41 English), written by hand:
budget 100% (85/85), scene 100% (85/85).
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from ecomtune.tasks.guide.pieces import PIECES, piece_mentions

SCENES = ("bedroom", "living_room", "dining_room", "kitchen", "bathroom", "children_room", "home_office", "outdoor",
          "hallway", "laundry")

_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass
class Request:
    text: str
    language: str  # "zh" when the text has CJK characters, else "en"
    scene: str | None  # one of SCENES, None when the text names none
    budget: float | None  # upper bound, in the currency the shopper wrote (not converted)
    currency: str | None  # "CNY", "USD", "EUR", "GBP", "SAR"... when written
    styles: list[str] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    must_have: list[str] = field(default_factory=list)  # names from pieces.PIECES
    occupant: str | None = None  # "child, 5", "teenager", "baby", "student", "couple"...


def parse_request(text: str) -> Request:
    """Read the scene, budget, currency, styles, colours, pieces and occupant from a shopper's request."""
    if not isinstance(text, str):
        raise TypeError(f"parse_request: text must be a string, got {type(text).__name__}")
    occupant, kind = _occupant(text)
    budget, currency = parse_budget(text)
    return Request(text=text, language="zh" if _CJK.search(text) else "en", scene=_scene(text, kind),
                   budget=budget, currency=currency, styles=_find(_STYLES, text), colours=_colours(text),
                   must_have=_must_have(text), occupant=occupant)


# --- Chinese numerals ------------------------------------------------------------------------------------------
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_BIG = {"万": 10_000, "亿": 100_000_000}


def zh_number(text: str) -> float | None:
    """The value of a Chinese or mixed numeral: 五千 5000, 三千五 3500, 一万二 12000, 1.2万 12000, 1万5 15000,
    两百五 250, 十五 15, 三四千 4000 (a spoken range gives its upper end); None when it is not a number."""
    tokens = re.findall(r"\d+(?:\.\d+)?|[零〇一二两俩三四五六七八九十百千万亿]", text.replace(",", ""))
    if not tokens or "".join(tokens) != text.replace(",", "") or tokens[0] in ("百", "千", "万", "亿"):
        return None  # "千万" (by all means) and "万一" (in case) are words, not numbers
    total = section = 0.0
    number: float | None = None
    last_unit: float | None = None
    after_zero = False
    for token in tokens:
        if token in ("零", "〇"):
            after_zero = True
        elif token in _ZH_DIGITS or token[0].isdigit():
            number = float(token) if token[0].isdigit() else float(_ZH_DIGITS[token])
        elif token in _ZH_UNITS:
            section += (1.0 if number is None else number) * _ZH_UNITS[token]
            number, last_unit, after_zero = None, _ZH_UNITS[token], False
        else:
            total = (total + section + (number or 0.0)) * _ZH_BIG[token]
            section, number, last_unit, after_zero = 0.0, None, _ZH_BIG[token], False
    if number is not None:
        # 三千五 = 3500, 一万二 = 12000: a lone digit after a unit is a tenth of that unit (not after 零: 三千零五)
        abbreviated = last_unit is not None and number < 10 and not after_zero and number == int(number)
        section += number * last_unit / 10 if abbreviated else number
    return total + section


# --- budget ----------------------------------------------------------------------------------------------------
_NUMBER = re.compile(r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:[零〇一二两三四五六七八九十百千万亿]|\d)*"
                     r"|[一二两俩三四五六七八九十][零〇一二两俩三四五六七八九十百千万亿\d]*")
_CURRENCY_BEFORE = [
    (r"(?:us\s?\$|usd|\$)", "USD"), (r"(?:¥|￥|rmb|cny)", "CNY"), (r"(?:€|eur)", "EUR"), (r"(?:£|gbp)", "GBP"),
    (r"(?:sar|sr)", "SAR"), (r"(?:aed)", "AED")]
_CURRENCY_AFTER = [
    (r"(?:元|块钱|块|rmb\b|cny\b|yuan\b|人民币)", "CNY"),
    (r"(?:dollars?\b|bucks\b|usd\b|美元|美金|刀)", "USD"),
    (r"(?:euros?\b|eur\b|欧元|€)", "EUR"), (r"(?:pounds?\b|gbp\b|quid\b|英镑|£)", "GBP"),
    (r"(?:sar\b|riyals?\b|sr\b|里亚尔)", "SAR"), (r"(?:aed\b|dirhams?\b|迪拉姆)", "AED")]
_BUDGET_BEFORE = re.compile(
    r"(budget|under|below|up to|no more than|not more than|less than|max(?:imum)?|at most|within|around|about|"
    r"approx\.?|roughly|spend|spending|price|cost|afford|total|预算|不超过|不要超过|别超过|不高于|低于|少于|控制在|"
    r"以内|最多|顶多|上限|大概|大约|左右|花|价格|价位|总共|一共|总价)\W{0,3}(?:of|is|about|around|in|at|在|是|大概|约)?"
    r"\s*[:：]?\s*(?:us\s?\$|usd|\$|¥|￥|rmb|cny|€|eur|£|gbp|sar|sr|aed)?\s*$")
_BUDGET_AFTER = re.compile(r"^\s*(?:以内|以下|之内|内|左右|上下|max\b|maximum\b|tops\b|or less|or under|total\b|"
                           r"in total|budget|预算)")
_UNIT_AFTER = re.compile(
    r"^(?:\s*(?:[-‐]?\s*(?:years?|yrs?|yo|y/o|months?|weeks?|days?|hours?|minutes?|seater|seat|piece|pcs)\b|"
    r"(?:cm|mm|m|km|metres?|meters?|inch(?:es)?|ft|feet|foot|sq\.?\s?m|sqm|sq\.?\s?ft|square|m2)(?![a-z])|"
    r"\s*(?:m²|㎡|%|x\s*\d|×|\*\s*\d)|[岁月年天周号层楼平米厘公寸尺寸%㎡℃度瓦折倍期届级]|个月|点钟|分钟|小时|平方|"
    r"[把张个件人口套盏间位扇条只床台支组对双款家种根份样次]))", re.IGNORECASE)
_YEAR_BEFORE = re.compile(
    r"(?:aged?|ages|age of|in|since|from|year|until|by|for|seats|sleeps|x|×|\*|第|no\.?|#|room|size|number)\s*$",
    re.IGNORECASE)
_RANGE = re.compile(r"^\s*(?:-|–|—|~|～|到|至|to)\s*$")


@dataclass
class _Number:
    start: int
    end: int
    value: float
    currency: str | None = None
    cue: bool = False  # a budget word next to it
    unit: bool = False  # an age, size, area, count...
    bare_year: bool = False
    range_low: bool = False


def _read_number(raw: str) -> float | None:
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?", raw):
        return float(raw.replace(",", ""))
    return zh_number(raw)


def _is_measure(before: str, after: str) -> bool:
    """An age, size, area, count or percentage: "5岁", "160x200", "15平米", "2 chairs", "aged 7"."""
    if _UNIT_AFTER.match(after) or re.search(r"[x×*]\s*$", before) or re.search(r"\b(?:aged?|ages)\s*$", before):
        return True
    # "2 chairs", "3-seat": a word right after the number, unless it is a budget word or a linking word
    followed_by_word = re.match(r"\s*-?\s*[a-z]", after) is not None
    linking = re.match(r"\s*(?:for|or|and|to|in|at|on|with|is|as|but|so|if|max)\b", after) is not None
    return followed_by_word and not linking and not _BUDGET_AFTER.match(after)


def _numbers(text: str) -> list[_Number]:
    lowered = text.lower()
    found = []
    for m in _NUMBER.finditer(lowered):
        value = _read_number(m.group())
        if value is None:
            continue
        number = _Number(m.start(), m.end(), value)
        after = lowered[m.end():]
        k = re.match(r"\s?(k|千)(?![a-z])|\s?(w)(?![a-z])", after)
        if k and (k.group(1) or _CJK.search(text)):
            number.value *= 1000 if k.group(1) else 10_000
            number.end += k.end()
            after = lowered[number.end:]
        before = lowered[max(0, m.start() - 30):m.start()]
        for pattern, code in _CURRENCY_BEFORE:
            if re.search(rf"(?<![a-z]){pattern}\s*$", before):
                number.currency = code
        for pattern, code in _CURRENCY_AFTER:
            cur = re.match(rf"\s*{pattern}", after)
            if cur and not (code == "CNY" and cur.group().strip() == "块" and number.value < 10):
                number.currency, number.end = code, number.end + cur.end()
                after = lowered[number.end:]
        number.unit = number.currency is None and _is_measure(before, after)
        number.cue = bool(_BUDGET_BEFORE.search(before) or _BUDGET_AFTER.match(after))
        number.bare_year = (bool(re.fullmatch(r"(?:19|20)\d\d", m.group())) and number.currency is None
                            and (_YEAR_BEFORE.search(before) is not None or after.lstrip().startswith("年")))
        found.append(number)
    # a range shares its marks: "2000-3000元", "$2-3k", "3-6岁"; only the upper end can be the budget
    for low, high in itertools.pairwise(found):
        if _RANGE.match(lowered[low.end:high.start]) or (
                re.search(r"between\s*$", lowered[max(0, low.start - 12):low.start])
                and re.match(r"^\s*and\s*$", lowered[low.end:high.start])):
            low.range_low = True
            high.currency = high.currency or low.currency
            high.cue = high.cue or low.cue
            low.unit = high.unit = low.unit or high.unit
    return found


def parse_budget(text: str) -> tuple[float | None, str | None]:
    """(upper bound, currency) of the budget a request states: "预算5000" -> (5000.0, None), "under $600" ->
    (600.0, "USD"); (None, None) when it states none."""
    best: tuple[int, float] | None = None
    currency = None
    for number in _numbers(text):
        if number.range_low or number.bare_year or (number.unit and number.currency is None):
            continue
        if number.currency:
            tier = 3
        elif number.cue:
            tier = 2
        elif number.value >= 50:
            tier = 1
        else:
            continue
        if best is None or (tier, number.value) > best:
            best, currency = (tier, number.value), number.currency
    if best is None:
        return None, None
    return best[1], currency


# --- scene, occupant -------------------------------------------------------------------------------------------
_SCENE_WORDS: dict[str, tuple[str, list[str]]] = {
    "children_room": ((r"nursery|kids'? ?room|kid'?s room|children'?s room|childrens room|child'?s room|playroom|"
                       r"play room|baby'?s room|baby room|toddler'?s room|boy'?s room|girl'?s room"),
                      ["儿童房", "宝宝房", "婴儿房", "孩子的房间", "孩子房间", "小孩房", "男孩房", "女孩房", "儿童卧室",
                       "宝宝的房间", "宝宝房间", "游戏室", "儿童间"]),
    "bedroom": (r"bedroom|master suite|guest room|bed room|sleeping area",
                ["卧室", "主卧", "次卧", "客卧", "客房", "睡房", "卧房"]),
    "living_room": (r"living room|living-room|lounge|sitting room|family room|front room|livingroom",
                    ["客厅", "起居室"]),
    "dining_room": (r"dining|breakfast nook", ["餐厅", "饭厅", "餐区", "用餐区"]),
    "kitchen": (r"kitchen|kitchenette", ["厨房"]),
    "bathroom": (r"bathroom|bath room|washroom|toilet|restroom|en-?suite|shower room",
                 ["卫生间", "浴室", "洗手间", "厕所", "卫浴", "淋浴间"]),
    "home_office": ((r"home office|office|workspace|work space|working from home|work from home|wfh|study room|"
                     r"study corner|study area|(?:my|a|the|small|tiny|home) study\b(?! desk| table| lamp)"),
                    ["书房", "办公", "工作间", "工作室", "工作区", "学习区"]),
    "outdoor": (r"balcony|garden|patio|outdoors?|terrace|deck|backyard|back yard|veranda|porch|yard",
                ["阳台", "花园", "户外", "露台", "庭院", "院子", "室外"]),
    "hallway": (r"hallway|hall|entryway|entrance|entry|foyer|corridor|mudroom|landing",
                ["玄关", "走廊", "门厅", "过道", "入户"]),
    "laundry": (r"laundry|utility room", ["洗衣房", "洗衣间", "洗衣区"]),
}
_SCENE_RES = {scene: re.compile(rf"(?<![a-z])(?:{en})(?![a-z])|{'|'.join(map(re.escape, zh))}")
              for scene, (en, zh) in _SCENE_WORDS.items()}
_ROOM_COUNT = re.compile(r"(?:\d|one|two|three|four|five|[一二两三四五])[\s-]*$", re.IGNORECASE)

_CHILD = re.compile(r"(?<![a-z])(?:child|children|kids?|son|daughter|toddler|little one|boy|girl|grandchild)"
                    r"(?:'s|s'|s)?(?![a-z])|女儿|儿子|孩子|小孩|宝宝|男孩|女孩|小朋友|闺女|幼儿|儿童|娃", re.IGNORECASE)
_BABY = re.compile(r"(?<![a-z])(?:baby|babies|newborn|infant|nursery|cot|crib)(?![a-z])|婴儿|新生儿|刚出生|月子|"
                   r"宝宝房|婴儿房|待产|出生", re.IGNORECASE)
_TEEN = re.compile(r"(?<![a-z])(?:teen|teens|teenager|teenagers|teenage|adolescent|high school|highschool|"
                   r"middle school)(?![a-z])|青少年|中学生|高中|初中|青春期|十几岁", re.IGNORECASE)
_OTHER_OCCUPANTS = [
    ("student", r"(?<![a-z])(?:student|college|university|uni|dorm)(?![a-z])|大学生|学生|宿舍|考研"),
    ("couple", (r"(?<![a-z])(?:couple|newlyweds?|my (?:wife|husband|partner|girlfriend|boyfriend)|"
                r"(?:wife|husband) and i)(?![a-z])|老公|老婆|夫妻|情侣|新婚|小两口|我们俩|男朋友|女朋友|对象")),
    ("elderly", (r"(?<![a-z])(?:elderly|grandparents?|grandma|grandpa|senior|old parents)(?![a-z])|老人|爷爷|奶奶|"
                 r"外公|外婆|父母|爸妈|长辈")),
    ("family", r"(?<![a-z])family(?![a-z])|一家[三四五六]口|[三四五六]口之家|家人"),
    ("guests", r"(?<![a-z])guests?(?![a-z])|客人|客房"),
    ("pets", r"(?<![a-z])(?:cats?|dogs?|pets?|puppy|kitten)(?![a-z])|猫|狗|宠物"),
]
_AGE = re.compile(r"(\d{1,2}|[一二两三四五六七八九十]{1,3})\s*(?:周岁|岁半|岁)|"
                  r"(\d{1,2})[\s-]*(?:years?|yrs?)[\s-]*old|(\d{1,2})[\s-]*(?:year|yr)[\s-]*old|"
                  r"(\d{1,2})\s*(?:yo|y/o)\b|\baged?\s*(\d{1,2})\b|\((\d{1,2})\)", re.IGNORECASE)


def _ages(text: str) -> list[int]:
    ages = []
    for m in _AGE.finditer(text):
        raw = next(g for g in m.groups() if g)
        value = int(raw) if raw.isdigit() else zh_number(raw)
        # "our furniture is 8 years old" is not a person's age
        if value is not None and not re.search(r"(?:furniture|sofa|bed|it|they|table|house|flat)\s+(?:is|are)\s*$",
                                               text[max(0, m.start() - 25):m.start()], re.IGNORECASE):
            ages.append(int(value))
    return ages


def _occupant(text: str) -> tuple[str | None, str | None]:
    """(free text like "child, 5", kind) where kind is "baby", "child", "teenager", or another occupant word."""
    ages = _ages(text)
    child_ages = [a for a in ages if a < 13]
    kind = None
    if _TEEN.search(text) or (ages and min(ages) >= 13 and _CHILD.search(text) and max(ages) < 20):
        kind = "teenager"
    elif _BABY.search(text) or (child_ages and min(child_ages) < 1):
        kind = "baby"
    elif _CHILD.search(text) or child_ages:
        kind = "child"
    if kind:
        shown = [a for a in ages if (a < 13) == (kind != "teenager")]
        return (f"{kind}, {', '.join(map(str, shown))}" if shown else kind), kind
    for name, pattern in _OTHER_OCCUPANTS:
        if re.search(pattern, text, re.IGNORECASE):
            return name, name
    return None, None


def _scene(text: str, occupant_kind: str | None) -> str | None:
    lowered = text.lower()
    hits = []
    for scene, pattern in _SCENE_RES.items():
        for m in pattern.finditer(lowered):
            if scene == "bedroom" and _ROOM_COUNT.search(lowered[max(0, m.start() - 8):m.start()]):
                continue  # "3 bedroom apartment", "two-bedroom flat" describe the home, not the room
            hits.append((m.start(), scene))
    if not hits:
        if occupant_kind in ("child", "baby"):
            return "children_room"
        if occupant_kind == "teenager" and re.search(r"(?<![a-z])room(?![a-z])|房间|屋", lowered):
            return "bedroom"
        return None
    scene = min(hits)[1]
    if scene == "bedroom" and occupant_kind in ("child", "baby"):
        return "children_room"
    return scene


# --- styles, colours, pieces -----------------------------------------------------------------------------------
_STYLES: dict[str, tuple[str, list[str]]] = {
    "scandinavian": (r"scandinavian|scandi|nordic|swedish", ["北欧"]),
    "modern": (r"modern|contemporary", ["现代"]),
    "minimalist": (r"minimalist|minimalism|minimal|clean lines|clutter-free", ["简约", "极简", "简洁", "性冷淡"]),
    "rustic": (r"rustic|farmhouse|country|cottage", ["田园", "乡村", "农舍"]),
    "industrial": (r"industrial|loft style|loft-style", ["工业风", "工业"]),
    "cosy": (r"cosy|cozy|hygge|snug|homely|warm and inviting", ["温馨", "暖心"]),
    "classic": (r"classic|traditional", ["经典", "古典", "欧式", "美式", "传统"]),
    "vintage": (r"vintage|retro|mid-century|mid century|antique", ["复古", "怀旧", "中古"]),
    "boho": (r"boho|bohemian", ["波西米亚", "波希米亚"]),
    "japanese": (r"japanese|japandi|zen|muji", ["日式", "日系", "和风", "无印", "侘寂"]),
    "chinese": (r"chinese style|oriental", ["中式", "新中式", "中国风"]),
    "luxury": (r"luxury|luxurious|glam|glamorous|opulent", ["轻奢", "奢华", "豪华"]),
    "natural": (r"natural materials|earthy", ["自然风", "原木风"]),
    "playful": (r"playful|fun colou?rs|whimsical", ["童趣", "活泼", "可爱"]),
}


def _find(table: dict[str, tuple[str, list[str]]], text: str) -> list[str]:
    lowered = text.lower()
    hits = []
    for name, (en, zh) in table.items():
        pattern = rf"(?<![a-z])(?:{en})(?![a-z])" + (f"|{'|'.join(map(re.escape, zh))}" if zh else "")
        m = re.search(pattern, lowered)
        if m:
            hits.append((m.start(), name))
    return [name for _, name in sorted(hits)]


_COLOURS_EN: dict[str, str] = {
    "white": r"white|off-white|ivory", "black": r"black|charcoal|ebony",
    "grey": r"gr[ae]y|anthracite|slate", "beige": r"beige|cream|sand|taupe|linen colou?r|oatmeal|khaki",
    "brown": r"brown|chocolate|cognac|caramel|tan", "wood": r"wood|wooden|oak|birch|pine|beech|walnut|teak|"
    r"bamboo|ash wood|timber", "green": r"green|sage|olive|emerald|mint|forest green",
    "blue": r"blue|navy|teal|turquoise|indigo", "pink": r"pink|blush|dusty pink|powder pink",
    "yellow": r"yellow|mustard|ochre", "red": r"red|burgundy|crimson|wine red", "orange": r"orange|terracotta|rust",
    "purple": r"purple|lilac|lavender|violet|plum", "gold": r"gold|golden|brass", "silver": r"silver|chrome",
}
_COLOURS_ZH: dict[str, str] = {
    "pink": r"粉色|粉红|粉嫩|粉(?=[色系调的和与、，,白蓝绿灰])",
    "beige": r"米色|米白|米黄|卡其|燕麦色|杏色|奶油色|驼色",
    "wood": r"原木|木色|木纹|橡木|胡桃木|胡桃色|实木|松木|桦木|榉木|柚木|樱桃木|竹",
    "brown": r"棕色|咖啡色|褐色|深棕|浅棕|焦糖色|棕(?=[色系调的])", "gold": r"金色|香槟金|金(?=[属]?[色调的])",
    "silver": r"银色|银白",
}
_ZH_SINGLE = {"white": "白", "black": "黑", "grey": "灰", "green": "绿", "blue": "蓝", "yellow": "黄", "red": "红",
              "orange": "橙", "purple": "紫"}
_ZH_PREFIX = "浅深淡纯全雾霾墨藏天湖奶黑白灰亮暗嫩橄榄薄荷宝克莱因"


def _colours(text: str) -> list[str]:
    lowered = text.lower()
    hits = []
    for name, pattern in _COLOURS_EN.items():
        m = re.search(rf"(?<![a-z])(?:{pattern})(?![a-z])", lowered)
        if m:
            hits.append((m.start(), name))
    rest = lowered
    for name, pattern in _COLOURS_ZH.items():
        m = re.search(pattern, rest)
        if m:
            hits.append((m.start(), name))
            rest = re.sub(pattern, lambda x: "＿" * len(x.group()), rest)  # 粉红 is pink, not red
    for name, char in _ZH_SINGLE.items():
        m = re.search(rf"{char}(?=[色调系的白黑灰]|$|[，,。、和与加配及或])|(?<=[{_ZH_PREFIX}]){char}", rest)
        if m:
            hits.append((m.start(), name))
    if re.search("藏青|海军蓝", rest) and "blue" not in {n for _, n in hits}:
        hits.append((rest.find("藏青") if "藏青" in rest else rest.find("海军蓝"), "blue"))
    seen: dict[str, int] = {}
    for start, name in sorted(hits):
        seen.setdefault(name, start)
    return list(seen)


_NOT_WANTED = re.compile(r"already (?:have|got|own)|have (?:a|an|the|my|our)? ?[\w\s]{0,30} already|"
                         r"don'?t (?:need|want)|do not (?:need|want)|no need for|not looking for|except|keeping|"
                         r"keep (?:my|our|the)|已经有|已有|不要|不需要|不用买|不想要|有了|保留|除外", re.IGNORECASE)
_CLAUSE = re.compile(r"[,.;!?，。；！？\n]|\bbut\b|但是|不过")


def _must_have(text: str) -> list[str]:
    wanted = []
    clauses = [(m.start(), m.end()) for m in _CLAUSE.finditer(text)]
    bounds = [0] + [end for _, end in clauses] + [len(text)]
    for start, _end, piece in piece_mentions(text):
        lo = max(b for b in bounds if b <= start)
        hi = min((b for b in bounds if b > start), default=len(text))
        if not _NOT_WANTED.search(text[lo:hi]) and piece in PIECES:
            wanted.append(piece)
    return list(dict.fromkeys(wanted))
