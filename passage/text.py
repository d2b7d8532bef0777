"""Text fields that PostgreSQL can store and people can read.

JSON lets a caller send a NUL byte or half a surrogate pair; PostgreSQL refuses both, and other
control characters in a name only hide things from the person reading it. Refuse them at the
edge with a 422 that names the field.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f]")


def _storable(value: str, pattern: re.Pattern[str]) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it contains an unpaired surrogate)") from None
    if pattern.search(value):
        raise ValueError("must not contain control characters")
    return value


def _single_line(value: str) -> str:
    trimmed = _storable(value, _CONTROL_OR_NEWLINE).strip()
    if value and not trimmed:
        # Trimmed after the length checks ran: "   " would pass `min_length=1` and store "".
        raise ValueError("must not be blank")
    return trimmed


def _multi_line(value: str) -> str:
    return _storable(value, _CONTROL)


# A name, a code, a label: one line, trimmed.
SingleLine = Annotated[str, AfterValidator(_single_line)]
# A note or a reason: newlines and tabs allowed.
MultiLine = Annotated[str, AfterValidator(_multi_line)]
