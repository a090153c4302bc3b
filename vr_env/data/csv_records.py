"""A CSV reader that turns every fault into a per-row problem instead of an exception or a silent loss.

Python's ``csv`` module raises ``_csv.Error`` for a field over its (process-wide) size limit, and an
unterminated quote makes it swallow every following line into one field. This reader splits the
text into records itself (the same rules as ``csv`` with its default dialect: a field that starts
with ``"`` runs to the next lone ``"``, ``""`` is a literal quote, text after the closing quote is
kept) and reports instead:

- a field over :data:`FIELD_LIMIT` characters: that row is a problem, the others are read;
- an unterminated quote: that row is a problem and reading resumes on the next line, so the
  following rows are read rather than lost;
- a quoted field spanning lines in a row that then has the wrong number of fields: the problem
  names every line the row swallowed.

Work is linear in the file size (one regular-expression match per field).

>>> records = list(split_records('a,b\\n1,"x ""y"" z"\\n2,"open\\n3,z\\n', ","))
>>> [(r.line, r.fields, r.error) for r in records]  # doctest: +NORMALIZE_WHITESPACE
[(1, ['a', 'b'], None), (2, ['1', 'x "y" z'], None),
 (3, None, 'unterminated quote: the quoted field that starts on line 3 never closes; read on from line 4'),
 (4, ['3', 'z'], None)]
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

#: Longest field accepted (the ``csv`` module's default limit).
FIELD_LIMIT = 131072

_QUOTED = re.compile(r'"([^"]*(?:""[^"]*)*)"')
_NEWLINE = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class CsvRecord:
    """One record: its first physical ``line``, its last ``end_line``, its ``fields`` or an ``error``."""

    line: int
    end_line: int
    fields: list[str] | None
    error: str | None = None


def split_records(text: str, delimiter: str = ",") -> Iterator[CsvRecord]:
    """The records of ``text`` in order; blank lines are skipped, as ``csv.reader`` does."""
    plain = re.compile(f"[^{re.escape(delimiter)}\r\n]*")
    pos, line, size = 0, 1, len(text)
    while pos < size:
        start_line, start_pos = line, pos
        fields: list[str] = []
        error: str | None = None
        while True:
            if text.startswith('"', pos):
                match = _QUOTED.match(text, pos)
                if match is None:
                    error = (
                        f"unterminated quote: the quoted field that starts on line {line} never closes; "
                        f"read on from line {start_line + 1}"
                    )
                    break
                value = match.group(1).replace('""', '"')
                line += len(_NEWLINE.findall(match.group(1)))
                tail = plain.match(text, match.end())
                assert tail is not None  # the pattern matches the empty string
                value += tail.group()
                pos = tail.end()
            else:
                match = plain.match(text, pos)
                assert match is not None
                value, pos = match.group(), match.end()
            fields.append(value)
            if pos < size and text[pos] == delimiter:
                pos += 1
                continue
            break
        if error is not None:  # skip to the line after the record's first line and carry on
            newline = _NEWLINE.search(text, start_pos)
            pos = newline.end() if newline else size
            line = start_line + 1
            yield CsvRecord(start_line, start_line, None, error)
            continue
        blank = pos == start_pos
        newline = _NEWLINE.match(text, pos)
        if newline is not None:
            pos = newline.end()
        end_line = line
        line += 1
        if blank:
            continue
        too_long = [i for i, f in enumerate(fields, start=1) if len(f) > FIELD_LIMIT]
        if too_long:
            detail = ", ".join(f"field {i} has {len(fields[i - 1])} characters" for i in too_long[:3])
            yield CsvRecord(start_line, end_line, None, f"{detail}; the limit is {FIELD_LIMIT}")
            continue
        yield CsvRecord(start_line, end_line, fields)


def swallowed_lines(record: CsvRecord) -> str:
    """For a row spanning several lines: which lines a quote swallowed (empty for a one-line row)."""
    if record.end_line <= record.line:
        return ""
    lost = (
        f"line {record.end_line} was"
        if record.end_line == record.line + 1
        else (f"lines {record.line + 1}-{record.end_line} were")
    )
    return (
        f"; a quoted field runs from line {record.line} to line {record.end_line}, "
        f"so {lost} read as part of this row (an unbalanced quote?)"
    )
