"""Group commit for verification (`shared.web.group_commit`), as for the votes: code
requests and code checks wait on the process's verification writer; each batch of
both is one transaction (`service.write_verifications`) and each request is
answered only after it commits; codes for the file gateway are written right
after the commit, one append per batch (`service.send_local_codes`). A refused request (wrong code, cooldown) is
answered from the same batch: its wrong try is committed with the rest.

Why: a flow was three transactions of its own, each with its audit entry and its
WAL flush; at a few hundred flows a second that is most of the server's time.
"""

from __future__ import annotations

from services.voting.refusals import RETRY_AFTER
from services.voting.verification.service import CodeCheckIn, CodeRequestIn, send_local_codes, write_verifications
from shared.db import Database
from shared.web.group_commit import GroupCommitWriter, Refusals
from shared.web.problems import Problem


def _not_recorded() -> Problem:
    return Problem(503, "verification-not-recorded", "Not recorded 验证请求未记录，请重试",
                   "the request could not be written and nothing was counted against the phone; retry",
                   headers=RETRY_AFTER)


def _queue_full(limit: int) -> Problem:
    return Problem(503, "verification-queue-full", "Too busy 验证繁忙，请稍后重试",
                   f"{limit} verification requests are waiting to be written; nothing was counted, retry shortly",
                   headers=RETRY_AFTER)


def _stopped() -> Problem:
    return Problem(503, "verification-writer-stopped", "Shutting down 服务正在停止",
                   "this process is stopping and takes no more requests; nothing was counted, retry", headers=RETRY_AFTER)


VERIFICATION_REFUSALS = Refusals(not_recorded=_not_recorded, queue_full=_queue_full, stopped=_stopped)


class VerificationWriter(GroupCommitWriter[CodeRequestIn | CodeCheckIn]):
    def __init__(self, db: Database, *, max_batch: int, max_queue: int) -> None:
        super().__init__(db.sessionmaker, write_verifications, VERIFICATION_REFUSALS, name="verification-writer",
                         max_batch=max_batch, max_queue=max_queue, on_committed=send_local_codes)
