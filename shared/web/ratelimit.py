"""Rate limits on the public vote and public reads (and per credential), with
the `limits` library's moving window: 429 with Retry-After and X-RateLimit-*.

Storage is in memory per process by default; point RATE_LIMIT_STORAGE_URI at
Redis (`redis://host:6379`) to share the counts between replicas (the `limits`
library's moving window). Limits a service declares shared (the public vote's
and verification's, per address) must hold across replicas and workers: without
Redis they are counted in the service's database (`DatabaseFixedWindow`, one
upsert per hit, fixed windows). In memory we count ourselves: `limits`' memory
storage starts a thread every 10 ms that walks every key it has ever seen and
never forgets one, which on a public vote (one key per voter) grows for the
whole poll and cost about 0.45 ms per vote (docs/benchmarks-voting.md).

    @router.get(..., dependencies=[Depends(rate_limit("public_read"))])

or, keyed by something only the endpoint knows (a voter's identity hash):

    enforce(request, response, "public_vote_identity", identity_hash)
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from fastapi import Request, Response
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import BigInteger, Integer, String, delete, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from shared.web.forwarded import client_host, scope_headers
from shared.web.group_commit import GroupCommitWriter, Refusals
from shared.web.problems import Problem

log = structlog.get_logger(__name__)

LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until a slot frees

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_after)
        return headers


class LocalMovingWindow:
    """A moving window per key in this process: the times of the hits still in
    the window, dropped as they age; keys with nothing left are swept now and then."""

    SWEEP_EVERY = 10_000  # hits

    def __init__(self) -> None:
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self._since_sweep = 0

    def hit(self, item: RateLimitItem, name: str, key: str) -> Verdict:
        window = item.get_expiry()
        now = time.monotonic()
        with self._lock:
            hits = self._hits.get((name, key))
            if hits is None:
                hits = self._hits[(name, key)] = deque()
            while hits and hits[0] <= now - window:
                hits.popleft()
            allowed = len(hits) < item.amount
            if allowed:
                hits.append(now)
            reset_after = max(1, math.ceil(hits[0] + window - now)) if hits else window
            verdict = Verdict(allowed, item.amount, item.amount - len(hits), reset_after)
            self._since_sweep += 1
            if self._since_sweep >= self.SWEEP_EVERY:
                self._sweep(now)
        return verdict

    def _sweep(self, now: float) -> None:
        self._since_sweep = 0
        longest = 24 * 3600.0  # no limit here spans more than a day
        self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - longest}

    def __len__(self) -> int:
        return len(self._hits)

    def keys(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._hits)


class RateLimitCounterMixin:
    """Hits per (limit, key, fixed window), for limits shared through the database."""

    __tablename__ = "rate_limit_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), index=True)
    hits: Mapped[int] = mapped_column(Integer)


@dataclass
class _CounterHit:
    name: str
    key: str
    window_start: int
    expires_at: int
    hits: int = 0  # the window's count including this hit, filled in by its batch


def _counter_unavailable() -> Problem:
    return Problem(503, "service-unavailable", "Service unavailable 服务暂不可用",
                   "the request could not be counted against its rate limit; nothing was changed, retry",
                   headers={"Retry-After": "1"})


_COUNTER_REFUSALS = Refusals(not_recorded=_counter_unavailable, queue_full=lambda limit: _counter_unavailable(),
                             stopped=_counter_unavailable)


class DatabaseFixedWindow:
    """Counts in the service's database, so every replica and worker sees one count,
    in windows aligned to the clock; expired windows are deleted now and then.

    Hits from concurrent requests are written together (`shared.group_commit`): one
    transaction and one upsert per distinct counter for the whole batch, and on
    Postgres with `synchronous_commit` off for that transaction. A counter only slows
    abuse down; losing the last fraction of a second of counts in a crash is harmless,
    while waiting for a WAL flush on every hit capped the public vote at a few
    hundred votes/s (docs/benchmarks-voting.md)."""

    SWEEP_EVERY = 5_000  # hits per process

    def __init__(self, db, model: type[RateLimitCounterMixin]) -> None:
        self.db, self.model = db, model
        self._since_sweep = 0
        self._postgres = db.engine.dialect.name == "postgresql"
        self._dialect = postgresql if self._postgres else sqlite
        name = model.__table__.name
        self._pg_upsert = text(
            f"INSERT INTO {name} (name, key, window_start, expires_at, hits) "
            "SELECT * FROM unnest(CAST(:names AS varchar[]), CAST(:keys AS varchar[]), CAST(:starts AS bigint[]), "
            "CAST(:expires AS bigint[]), CAST(:hits AS integer[])) "
            f"ON CONFLICT (name, key, window_start) DO UPDATE SET hits = {name}.hits + excluded.hits "
            "RETURNING name, key, window_start, hits")
        self.writer: GroupCommitWriter[_CounterHit] = GroupCommitWriter(
            db.sessionmaker, self._write, _COUNTER_REFUSALS, name="rate-limit-counter", max_batch=2_000,
            max_queue=50_000)

    def _write(self, session, hits: list[_CounterHit]) -> list[None]:
        if self._postgres:
            session.execute(text("SET LOCAL synchronous_commit TO off"))
        counters: dict[tuple[str, str, int], list[_CounterHit]] = {}
        for hit in hits:
            counters.setdefault((hit.name, hit.key, hit.window_start), []).append(hit)
        if self._postgres:
            # Fixed text over arrays: prepared once per connection, where a multi-row VALUES
            # of a new length each batch was compiled again by SQLAlchemy every time.
            rows = session.execute(self._pg_upsert, {
                "names": [c[0] for c in counters], "keys": [c[1] for c in counters],
                "starts": [c[2] for c in counters], "expires": [g[0].expires_at for g in counters.values()],
                "hits": [len(g) for g in counters.values()]})
        else:
            rows = session.execute(self._sqlite_upsert(counters))
        for name, key, start, total in rows:
            group = counters[(name, key, start)]
            for position, hit in enumerate(group):  # in arrival order: the last one brought the total
                hit.hits = total - len(group) + 1 + position
        self._since_sweep += len(hits)
        if self._since_sweep >= self.SWEEP_EVERY:
            self._since_sweep = 0
            session.execute(delete(self.model).where(self.model.expires_at < int(time.time())))
        return [None] * len(hits)

    def _sqlite_upsert(self, counters: dict[tuple[str, str, int], list[_CounterHit]]):
        table = self.model.__table__
        stmt = self._dialect.insert(table).values([
            {"name": name, "key": key, "window_start": start, "expires_at": group[0].expires_at, "hits": len(group)}
            for (name, key, start), group in counters.items()])
        stmt = stmt.on_conflict_do_update(index_elements=[table.c.name, table.c.key, table.c.window_start],
                                          set_={"hits": table.c.hits + stmt.excluded.hits})
        return stmt.returning(table.c.name, table.c.key, table.c.window_start, table.c.hits)

    def _hit(self, item: RateLimitItem, name: str, key: str) -> tuple[_CounterHit, int, float]:
        window = item.get_expiry()
        now = time.time()
        start = int(now // window * window)
        return _CounterHit(name, key[:128], start, start + window), window, now

    @staticmethod
    def _verdict(item: RateLimitItem, hit: _CounterHit, window: int, now: float) -> Verdict:
        reset_after = max(1, math.ceil(hit.window_start + window - now))
        return Verdict(hit.hits <= item.amount, item.amount, max(0, item.amount - hit.hits), reset_after)

    def hit(self, item: RateLimitItem, name: str, key: str) -> Verdict:
        counted, window, now = self._hit(item, name, key)
        return self._verdict(item, self.writer.submit(counted).result(), window, now)

    async def hit_async(self, item: RateLimitItem, name: str, key: str) -> Verdict:
        counted, window, now = self._hit(item, name, key)
        return self._verdict(item, await self.writer.submit_async(counted), window, now)


class RateLimiter:
    """Named limits ("public_read" → "600/minute"), each counted per key.

    `shared`: names that must hold across processes; with memory:// storage they are
    counted in `db` (`counter_model`'s table) rather than in this process."""

    def __init__(self, storage_uri: str, limits: dict[str, str], *, shared: frozenset[str] = frozenset(),
                 db=None, counter_model: type[RateLimitCounterMixin] | None = None) -> None:
        self.local = LocalMovingWindow() if storage_uri.startswith("memory://") else None
        self.strategy = None if self.local else MovingWindowRateLimiter(storage_from_string(storage_uri))
        self.limits: dict[str, RateLimitItem] = {name: parse(spec) for name, spec in limits.items()}
        self.in_database = frozenset(shared) if self.local is not None and shared else frozenset()
        if self.in_database and (db is None or counter_model is None):
            raise ValueError("limits shared through the database need the database and its counter table")
        self.database = DatabaseFixedWindow(db, counter_model) if self.in_database else None

    async def hit_async(self, name: str, key: str) -> Verdict:
        """`hit` from the event loop: a database count waits on its batch, not in a thread."""
        if name in self.in_database:
            return await self.database.hit_async(self.limits[name], name, key)
        if self.local is not None:
            return self.local.hit(self.limits[name], name, key)
        return await asyncio.to_thread(self.hit, name, key)

    def hit(self, name: str, key: str) -> Verdict:
        item = self.limits[name]
        if name in self.in_database:
            return self.database.hit(item, name, key)
        if self.local is not None:
            return self.local.hit(item, name, key)
        try:
            allowed = self.strategy.hit(item, name, key)
            stats = self.strategy.get_window_stats(item, name, key)
        except Exception as exc:
            # Shared storage down: serve uncounted rather than refuse everyone.
            log.warning("rate_limit_storage_unavailable", limit=name, error=repr(exc))
            return Verdict(True, item.amount, item.amount, item.get_expiry())
        reset_after = max(1, math.ceil(stats.reset_time - time.time()))
        return Verdict(allowed, item.amount, max(0, stats.remaining), reset_after)


def client_address(request: Request) -> str:
    """The client's address; forwarding headers believed only from `<SERVICE>_TRUSTED_PROXIES`."""
    return scope_client_address(request.scope)


def scope_client_address(scope) -> str:
    client = scope.get("client")
    settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
    trusted = settings.trusted_proxy_networks if settings is not None else ()
    return client_host(client[0] if client else None, scope_headers(scope) if trusted else {}, trusted)


def too_many_requests(name: str, verdict: Verdict) -> Problem:
    return Problem(429, "rate-limited", "Too many requests 请求过于频繁",
                   f"the {name.replace('_', ' ')} limit of {verdict.limit} is used up; retry in {verdict.reset_after} s",
                   headers=verdict.headers(), limit=name, retry_after=verdict.reset_after)


def enforce(request: Request, response: Response | None, name: str, key: str) -> Verdict:
    """Count one request against `name` for `key`; 429 when over, else set the headers."""
    return _enforced(request, response, name, request.app.state.rate_limiter.hit(name, key))


async def enforce_async(request: Request, response: Response | None, name: str, key: str) -> Verdict:
    """`enforce` from the event loop (the public vote's hot path)."""
    return _enforced(request, response, name, await request.app.state.rate_limiter.hit_async(name, key))


def _enforced(request: Request, response: Response | None, name: str, verdict: Verdict) -> Verdict:
    if not verdict.allowed:
        raise too_many_requests(name, verdict)
    if response is not None:
        response.headers.update(verdict.headers())
    # For endpoints that build their own Response (conditional GETs), which
    # FastAPI's injected `response` headers do not reach.
    request.state.rate_limit_headers = verdict.headers()
    return verdict


def rate_limit(name: str, key: Callable[[Request], str] = client_address) -> Callable[[Request, Response], None]:
    """A dependency counting each request against `name`, keyed by the client's address by default."""

    def dependency(request: Request, response: Response) -> None:
        enforce(request, response, name, key(request))

    dependency.__name__ = f"rate_limit_{name}"
    return dependency
