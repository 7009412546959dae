from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field



class SatisfactionResultOut(BaseModel):
    id: str = Field(description="the result's id (UUID), also score.computed's computation_id")
    ballot_id: str = Field(description="voting's ballot graded")
    department: str = Field(description="the department voted on")
    evaluation_year: int = Field(description="the evaluation year")
    vote_round: int = Field(description="1, or 2 for the re-vote after 不满意")
    meeting_id: str = Field(description="voting's meeting")
    meeting_number: str = Field(description="the sitting's number, e.g. 第四十四次会议")
    meeting_date: dt.date = Field(description="the date of the sitting, YYYY-MM-DD")
    grade: str = Field(description="satisfied, basically_satisfied or unsatisfied")
    grade_label: str = Field(description="the grade in Chinese: 满意, 基本满意 or 不满意")
    counts: dict[str, int] = Field(description="votes per option (satisfied, basically_satisfied, unsatisfied)")
    invalid: int = Field(description="invalid ballots")
    votes_cast: int = Field(description="ballots cast")
    present: int = Field(description="members present at close")
    members_total: int = Field(description="all members (应到)")
    denominator: int = Field(description="the number the shares were taken of")
    denominator_basis: str = Field(description="the base of a satisfaction grade: all_members (全体组成人员), present "
                                               "(出席人数) or valid_votes (有效票)")
    grades_in_rule: int = Field(description="3 or 2 grades, as the plan says")
    unsatisfied_round: int | None = Field(description="1 or 2 when graded 不满意 (then vote.marked_unsatisfied "
                                                      "followed); null otherwise")
    computed_at: dt.datetime = Field(description="when it was graded (ISO 8601, UTC)")
