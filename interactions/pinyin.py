"""Pinyin keys for member names, so the counter can type "zw" or "zhangw" to find 张伟."""

from __future__ import annotations

import re

from pypinyin import Style, lazy_pinyin

# Surnames read differently from the same character in ordinary words (多音字姓氏);
# pypinyin reads characters as in words, which gives the wrong initial for these.
SURNAME_READINGS = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "仇": "qiu",
    "区": "ou",
    "查": "zha",
    "朴": "piao",
    "乐": "yue",
    "覃": "qin",
    "翟": "zhai",
    "盖": "ge",
    "缪": "miao",
    "召": "shao",
    "秘": "bi",
    "尉": "yu",
    "任": "ren",
    "华": "hua",
    "种": "chong",
    "员": "yun",
}

NOT_KEY = re.compile(r"[^a-z0-9]")


def name_keys(name: str) -> tuple[str, str]:
    """(full pinyin, initials) of a name, lower case letters and digits only."""
    name = (name or "").strip()
    if not name:
        return "", ""
    syllables = lazy_pinyin(name, style=Style.NORMAL, errors=lambda chars: [chars])
    if name[0] in SURNAME_READINGS:
        syllables[0] = SURNAME_READINGS[name[0]]
    full = NOT_KEY.sub("", "".join(syllables).lower())
    initials = "".join(part[0] for part in (NOT_KEY.sub("", s.lower()) for s in syllables) if part)
    return full[:200], initials[:50]


def query_key(query: str) -> str:
    """What a typed pinyin query is compared with: letters and digits, lower case."""
    return NOT_KEY.sub("", query.lower())


KEY_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def prefix_upper_bound(key: str) -> str | None:
    """The smallest key after every key starting with `key` ("zw" -> "zx", "az" -> "b").

    Prefix search is written as key <= column < bound rather than LIKE 'key%': under
    PostgreSQL row-level security only leakproof operators may use an index, and LIKE is
    not leakproof while < and >= are. None when no bound exists ("zz...").
    """
    chars = list(key)
    while chars:
        position = KEY_ALPHABET.find(chars.pop())
        if 0 <= position < len(KEY_ALPHABET) - 1:
            return "".join(chars) + KEY_ALPHABET[position + 1]
    return None
