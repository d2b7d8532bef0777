"""Message templates: one per notice type, channel and language, checked when they are loaded.

The templates live in `templates/<language>.toml`: a table per notice type, with `in_app`,
`email_subject`, `email_body` and `sms` strings (Jinja2). The HTML email wraps the body in
`templates/email.html.j2` (autoescaped; `dir="rtl"` for right-to-left languages).

A message body never holds personal data: a template may only use the variables in
`ALLOWED_VARIABLES` (references, dates, codes and links), and a template that names anything else
is refused when the catalogue loads, so it can never reach a phone or an inbox.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment

TEMPLATE_DIR = Path(__file__).parent / "templates"
FALLBACK_LANGUAGE = "en"
REQUIRED_LANGUAGES = ("en", "fr", "ar")
RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur", "ps", "ckb"})
CHANNEL_KEYS = {"in_app": ("in_app",), "email": ("email_subject", "email_body"), "sms": ("sms",)}

# Variables a message may show: references, codes, dates and links. No names, no reasons, no
# contact details, no free text: anything else is refused at load.
ALLOWED_VARIABLES = frozenset(
    {
        "reference",  # a short reference of the record (first characters of its id)
        "link",  # where to read the details, through the gateway (where consent applies)
        "status",
        "due_on",
        "due_at",
        "sla_hours",
        "kind",
        "document_kind",
        "expires_on",
        "days_before",
        "event_type",
        "failures",
        "centre",  # the agency's public label, e.g. "the Centre"
    }
)

_MONTHS = {
    "en": ("January February March April May June July August September October November December"),
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "ar": "يناير فبراير مارس أبريل مايو يونيو يوليو أغسطس سبتمبر أكتوبر نوفمبر ديسمبر",
}


class TemplateRefused(ValueError):
    """A template is missing, malformed, or could carry personal data."""


def language_of(tag: str | None) -> str:
    """The primary subtag of a BCP 47 tag, lower-cased: "fr-CA" -> "fr"."""
    return (tag or FALLBACK_LANGUAGE).split("-", 1)[0].split("_", 1)[0].lower() or FALLBACK_LANGUAGE


def _date_filter(language: str) -> Any:
    months = _MONTHS.get(language, _MONTHS[FALLBACK_LANGUAGE]).split()

    def long_date(value: date | datetime | str) -> str:
        if isinstance(value, str):
            value = date.fromisoformat(value[:10])
        return f"{value.day} {months[value.month - 1]} {value.year}"

    return long_date


@dataclass(frozen=True)
class Rendered:
    language: str
    title: str = ""
    subject: str = ""
    text: str = ""
    html: str = ""


class TemplateCatalogue:
    def __init__(
        self, directory: Path = TEMPLATE_DIR, *, required_languages: tuple[str, ...] = REQUIRED_LANGUAGES
    ) -> None:
        self._envs: dict[str, SandboxedEnvironment] = {}
        self._html_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)
        self._sources: dict[str, dict[str, dict[str, str]]] = {}
        self._compiled: dict[tuple[str, str, str], Any] = {}
        self._load(directory, required_languages)

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(self._sources)

    def notice_types(self, language: str = FALLBACK_LANGUAGE) -> frozenset[str]:
        return frozenset(self._sources.get(language, {}))

    def _load(self, directory: Path, required: tuple[str, ...]) -> None:
        files = sorted(directory.glob("*.toml"))
        for path in files:
            language = path.stem
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise TemplateRefused(f"{path.name}: not valid TOML: {exc}") from None
            notices: dict[str, dict[str, str]] = {}
            env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
            env.filters["long_date"] = _date_filter(language)
            self._envs[language] = env
            for notice, keys in data.items():
                if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
                    raise TemplateRefused(f"{path.name} [{notice}]: every template must be a string")
                for key, source in keys.items():
                    if key not in {k for ks in CHANNEL_KEYS.values() for k in ks}:
                        raise TemplateRefused(f"{path.name} [{notice}].{key}: unknown template key")
                    self._compiled[(language, notice, key)] = self._check(env, path.name, notice, key, source)
                notices[notice] = keys
            self._sources[language] = notices
        if FALLBACK_LANGUAGE not in self._sources:
            raise TemplateRefused(f"the fallback language {FALLBACK_LANGUAGE!r} has no templates")
        html = directory / "email.html.j2"
        if not html.exists():
            raise TemplateRefused("email.html.j2 (the HTML email layout) is missing")
        self._layout = self._html_env.from_string(html.read_text(encoding="utf-8"))
        fallback = self._sources[FALLBACK_LANGUAGE]
        for language in required:
            have = self._sources.get(language)
            if have is None:
                raise TemplateRefused(f"no templates for the required language {language!r}")
            for notice, keys in fallback.items():
                missing = set(keys) - set(have.get(notice, {}))
                if missing:
                    raise TemplateRefused(f"{language}.toml [{notice}] lacks {', '.join(sorted(missing))}")

    def _check(self, env: SandboxedEnvironment, file: str, notice: str, key: str, source: str) -> Any:
        try:
            parsed = env.parse(source)
        except TemplateSyntaxError as exc:
            raise TemplateRefused(f"{file} [{notice}].{key}: {exc.message}") from None
        names = meta.find_undeclared_variables(parsed)
        refused = sorted(names - ALLOWED_VARIABLES)
        if refused:
            raise TemplateRefused(
                f"{file} [{notice}].{key} uses {', '.join(refused)}: a message may only show "
                f"references, codes, dates and links ({', '.join(sorted(ALLOWED_VARIABLES))})"
            )
        try:
            return env.from_string(source)
        except TemplateError as exc:
            raise TemplateRefused(f"{file} [{notice}].{key}: {exc.message}") from None

    def has(self, notice: str, channel: str) -> bool:
        keys = self._sources[FALLBACK_LANGUAGE].get(notice, {})
        return all(k in keys for k in CHANNEL_KEYS[channel])

    def resolve_language(self, notice: str, channel: str, wanted: str | None) -> str:
        language = language_of(wanted)
        keys = self._sources.get(language, {}).get(notice, {})
        if all(k in keys for k in CHANNEL_KEYS[channel]):
            return language
        return FALLBACK_LANGUAGE

    def render(self, notice: str, channel: str, language: str | None, context: Mapping[str, Any]) -> Rendered:
        if not self.has(notice, channel):
            raise TemplateRefused(f"no {channel} template for {notice}")
        lang = self.resolve_language(notice, channel, language)
        values = {k: v for k, v in context.items() if k in ALLOWED_VARIABLES}

        def run(key: str) -> str:
            template = self._compiled[(lang, notice, key)]
            return str(template.render(values)).strip()

        if channel == "in_app":
            return Rendered(lang, title=run("in_app"))
        if channel == "sms":
            return Rendered(lang, text=run("sms"))
        subject, body = run("email_subject"), run("email_body")
        html = self._layout.render(
            lang=lang,
            dir="rtl" if lang in RTL_LANGUAGES else "ltr",
            subject=subject,
            paragraphs=[p for p in body.split("\n\n") if p.strip()],
            link=values.get("link"),
        )
        return Rendered(lang, subject=subject, text=body, html=html)
