"""What a vote request is told when this process's group-commit writer cannot
take or write it (members' casts and public votes alike). Every one is a 503
with Retry-After: nothing was recorded, a retry is safe."""

from __future__ import annotations

from shared.web.problems import Problem

RETRY_AFTER = {"Retry-After": "1"}


def queue_full(limit: int) -> Problem:
    return Problem(503, "vote-queue-full", "Too busy 投票繁忙，请稍后重试",
                   f"{limit} votes are waiting to be written; nothing was recorded, retry shortly", headers=RETRY_AFTER)


def writer_stopped() -> Problem:
    return Problem(503, "vote-writer-stopped", "Shutting down 服务正在停止",
                   "this process is stopping and takes no more votes; nothing was recorded, retry", headers=RETRY_AFTER)
