"""One normalisation for both sides: list names and user input go through the same function.

First the Unicode clean-up of `unicode_guard` (NFKC, invisible and format characters removed,
dashes folded, Latin accents dropped), then a name becomes weighted tokens: legal forms
(`Co., Ltd.`, `有限公司`, `GmbH`, `ООО`, pinyin `Youxian Gongsi` …) are dropped, locations
(`Hangzhou`, `Zhejiang`, `China` …), administrative words (`Bureau`, `Prefecture` …) and generic
words (`Technology`, `Digital`, pinyin `Jishu` …) are kept with low weight, numbers are kept.
A word written in lookalike letters of another script is read as Latin (`Dаhuа` -> `dahua`), and
the letters read are kept on the `Name` so a match that needs them can say so.  Place names
spelled another way become one spelling (`places.yaml`: `Uyghur` -> `uighur`).  A parenthetical
acronym that spells the words before it (`Xinjiang Uighur Autonomous Region (XUAR)`) adds
nothing and is dropped.  Chinese legal names lose their legal suffix and, where present, a
leading place name and trailing generic words, so `杭州海康威视数字技术股份有限公司` and `海康威视`
meet on `海康威视`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from entityscan.matcher.unicode_guard import clean, read_word

LEGAL_FORMS = frozenset("""
co company companies corp corporation inc incorporated ltd limited llc lp llp plc pllc
gmbh ag kg sa sas sarl srl spa bv nv oy ab as asa aps pte pty jsc ojsc pjsc cjsc ooo oao zao
kk kabushiki kaisha sdn bhd pvt private ltda sro fze fzco fzllc fz kft zrt oyj sl sau
eurl sp zoo spolka mbh ug ek ei pt tbk jsc ead ad doo dd
youxian gongsi gufen zeren
ооо оао зао пао ао ип ае
""".split())
# The last two rows: pinyin of 有限公司 / 股份 / 有限责任; Russian ООО/ОАО/ЗАО/ПАО/АО/ИП and Greek
# ΑΕ written in their own script (their Latin readings, `ooo` …, are in the first rows).

# Down-weighted: they describe what or where a company is, not who it is.
GENERIC_WORDS = frozenset("""
technology technologies tech digital information info network networks science sciences
scientific electronic electronics electrical electric system systems solution solutions
communication communications comm comms telecom telecommunication telecommunications group grp
holding holdings international intl industrial industries industry manufacturing
the of and for trading trade import export enterprise enterprises service services software
intelligent intelligence smart security vision video products product equipment device devices
global worldwide development research institute engineering factory works company's
jishu keji shuzi xinxi wangluo dianzi tongxun tongxin zhineng ruanjian xitong jituan
public peoples republic
""".split())
# Pinyin generic words: 技术, 科技, 数字, 信息, 网络, 电子, 通讯, 通信, 智能, 软件, 系统, 集团.

# Administrative words weigh like generic words: in an agency's name they say what kind of
# office it is, and the place says which one (`Urumqi Municipal Public Security Bureau`).  They
# still tell offices of one place apart (its government is not its police), so a name holding
# one has no key of its distinctive words alone.
ADMIN_WORDS = frozenset("""
government municipal municipality prefecture prefectural county district region regional
autonomous province provincial city bureau department ministry administration police college
academy
""".split())
GENERIC_WORDS = GENERIC_WORDS | ADMIN_WORDS

LOCATIONS = frozenset("""
china chinese prc hong kong hk macau macao taiwan usa us america
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


def _load_places() -> dict[str, str]:
    """Every spelling of a place in `places.yaml` -> its canonical spelling."""
    doc = yaml.safe_load((resources.files("entityscan.matcher") / "places.yaml")
                         .read_text(encoding="utf-8"))
    spellings: dict[str, str] = {}
    for row in doc["places"]:
        for spelling in (row["canonical"], *row["spellings"]):
            spellings[spelling] = row["canonical"]
    return spellings


PLACE_SPELLINGS = _load_places()
LOCATIONS = LOCATIONS | frozenset(PLACE_SPELLINGS.values())

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


@dataclass(slots=True, eq=False)
class Name:
    """A normalised name: weighted tokens plus the keys used for exact lookups.  Treated as
    immutable; not frozen only because a frozen dataclass is slow to build, and every unique
    value on a line builds one."""

    raw: str
    tokens: tuple[Token, ...]
    # (level, squashed key): 0 all tokens, 1 without places, 2 distinctive tokens only.
    levels: tuple[tuple[int, str], ...]
    # Letters of another script read as Latin lookalikes to make the tokens (`а` in `Dаhuа`).
    lookalikes: str = ""
    # The distinctive tokens' texts, in order (worked out once: every route asks).
    distinct: tuple[str, ...] = ()

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


_SINGULAR = {**{word + "s": word for word in GENERIC_WORDS},
             **{word[:-1] + "ies": word for word in GENERIC_WORDS if word.endswith("y")}}


def _singular(token: str) -> str:
    """`technologies` -> `technology`, `systems` -> `system`: only for generic words."""
    return _SINGULAR.get(token, token)


@lru_cache(maxsize=262_144)
def _token(piece: str) -> Token:
    """One shared token per word: its place spelling, singular and weight decided once."""
    piece = _singular(PLACE_SPELLINGS.get(piece, piece))
    return Token(piece, _weight(piece))


def _weight(token: str) -> float:
    if token in LOCATIONS or token in _CJK_PLACES:
        return WEIGHT_LOCATION
    if token in GENERIC_WORDS or token in _CJK_GENERIC:
        return WEIGHT_GENERIC
    return WEIGHT_DISTINCT


def fold(text: str) -> str:
    """Unicode clean-up, NFKC, case-folded, apostrophes and dots inside abbreviations removed."""
    text = unicodedata.normalize("NFKC", clean(text)).casefold()
    text = text.replace("&", " and ").replace("'", "").replace("’", "")
    # `U.S.A.` -> `usa`, `S.p.A.` -> `spa`: join single letters separated by dots.
    return _ABBREVIATION.sub(lambda m: m.group(0).replace(".", ""), text) if "." in text else text


_ABBREVIATION = re.compile(r"\b(?:\w\.){2,}")


_PAREN_ACRONYM = re.compile(r"\(\s*([^\W\d_]{2,10})\s*\)")
_ACRONYM_SKIP = frozenset({"of", "and", "the", "for", "s", "de"})


def defined_acronyms(text: str) -> list[tuple[re.Match[str], int]]:
    """Parenthetical acronyms that spell the initials of the words just before them, with how
    many of those words they stand for: `Xinjiang Production and Construction Corps (XPCC)`.

    A legal form or two may sit between the words and the acronym (`… Technology Co., Ltd.
    (GAETC)`), and linking words (`of`, `and`) have no letter.
    """
    found: list[tuple[re.Match[str], int]] = []
    for match in _PAREN_ACRONYM.finditer(text):
        acronym = match.group(1).casefold()
        before = [w for w in re.findall(r"[^\W_]+", text[:match.start()].casefold())
                  if w not in _ACRONYM_SKIP]
        for trailing in range(3):
            words = before[:len(before) - trailing] if trailing else before
            if len(words) >= len(acronym) and \
                    "".join(w[0] for w in words[-len(acronym):]) == acronym:
                found.append((match, len(acronym)))
                break
    return found


def _without_defined_acronyms(text: str) -> str:
    if "(" not in text:
        return text
    for match, _ in reversed(defined_acronyms(text)):
        text = text[:match.start()] + " " + text[match.end():]
    return text


def _normalise(text: str, read: bool) -> Name:
    tokens: list[Token] = []
    lookalikes: list[str] = []
    for raw in _TOKEN_RE.findall(fold(_without_defined_acronyms(text))):
        if raw.isascii():
            if raw not in LEGAL_FORMS:
                tokens.append(_token(raw))
            continue
        if read:
            raw, letters = read_word(raw)
            lookalikes.append(letters)
        for piece in _clean_cjk(raw) if _HAS_CJK.match(raw) else [raw]:
            if piece not in LEGAL_FORMS:
                tokens.append(_token(piece))
    distinct = tuple(t.text for t in tokens if t.weight >= WEIGHT_DISTINCT)
    return Name(text, tuple(tokens), _levels(tokens), "".join(lookalikes), distinct)


@lru_cache(maxsize=65_536)
def normalise(text: str) -> Name:
    """Normalise a company, brand or maker name (lookalike letters read as Latin)."""
    return _normalise(text, read=True)


@lru_cache(maxsize=16_384)
def normalise_literal(text: str) -> Name:
    """`normalise` without reading lookalike letters: what the name says in its own scripts.
    A match found by `normalise` but not by this one exists only through lookalikes."""
    return _normalise(text, read=False)


def _levels(tokens: list[Token]) -> tuple[tuple[int, str], ...]:
    full = "".join(t.text for t in tokens)
    out: list[tuple[int, str]] = [(0, full)] if full else []
    core = "".join(t.text for t in tokens if t.weight >= WEIGHT_DISTINCT)
    if not core:
        # A name of places and generic words only (`Urumqi Municipal Public Security Bureau`):
        # its place is what tells it apart, so it has no key without its places.
        return tuple(out)
    no_place = "".join(t.text for t in tokens if t.weight != WEIGHT_LOCATION)
    if no_place and no_place != full:
        out.append((1, no_place))
    if core not in (full, no_place) and not any(t.text in ADMIN_WORDS for t in tokens):
        out.append((2, core))
    return tuple(out)


def words(text: str, *, read: bool = True) -> list[str]:
    """Plain folded tokens of free text (descriptions), legal forms included."""
    out: list[str] = []
    for raw in _TOKEN_RE.findall(fold(text)):
        if read and not raw.isascii():
            raw = read_word(raw)[0]
        out.extend(_clean_cjk(raw) if _HAS_CJK.match(raw) else [raw])
    return out
