"""Printable documents in Chinese: Jinja2 HTML, and PDF by WeasyPrint (Pango lays
out the text with the distribution's CJK font, fonts-noto-cjk; `make tools`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

SHARED_TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment(template_dir: str) -> Environment:
    env = Environment(loader=FileSystemLoader([template_dir, str(SHARED_TEMPLATES)]),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["cn_date"] = lambda d: f"{d.year}年{d.month}月{d.day}日" if d else ""
    return env


def render_html(template_dir: Path, name: str, **context: Any) -> str:
    return _environment(str(template_dir)).get_template(name).render(**context)


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported on first use: it loads Pango

    return HTML(string=html).write_pdf()
