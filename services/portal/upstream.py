"""The three services as any integrator reads them: httpx, conditional GETs
(If-None-Match → 304 keeps the copy), a short reuse window, and one request in
flight per resource however many readers ask at once."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass
class UpstreamProblem(Exception):
    """A refusal from a service (RFC 9457 problem+json), kept whole."""

    status: int
    body: dict

    @property
    def slug(self) -> str:
        return str(self.body.get("type", "")).rsplit(":", 1)[-1]

    @property
    def chinese(self) -> str:
        """The Chinese half of an "English 中文" title, for the people reading the page."""
        title = str(self.body.get("title", ""))
        match = _CJK.search(title)
        return title[match.start():] if match else title


class UpstreamUnavailable(Exception):
    """A service did not answer (down, or timed out)."""


@dataclass
class _Copy:
    etag: str | None
    data: Any
    fresh_until: float


class Upstream:
    def __init__(self, name: str, base_url: str, *, timeout: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = name
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport,
                                        headers={"User-Agent": "pingyi-portal"})
        self._copies: dict[str, _Copy] = {}
        self._inflight: dict[str, asyncio.Future] = {}

    async def close(self) -> None:
        await self.client.aclose()

    async def get(self, path: str, *, params: dict | None = None, ttl: float = 0.0) -> Any:
        """The JSON at `path`; reused `ttl` seconds, then revalidated with its ETag."""
        key = path + ("?" + str(sorted(params.items())) if params else "")
        copy = self._copies.get(key)
        if copy is not None and copy.fresh_until > time.monotonic():
            return copy.data
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        pending = self._inflight[key] = asyncio.get_running_loop().create_future()
        try:
            data = await self._fetch(key, path, params, copy, ttl)
            pending.set_result(data)
            return data
        except BaseException as exc:
            pending.set_exception(exc)
            pending.exception()  # retrieved: waiting readers re-raise it
            raise
        finally:
            self._inflight.pop(key, None)

    async def _fetch(self, key: str, path: str, params: dict | None, copy: _Copy | None, ttl: float) -> Any:
        headers = {"If-None-Match": copy.etag} if copy is not None and copy.etag else {}
        try:
            response = await self.client.get(path, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"{self.name}: {exc}") from exc
        if response.status_code == 304 and copy is not None:
            copy.fresh_until = time.monotonic() + ttl
            return copy.data
        data = self._json_or_problem(response)
        if len(self._copies) > 5000:
            self._copies.clear()
        self._copies[key] = _Copy(response.headers.get("etag"), data, time.monotonic() + ttl)
        return data

    async def send(self, method: str, path: str, *, json: Any = None, headers: dict | None = None) -> Any:
        """An uncached request (a member's read or vote, a public voter's step)."""
        try:
            response = await self.client.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"{self.name}: {exc}") from exc
        return self._json_or_problem(response)

    async def stream(self, path: str) -> httpx.Response:
        """A download, streamed through (attachments)."""
        try:
            request = self.client.build_request("GET", path)
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"{self.name}: {exc}") from exc
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            self._json_or_problem(response)
        return response

    @staticmethod
    def _json_or_problem(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"title": f"HTTP {response.status_code}", "status": response.status_code}
            if not isinstance(body, dict):
                body = {"title": str(body), "status": response.status_code}
            raise UpstreamProblem(response.status_code, body)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()


class Upstreams:
    """voting, scoring and tracking, each one client."""

    def __init__(self, settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.voting = Upstream("voting", settings.voting_url, timeout=settings.upstream_timeout, transport=transport)
        self.scoring = Upstream("scoring", settings.scoring_url, timeout=settings.upstream_timeout, transport=transport)
        self.tracking = Upstream("tracking", settings.tracking_url, timeout=settings.upstream_timeout, transport=transport)

    def __iter__(self):
        return iter((self.voting, self.scoring, self.tracking))

    async def close(self) -> None:
        for upstream in self:
            await upstream.close()


def forwarded_for(request) -> dict[str, str]:
    """The citizen's own address for the services' per-address limits (public vote):
    the services believe X-Forwarded-For only from the proxies in <SERVICE>_TRUSTED_PROXIES
    (compose names the portal there; the embedded default trusts nobody)."""
    client = request.client.host if request.client else None
    chain = request.headers.get("x-forwarded-for")
    value = ", ".join(v for v in (chain, client) if v)
    return {"X-Forwarded-For": value} if value else {}
