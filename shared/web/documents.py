"""Printable documents in Chinese: Jinja2 HTML, and PDF by WeasyPrint (Pango lays
out the text with the distribution's CJK font, fonts-noto-cjk; `make tools`)."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

SHARED_TEMPLATES = Path(__file__).parent / "templates"


def cn_date(value: dt.date | str | None) -> str:
    """2021年2月26日, from a date or its ISO text (what the APIs return)."""
    if not value:
        return ""
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return f"{day.year}年{day.month}月{day.day}日"


@cache
def _environment(template_dir: str) -> Environment:
    env = Environment(loader=FileSystemLoader([template_dir, str(SHARED_TEMPLATES)]),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["cn_date"] = cn_date
    return env


def render_html(template_dir: Path, name: str, **context: Any) -> str:
    return _environment(str(template_dir)).get_template(name).render(**context)


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported on first use: it loads Pango

    return HTML(string=html).write_pdf()
