"""Text that PostgreSQL can store and a person can read: refused at the edge otherwise."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from passage.text import MultiLine, SingleLine


class Form(BaseModel):
    name: SingleLine
    note: MultiLine = ""


@pytest.mark.parametrize(
    "bad", ["a\x00b", "tab\there", "line\nbreak", "bell\x07", "del\x7f", "half \udc80 pair"]
)
def test_a_single_line_refuses_control_characters_and_broken_unicode(bad: str) -> None:
    with pytest.raises(ValidationError):
        Form(name=bad)


def test_a_single_line_is_trimmed_and_keeps_any_script() -> None:
    assert Form(name="  عائشة  ").name == "عائشة"
    assert Form(name="Ngozi Ọlá").name == "Ngozi Ọlá"


def test_a_note_keeps_its_lines_and_tabs_but_not_nul() -> None:
    assert Form(name="x", note="first\n\tsecond\r\n").note == "first\n\tsecond\r\n"
    with pytest.raises(ValidationError):
        Form(name="x", note="a\x00b")


def test_a_single_line_of_only_spaces_is_blank_not_empty() -> None:
    """Trimming runs after `min_length`: without this, "   " would pass it and store ""."""
    with pytest.raises(ValidationError, match="must not be blank"):
        Form(name="   ")
    assert Form(name="").name == ""  # empty stays what the field's own length rule says
