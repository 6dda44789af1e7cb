"""Checks on untrusted strings: code points that cannot be stored, and text with nothing to read.

Streams and the serving API receive strings from outside. JSON can carry a lone surrogate
(``"\\ud800"``), which Python decodes into a `str` that cannot be encoded as UTF-8: Arrow,
SQLite, PostgreSQL and the response encoder then fail far from where the string came in.
A NUL character is refused by PostgreSQL and truncates C strings. Text made only of
whitespace, control or zero-width characters (U+200B, U+FEFF, ...) passes ``str.strip``
but carries nothing an enricher can read. These functions find all three, so a record or
request is refused where it enters, naming the field.
"""

from __future__ import annotations

import re

_INVISIBLE = re.compile(
    "[\\s\x00-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]*"
)
"""Whitespace, C0/C1 controls, and the format / zero-width / variation-selector characters."""


def unencodable_at(value: str) -> int | None:
    """Index of the first code point that UTF-8 cannot encode (a lone surrogate), or None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def string_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as an identifier or label, or None when it can.

    Refused: a lone surrogate (not valid Unicode) and the NUL character.
    """
    at = unencodable_at(value)
    if at is not None:
        return f"contains a lone surrogate at index {at} (not valid Unicode)"
    nul = value.find("\x00")
    if nul >= 0:
        return f"contains a NUL character at index {nul}"
    return None


def has_visible(value: str) -> bool:
    """Whether ``value`` has a character that is not whitespace, control or zero-width."""
    return _INVISIBLE.fullmatch(value) is None


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be a post's text, or None when it can (see `string_problem`).

    Also refused: text with no visible character (only whitespace, controls, zero-width).
    """
    problem = string_problem(value)
    if problem is not None:
        return problem
    if not has_visible(value):
        return "is empty" if not value.strip() else "has no visible character (only zero-width)"
    return None


def printable_prefix(value: str, limit: int = 80) -> str:
    """At most ``limit`` characters of ``value``, lone surrogates escaped, for error messages."""
    shown = value if len(value) <= limit else value[: max(limit - 3, 0)] + "..."
    if unencodable_at(shown) is None:
        return shown
    return shown.encode("utf-8", "backslashreplace").decode("utf-8")
