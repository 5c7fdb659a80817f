"""One normalisation for both sides: list names and user input go through the same function.

A name becomes weighted tokens: legal forms (`Co., Ltd.`, `有限公司`, `GmbH` …) are dropped,
locations (`Hangzhou`, `Zhejiang`, `China` …) and generic words (`Technology`, `Digital` …) are
kept with low weight, numbers are kept.  Chinese legal names lose their legal suffix and, where
present, a leading place name and trailing generic words, so `杭州海康威视数字技术股份有限公司`
and `海康威视` meet on `海康威视`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

LEGAL_FORMS = frozenset("""
co company companies corp corporation inc incorporated ltd limited llc lp llp plc pllc
gmbh ag kg sa sas sarl srl spa bv nv oy ab as asa aps pte pty jsc ojsc pjsc cjsc ooo oao zao
kk kabushiki kaisha sdn bhd pvt private public ltda sro fze fzco fzllc fz kft zrt oyj sl sau
eurl sp zoo spolka mbh ug ek ei pt tbk jsc ead ad doo dd
""".split())

# Down-weighted: they describe what or where a company is, not who it is.
GENERIC_WORDS = frozenset("""
technology technologies tech digital information info network networks science sciences
scientific electronic electronics electrical electric system systems solution solutions
communication communications comm comms telecom telecommunication telecommunications group grp
holding holdings international intl industrial industries industry manufacturing
the of and for trading trade import export enterprise enterprises service services software
intelligent intelligence smart security vision video products product equipment device devices
global worldwide development research institute engineering factory works company's
""".split())

LOCATIONS = frozenset("""
china chinese prc peoples people's republic hong kong hk macau macao taiwan usa us america
american india indian uk europe european asia pacific emea apac latam americas
africa middle east west north south central northern southern eastern western
australia austria belgium brazil canada chile colombia czech denmark egypt finland france
germany deutschland greece hungary indonesia ireland israel italy japan kazakhstan kenya korea
malaysia mexico netherlands nigeria norway pakistan peru philippines poland portugal qatar
romania russia saudi arabia singapore slovakia spain sweden switzerland thailand turkey
ukraine emirates uae vietnam zealand argentina bangladesh iran iraq uzbekistan
dubai london paris madrid milan munich frankfurt sydney melbourne toronto johannesburg
beijing shanghai tianjin chongqing hangzhou zhejiang shenzhen guangzhou guangdong xiamen fujian
chengdu sichuan wuhan hubei nanjing jiangsu suzhou hefei anhui jinan qingdao shandong xian
shaanxi changsha hunan kunming yunnan guiyang guizhou nanning guangxi harbin heilongjiang
changchun jilin shenyang dalian liaoning shijiazhuang hebei taiyuan shanxi zhengzhou henan
nanchang jiangxi lanzhou gansu xining qinghai yinchuan ningxia urumqi xinjiang hohhot lhasa
tibet haikou hainan ningbo wuxi dongguan foshan zhuhai
""".split())

# Chinese legal-form suffixes, longest first; place prefixes; generic words that trail a name.
_CJK_LEGAL_SUFFIXES = ("股份有限公司", "有限责任公司", "集团有限公司", "有限公司", "集团公司",
                       "股份公司", "公司", "集团")
_CJK_PLACES = ("杭州", "浙江", "北京", "上海", "深圳", "广州", "广东", "厦门", "福建", "成都",
               "四川", "天津", "重庆", "南京", "江苏", "武汉", "合肥", "安徽", "新疆", "乌鲁木齐",
               "西安", "中国")
_CJK_GENERIC = ("数字技术", "技术", "科技", "数字", "信息", "网络", "电子", "通讯", "通信",
                "智能", "软件", "系统", "股份")

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_CJK}]+|[^\W_]+", re.UNICODE)
_HAS_CJK = re.compile(rf"[{_CJK}]")

WEIGHT_DISTINCT = 1.0
WEIGHT_GENERIC = 0.15
WEIGHT_LOCATION = 0.1


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    weight: float

    @property
    def distinct(self) -> bool:
        return self.weight >= WEIGHT_DISTINCT


@dataclass(frozen=True, slots=True)
class Name:
    """A normalised name: weighted tokens plus the keys used for exact lookups."""

    raw: str
    tokens: tuple[Token, ...]
    # (level, squashed key): 0 all tokens, 1 without places, 2 distinctive tokens only.
    levels: tuple[tuple[int, str], ...]

    @property
    def distinct(self) -> tuple[str, ...]:
        return tuple(t.text for t in self.tokens if t.distinct)

    def keys(self) -> tuple[str, ...]:
        """Squashed forms, most complete first: all tokens; without places; distinct only.

        Squashing (joining without spaces) makes `HIK VISION` meet `Hikvision`.
        """
        return tuple(key for _, key in self.levels)


def _clean_cjk(run: str) -> list[str]:
    """Split a Chinese name into [place?, core, generic...] with the legal suffix dropped."""
    parts: list[str] = []
    changed = True
    while changed:
        changed = False
        for suffix in _CJK_LEGAL_SUFFIXES:
            if run.endswith(suffix) and len(run) > len(suffix):
                run = run[: -len(suffix)]
                changed = True
                break
    head: list[str] = []
    for place in _CJK_PLACES:
        if run.startswith(place) and len(run) > len(place):
            head.append(place)
            run = run[len(place):]
            break
    tail: list[str] = []
    changed = True
    while changed:
        changed = False
        for word in _CJK_GENERIC:
            if run.endswith(word) and len(run) > len(word):
                tail.insert(0, word)
                run = run[: -len(word)]
                changed = True
                break
    parts.extend(head)
    parts.append(run)
    parts.extend(tail)
    return parts


def _singular(token: str) -> str:
    """`technologies` -> `technology`, `systems` -> `system`: only for generic words."""
    if token.endswith("ies") and token[:-3] + "y" in GENERIC_WORDS:
        return token[:-3] + "y"
    if token.endswith("s") and token[:-1] in GENERIC_WORDS:
        return token[:-1]
    return token


def _weight(token: str) -> float:
    if token in LOCATIONS or token in _CJK_PLACES:
        return WEIGHT_LOCATION
    if token in GENERIC_WORDS or token in _CJK_GENERIC:
        return WEIGHT_GENERIC
    return WEIGHT_DISTINCT


def fold(text: str) -> str:
    """NFKC, case-folded, apostrophes and dots inside abbreviations removed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.replace("&", " and ").replace("'", "").replace("’", "")
    # `U.S.A.` -> `usa`, `S.p.A.` -> `spa`: join single letters separated by dots.
    return re.sub(r"\b(?:\w\.){2,}", lambda m: m.group(0).replace(".", ""), text)


@lru_cache(maxsize=262_144)
def normalise(text: str) -> Name:
    """Normalise a company, brand or maker name."""
    tokens: list[Token] = []
    for raw in _TOKEN_RE.findall(fold(text)):
        pieces = _clean_cjk(raw) if _HAS_CJK.match(raw) else [raw]
        for piece in pieces:
            if piece in LEGAL_FORMS:
                continue
            piece = _singular(piece)
            tokens.append(Token(piece, _weight(piece)))
    return Name(text, tuple(tokens), _levels(tokens))


def _levels(tokens: list[Token]) -> tuple[tuple[int, str], ...]:
    full = "".join(t.text for t in tokens)
    no_place = "".join(t.text for t in tokens if t.weight != WEIGHT_LOCATION)
    core = "".join(t.text for t in tokens if t.weight >= WEIGHT_DISTINCT)
    out: list[tuple[int, str]] = [(0, full)] if full else []
    if no_place and no_place != full:
        out.append((1, no_place))
    if core and core not in (full, no_place):
        out.append((2, core))
    return tuple(out)


def words(text: str) -> list[str]:
    """Plain folded tokens of free text (descriptions), legal forms included."""
    out: list[str] = []
    for raw in _TOKEN_RE.findall(fold(text)):
        out.extend(_clean_cjk(raw) if _HAS_CJK.match(raw) else [raw])
    return out
