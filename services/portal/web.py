"""Rendering: Jinja2 templates in Chinese, times in Asia/Shanghai, and the
labels every page shares."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from shared.web.caching import body_etag, conditional_body

SHANGHAI = ZoneInfo("Asia/Shanghai")
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

ROUND_LABELS = {"main": "差额票决", "runoff": "决胜投票（得票相同者）", "supplementary": "另行选举（补足名额）"}
BALLOT_KIND_LABELS = {"satisfaction": "满意度测评", "resolution": "表决", "competitive_selection": "差额票决"}
ANSWER_LABELS = {"yes": "赞成", "no": "反对", "abstain": "弃权"}
STATUS_LABELS = {"draft": "未开始", "open": "正在表决", "closed": "表决结束", "published": "已宣布结果", "void": "已作废",
                 "scheduled": "尚未开始", "tallied": "已公布结果"}
POLL_STATUS_LABELS = {"scheduled": "尚未开始", "open": "投票进行中", "closed": "投票已结束", "tallied": "已公布结果"}
MILESTONE_STATUS_LABELS = {"pending": "待完成", "done": "已完成", "completed": "已完成", "waived": "免于办理"}


def _parse(value) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # the services store and send UTC
    return value


def shanghai(value, fmt: str = "%Y年%-m月%-d日 %H:%M") -> str:
    """A UTC instant shown as Beijing time (Asia/Shanghai)."""
    moment = _parse(value)
    return moment.astimezone(SHANGHAI).strftime(fmt) if moment else ""


def cn_date(value) -> str:
    if not value:
        return ""
    day = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day.year}年{day.month}月{day.day}日"


def today_in_shanghai() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


def filesize(value: int) -> str:
    return f"{value / 1024 / 1024:.1f} MB" if value >= 1024 * 1024 else f"{max(1, round(value / 1024))} KB"


templates.env.filters.update(shanghai=shanghai, cn_date=cn_date, filesize=filesize)
templates.env.globals.update(ROUND_LABELS=ROUND_LABELS, BALLOT_KIND_LABELS=BALLOT_KIND_LABELS, ANSWER_LABELS=ANSWER_LABELS,
                             STATUS_LABELS=STATUS_LABELS, POLL_STATUS_LABELS=POLL_STATUS_LABELS, MILESTONE_STATUS_LABELS=MILESTONE_STATUS_LABELS)


def page(request: Request, name: str, context: dict | None = None, *, status_code: int = 200, headers: dict | None = None) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context or {}, status_code=status_code, headers=headers)
    response.headers.setdefault("Cache-Control", "no-cache")
    return response


class RenderCache:
    """Rendered pages per key, reused while the upstream answers they were made
    from are the very same objects: an upstream copy is kept as long as its ETag
    holds (304) and replaced when it changes, so identity means "unchanged".
    Under many readers a page then costs a lookup, not a render."""

    def __init__(self, max_entries: int = 2000) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, tuple[tuple, str, bytes]] = {}

    def render(self, key: str, sources: tuple, name: str, context: dict) -> tuple[str, bytes]:
        entry = self._entries.get(key)
        if entry is not None and len(entry[0]) == len(sources) and all(a is b for a, b in zip(entry[0], sources, strict=True)):
            return entry[1], entry[2]
        body = templates.get_template(name).render(context).encode("utf-8")
        etag = body_etag(body)
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (sources, etag, body)
        return etag, body


RENDERED = RenderCache()
HTML = "text/html; charset=utf-8"


def rendered(request: Request, name: str, context: dict, *, key: str, sources: tuple, max_age: int = 0):
    """A page (or a live fragment) made only from public answers, with its ETag: 304 while nothing changed."""
    etag, body = RENDERED.render(f"{name}:{key}", sources, name, {"request": request, **context})
    return conditional_body(request, body, media_type=HTML, max_age=max_age, etag=etag)
