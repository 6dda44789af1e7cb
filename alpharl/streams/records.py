"""Validating raw records into post columns, one row at a time or a whole Arrow table at once.

A replay file's records arrive either as Python mappings (a JSON object, a CSV row) or as an
Arrow table (Parquet, or a clean JSONL/CSV file read by Arrow). `coerce_row` is the single
source of truth for what a valid record is and for the message naming the field and value
when it is not; `alpharl.streams.columns` checks whole tables with vectorised operations and
sends only the rows it cannot vouch for through `coerce_row`.

Value rules (every format):

- ``id``, ``author_id``: a non-empty string, or an integer (written in decimal).
- ``text``: a string, not blank, at most `MAX_TEXT_CHARS` characters.
- ``created_at``: an ISO-8601 string (naive = UTC), epoch seconds (int or float), or a
  timestamp. In CSV, where every cell is text, a cell that parses as a number is epoch
  seconds and anything else is read as ISO-8601.
- ``lang``: a string; missing, null or empty means ``"en"`` (the `Post` default).
- counts: a non-negative integer (an integral float is accepted); missing or null is 0.
- ``platform``: a string; missing, null or empty means the stream's ``platform``.
- ``annotations`` field: an object of numbers (a JSON object, a Parquet map or struct, or in
  CSV a cell holding a JSON object); null values inside it are left out. Extra annotation
  columns hold one number each; a missing, null or empty cell leaves that key out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from alpharl.schema import MAX_TEXT_CHARS, Post, RecordError, to_utc
from alpharl.textcheck import string_problem, text_problem

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
MIN_US = (datetime.min.replace(tzinfo=UTC) - EPOCH) // _US
MAX_US = (datetime.max.replace(tzinfo=UTC) - EPOCH) // _US

COUNT_FIELDS: tuple[str, ...] = ("like_count", "reply_count", "repost_count", "quote_count")
POST_FIELD_NAMES: tuple[str, ...] = (
    "id",
    "created_at",
    "platform",
    "author_id",
    "text",
    "lang",
    *COUNT_FIELDS,
    "annotations",
)
REQUIRED_FIELDS: tuple[str, ...] = ("id", "created_at", "author_id", "text")

CoercedRow = tuple[str, int, str, str, str, str, tuple[int, int, int, int], dict[str, float]]
"""(id, created_at in epoch microseconds, platform, author_id, text, lang, counts, annotations)."""


def post_from_row(row: CoercedRow) -> Post:
    """The `Post` of a row `coerce_row` accepted."""
    ident, us, platform, author, text, lang, c, ann = row
    when = EPOCH + timedelta(microseconds=us)
    return Post(ident, when, platform, author, text, lang, c[0], c[1], c[2], c[3], ann)


@dataclass(frozen=True)
class FieldMap:
    """Where each `Post` field is read from.

    Args:
        columns: ``{Post field: file column}`` for every Post field.
        annotation_columns: Extra numeric columns kept as annotations under their own name.
        platform: Platform for records that carry none.
    """

    columns: Mapping[str, str]
    annotation_columns: tuple[str, ...]
    platform: str

    @classmethod
    def build(
        cls,
        columns: Mapping[str, str] | None,
        annotations: Sequence[str] | None,
        platform: str,
    ) -> FieldMap:
        """Check a user's mapping and fill unmapped fields with their own names.

        Raises:
            ValueError: naming an unknown Post field or a column name that is not a string.
        """
        mapping = dict(columns or {})
        for key, value in mapping.items():
            if key not in POST_FIELD_NAMES:
                raise ValueError(
                    f"columns: {key!r} is not a Post field; fields are {list(POST_FIELD_NAMES)}"
                )
            if not isinstance(value, str) or not value:
                raise ValueError(f"columns.{key}: must be a non-empty column name (got {value!r})")
        extra = tuple(annotations or ())
        for name in extra:
            if not isinstance(name, str) or not name:
                raise ValueError(f"annotations: column names must be non-empty (got {name!r})")
        if not isinstance(platform, str) or not platform:
            raise ValueError(f"platform: must be a non-empty string (got {platform!r})")
        full = {f: mapping.get(f, f) for f in POST_FIELD_NAMES}
        return cls(columns=full, annotation_columns=extra, platform=platform)

    def required_columns(self) -> dict[str, str]:
        """``{file column: what needs it}`` for the columns a tabular file must have."""
        need = {self.columns[f]: f"Post.{f}" for f in REQUIRED_FIELDS}
        need.update({c: "annotations" for c in self.annotation_columns})
        return need

    def wanted_columns(self) -> list[str]:
        """Every file column this map may read, without duplicates."""
        names = [self.columns[f] for f in POST_FIELD_NAMES] + list(self.annotation_columns)
        return list(dict.fromkeys(names))


# --------------------------------------------------------------------------- row by row


def _blank_cell(value: Any, text_cells: bool) -> bool:
    return value is None or (text_cells and isinstance(value, str) and not value.strip())


def _identifier(name: str, value: Any) -> str:
    if value is None:
        raise RecordError(name, value, "is missing")
    if isinstance(value, str):
        if not value:
            raise RecordError(name, value, "must be a non-empty string")
        return _storable(name, value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise RecordError(name, value, "must be a string or an integer")


def _text(value: Any) -> str:
    if value is None:
        raise RecordError("text", value, "is missing")
    if not isinstance(value, str):
        raise RecordError("text", value, "must be a string")
    if len(value) > MAX_TEXT_CHARS:
        raise RecordError(
            "text", value, f"is longer than {MAX_TEXT_CHARS} characters ({len(value)})"
        )
    problem = text_problem(value)
    if problem is not None:
        raise RecordError("text", value, problem)
    return value


def _storable(name: str, value: str) -> str:
    problem = string_problem(value)
    if problem is not None:
        raise RecordError(name, value, problem)
    return value


def loads_json(text: str | bytes, name: str) -> Any:
    """``json.loads`` that turns what hostile JSON raises besides a syntax error into a reason.

    Raises:
        RecordError: ``name: is nested too deeply`` (`RecursionError` in the parser), or
            ``name: has a number too long to read`` (Python refuses integers of more than
            4300 digits with a plain `ValueError`).
        json.JSONDecodeError: the text is not JSON.
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise RecordError(name, f"{len(text)} characters", "is nested too deeply") from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        raise RecordError(name, str(exc)[:60], "has a number too long to read") from None


def _epoch_seconds_us(name: str, value: int | float, raw: Any) -> int:
    if isinstance(value, int):
        us = value * 1_000_000
    else:
        scaled = value * 1e6
        if not (math.isfinite(scaled) and MIN_US <= scaled <= MAX_US):
            raise RecordError(name, raw, "is not a representable time in epoch seconds")
        us = round(scaled)
    if not MIN_US <= us <= MAX_US:
        raise RecordError(name, raw, "is not a representable time in epoch seconds")
    return us


def timestamp_us(value: Any, *, text_cells: bool = False, name: str = "created_at") -> int:
    """A timestamp value as epoch microseconds (UTC).

    Args:
        value: ISO-8601 string (naive = UTC), epoch seconds, or a datetime.
        text_cells: The value comes from a CSV cell: numeric text is epoch seconds.
        name: Field name for the error message.

    Raises:
        RecordError: naming the field and the value.
    """
    if _blank_cell(value, text_cells):
        raise RecordError(name, value, "is missing")
    if isinstance(value, datetime):
        try:
            return (to_utc(value) - EPOCH) // _US
        except OverflowError:
            raise RecordError(name, value, "is out of range") from None
    if isinstance(value, bool):
        raise RecordError(name, value, "must be an ISO-8601 string, epoch seconds or a timestamp")
    if isinstance(value, int | float):
        return _epoch_seconds_us(name, value, value)
    if isinstance(value, str):
        if text_cells:
            try:
                seconds = float(value)
            except ValueError:
                pass
            else:
                return _epoch_seconds_us(name, seconds, value)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise RecordError(name, value, "is not an ISO-8601 timestamp") from None
        try:
            return (to_utc(parsed) - EPOCH) // _US
        except OverflowError:
            raise RecordError(name, value, "is out of range") from None
    raise RecordError(name, value, "must be an ISO-8601 string, epoch seconds or a timestamp")


def _lang(value: Any) -> str:
    if value is None or value == "":
        return "en"
    if isinstance(value, str):
        return _storable("lang", value)
    raise RecordError("lang", value, "must be a string")


def _count(name: str, value: Any, text_cells: bool) -> int:
    if _blank_cell(value, text_cells):
        return 0
    n: int | None = None
    if isinstance(value, bool):
        n = None
    elif isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif text_cells and isinstance(value, str):
        try:
            n = int(value)
        except ValueError:
            n = None
    if n is None or n < 0:
        raise RecordError(name, value, "must be a non-negative integer")
    if n >= 2**63:
        raise RecordError(name, value, "is too large")
    return n


def _number(name: str, value: Any, text_cells: bool) -> float:
    x: float | None = None
    if isinstance(value, bool):
        x = None
    elif isinstance(value, int | float):
        try:
            x = float(value)
        except OverflowError:
            raise RecordError(name, value, "is too large") from None
    elif text_cells and isinstance(value, str):
        try:
            x = float(value)
        except ValueError:
            x = None
    if x is None:
        raise RecordError(name, value, "must be a number")
    if not math.isfinite(x):
        raise RecordError(name, value, "must be finite")
    return x


def _annotation_map(value: Any, text_cells: bool) -> dict[str, float]:
    if _blank_cell(value, text_cells):
        return {}
    if text_cells and isinstance(value, str):
        try:
            value = loads_json(value, "annotations")
        except json.JSONDecodeError:
            raise RecordError("annotations", value, "is not a JSON object") from None
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list) and all(
        isinstance(p, tuple | list) and len(p) == 2 for p in value
    ):
        items = [(k, v) for k, v in value]
    else:
        raise RecordError("annotations", value, "must be an object of numbers")
    out: dict[str, float] = {}
    for key, v in items:
        if v is None:
            continue
        name = _storable("annotations", key) if isinstance(key, str) else str(key)
        out[name] = _number(f"annotations.{name}", v, False)
    return out


def _platform(value: Any, default: str) -> str:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return _storable("platform", value)
    raise RecordError("platform", value, "must be a string")


def annotation_values(
    field_value: Any, extras: Sequence[tuple[str, Any]], text_cells: bool
) -> dict[str, float]:
    """A record's annotations: its ``annotations`` field plus the extra numeric columns.

    Args:
        field_value: Value of the ``annotations`` field (None when absent).
        extras: ``(column, value)`` of each extra annotation column.
        text_cells: Values are CSV text.

    Raises:
        RecordError: naming the annotation and its value.
    """
    out = _annotation_map(field_value, text_cells)
    for column, value in extras:
        if not _blank_cell(value, text_cells):
            out[column] = _number(f"annotations.{column}", value, text_cells)
    return out


def coerce_row(rec: Mapping[str, Any], fmap: FieldMap, *, text_cells: bool) -> CoercedRow:
    """Validate one raw record and convert it to post values.

    Args:
        rec: The record, ``{file column: value}``.
        fmap: Where each field is read from.
        text_cells: Every value is text (CSV): numbers are parsed from it.

    Raises:
        RecordError: naming the first bad field and its value.
    """
    col = fmap.columns

    def get(f: str) -> Any:
        return rec.get(col[f])

    text = _text(get("text"))
    created = timestamp_us(get("created_at"), text_cells=text_cells)
    ident = _identifier("id", get("id"))
    author = _identifier("author_id", get("author_id"))
    lang = _lang(get("lang"))
    c = [_count(f, get(f), text_cells) for f in COUNT_FIELDS]
    platform = _platform(get("platform"), fmap.platform)
    extras = [(name, rec.get(name)) for name in fmap.annotation_columns]
    ann = annotation_values(get("annotations"), extras, text_cells)
    return (ident, created, platform, author, text, lang, (c[0], c[1], c[2], c[3]), ann)


# --------------------------------------------------------------------------- columns


@dataclass
class RecordColumns:
    """Validated records as columns, in file order; ``positions`` says where each came from."""

    positions: np.ndarray
    created_us: np.ndarray
    ids: list[str]
    platforms: list[str]
    authors: list[str]
    texts: list[str]
    langs: list[str]
    counts: np.ndarray
    annotations: list[dict[str, float] | None]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls) -> RecordColumns:
        """No records."""
        return cls.from_rows([], [])

    @classmethod
    def from_rows(cls, rows: Sequence[CoercedRow], positions: Sequence[int]) -> RecordColumns:
        """Columns from `coerce_row` results and their source positions."""
        return cls(
            positions=np.asarray(positions, dtype=np.int64),
            created_us=np.array([r[1] for r in rows], dtype=np.int64),
            ids=[r[0] for r in rows],
            platforms=[r[2] for r in rows],
            authors=[r[3] for r in rows],
            texts=[r[4] for r in rows],
            langs=[r[5] for r in rows],
            counts=np.array([r[6] for r in rows], dtype=np.int64).reshape(len(rows), 4),
            annotations=[r[7] or None for r in rows],
        )

    @classmethod
    def concat(cls, parts: Sequence[RecordColumns]) -> RecordColumns:
        """Records of several parts, one after the other."""
        if len(parts) == 1:
            return parts[0]
        return cls(
            positions=np.concatenate([p.positions for p in parts]),
            created_us=np.concatenate([p.created_us for p in parts]),
            ids=[x for p in parts for x in p.ids],
            platforms=[x for p in parts for x in p.platforms],
            authors=[x for p in parts for x in p.authors],
            texts=[x for p in parts for x in p.texts],
            langs=[x for p in parts for x in p.langs],
            counts=np.concatenate([p.counts for p in parts]).reshape(-1, 4),
            annotations=[x for p in parts for x in p.annotations],
        )

    def take(self, index: np.ndarray) -> RecordColumns:
        """The records at ``index`` (an int array), in that order."""
        idx = index.tolist()
        return RecordColumns(
            positions=self.positions[index],
            created_us=self.created_us[index],
            ids=[self.ids[i] for i in idx],
            platforms=[self.platforms[i] for i in idx],
            authors=[self.authors[i] for i in idx],
            texts=[self.texts[i] for i in idx],
            langs=[self.langs[i] for i in idx],
            counts=self.counts[index].reshape(-1, 4),
            annotations=[self.annotations[i] for i in idx],
        )
