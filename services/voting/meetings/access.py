"""Who may do what in voting.

- `voting:read` (any key with a voting scope, the `read` scope, and every
  member token): every non-public GET. A member token (a clerk's too) reads
  its own meeting only: the meeting, its agenda, its ballots and their
  receipt checks; another meeting's is 403 `other-meeting`, the meetings list
  holds its own meeting only, and slates (not a meeting's) are 403
  `member-token-not-allowed`. A receipt check tells only whether a receipt
  code was counted; the code itself is the voter's secret.
- `voting:admin`: the clerk's system (an API key): meetings and rosters, agenda
  items, ballots, nomination polls, publish, void and re-run, member tokens.
- `voting:run`: running a sitting: check-in and check-out, 列席, open and close,
  show of hands. A clerk's member token holds it for its own meeting only
  (another meeting: 403 `other-meeting`); an admin key holds it everywhere.
- `voting:cast`: casting one's own vote, with a member token only. The token is
  bound to one member and one meeting: casting as another member is 403
  `not-your-vote`, on another meeting's ballot 403 `other-meeting`. An API key,
  even with `voting:admin`, never casts on a member's behalf: 403
  `member-token-required`.

Every check runs before anything is written.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shared.security.credentials import Principal
from shared.web.problems import Problem
from shared.security.access import require, require_member

Reader = Annotated[Principal, Depends(require("voting:read"))]


def refuse_member_token(principal: Principal) -> None:
    """What is no meeting's (slates) is read with an API key only."""
    if principal.kind == "member":
        raise Problem(403, "member-token-not-allowed", "Forbidden 委员令牌仅限本次会议",
                      "a member token reads its own meeting only; this needs an API key with voting:read")
Admin = Annotated[Principal, Depends(require("voting:admin"))]
Runner = Annotated[Principal, Depends(require("voting:run"))]
Caster = Annotated[Principal, Depends(require("voting:cast"))]

def require_own_token(principal: Principal, member_id: str, meeting_id: str | None = None) -> None:
    """Only the member, with their own token (for this meeting, once known), casts their vote."""
    if principal.kind != "member":
        raise Problem(403, "member-token-required", "Forbidden 须由委员本人投票",
                      "a vote is cast by the member with their own member token; an API key cannot cast for a member")
    require_member(principal, member_id, meeting_id)
