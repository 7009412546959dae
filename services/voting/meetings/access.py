"""Who may do what in voting.

- `read`: every non-public GET (any credential holds it).
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

from shared.auth import Principal
from shared.problems import Problem
from shared.security import require, require_member

Reader = Annotated[Principal, Depends(require("read"))]
Admin = Annotated[Principal, Depends(require("voting:admin"))]
Runner = Annotated[Principal, Depends(require("voting:run"))]
Caster = Annotated[Principal, Depends(require("voting:cast"))]

def require_own_token(principal: Principal, member_id: str, meeting_id: str | None = None) -> None:
    """Only the member, with their own token (for this meeting, once known), casts their vote."""
    if principal.kind != "member":
        raise Problem(403, "member-token-required", "Forbidden 须由委员本人投票",
                      "a vote is cast by the member with their own member token; an API key cannot cast for a member")
    require_member(principal, member_id, meeting_id)
