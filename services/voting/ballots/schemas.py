from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.web.text import DepartmentName, Identifier, RequestModel, mapping, name, prose


from shared.messaging.events import RoundKind

SatisfactionChoice = Literal["satisfied", "basically_satisfied", "unsatisfied"]
YesNoAbstain = Literal["yes", "no", "abstain"]
PassBasis = Literal["members_total", "present", "votes_cast"]
FloorRule = Literal["majority_of_members", "plurality"]
BallotStatus = Literal["draft", "open", "closed", "published", "void"]


Hands = Annotated[int, Field(ge=0, le=10_000)]
UNIQUE_ITEMS = {"uniqueItems": True}


def distinct(values: list[str] | None, what: str) -> list[str] | None:
    """The schema says uniqueItems; pydantic does not check it by itself."""
    if values is not None and len(set(values)) != len(values):
        raise ValueError(f"{what} is listed twice")
    return values


class SatisfactionBallotCreate(RequestModel):
    """A satisfaction vote (满意度电子表决) on one department's special work report.

    Give `agenda_item_id` of a re-report item to take department, year and
    round from it; otherwise give them here.
    """

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"department": "淄博市住房和城乡建设局", "evaluation_year": 2021},
        {
            "agenda_item_id": "8e1d2a34-5b6c-4d7e-9f80-1a2b3c4d5e6f",
            "title": "关于市住房和城乡建设局整改情况报告的满意度测评（再次表决）",
            "department": "淄博市住房和城乡建设局",
            "evaluation_year": 2021,
            "vote_round": 2,
        },
    ]})

    kind: Literal["satisfaction"] = Field("satisfaction", description="always `satisfaction`")
    agenda_item_id: Identifier | None = Field(None, description="an agenda item of this meeting; a re-report item "
                                                                "gives department, year and round")
    title: name(500) | None = Field(None, description="the ballot's title (1-500 characters); default: "
                                                      "对<department><year>年度专项工作报告的满意度测评; public")
    department: DepartmentName | None = Field(None, description="the department whose special work report is voted "
                                                                "on (1-200 characters); required unless the agenda "
                                                                "item gives it; public")
    evaluation_year: int | None = Field(None, ge=2000, le=2100,
                                        description="the evaluation year, 2000-2100; required unless the agenda "
                                                    "item gives it; public")
    vote_round: int | None = Field(None, ge=1, le=20,
                                   description="1 for the first vote, 2 for the re-vote after 不满意 (1-20); default: "
                                               "the agenda item's, else 1")


class QuestionIn(RequestModel):
    text: name(500) = Field(examples=["任命张三为市发展和改革委员会主任"],
                            description="the question voted on, as the ballot prints it (1-500 characters); public")


class ResolutionBallotCreate(RequestModel):
    """A yes/no/abstain (赞成/反对/弃权) ballot with one question, or several voted
    together (appointments person by person on one ballot)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "title": "人事任免事项表决",
            "questions": [{"text": "任命刘振华为淄博市住房和城乡建设局局长"}, {"text": "免去赵建军的淄博市教育局局长职务"}],
            "pass_basis": "members_total",
        },
    ]})

    agenda_item_id: Identifier | None = Field(None, description="an agenda item of this meeting the ballot belongs "
                                                                "to")
    title: name(500) = Field(description="the ballot's title (1-500 characters); public")
    questions: list[QuestionIn] = Field(min_length=1, max_length=100,
                                        description="the questions, 1-100, voted together on one ballot and each "
                                                    "counted on its own")
    pass_basis: PassBasis = Field(
        "members_total", description="more than half of: all members (default), members present at close, or votes cast on the question",
    )


class VoteCast(RequestModel):
    """`choice` on a satisfaction ballot; `answers` (question id -> yes/no/abstain) on a
    yes/no/abstain ballot, where a question left out is not counted; `marks` on a
    competitive selection, where marking more than the seats makes the ballot invalid."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"member_id": "cw01", "choice": "basically_satisfied"},
        {
            "member_id": "cw02",
            "answers": {"4c1f0e2a-9b3d-4f6a-8e7c-2d5b1a0f9c38": "yes", "a7e9d3b1-6c2f-4e8a-9d0b-3f1c5e7a2b64": "abstain"},
        },
        {"member_id": "cw03", "marks": ["淄博市住房和城乡建设局", "淄博市教育局", "淄博市卫生健康委员会"]},
    ]})

    member_id: Identifier = Field(description="the member casting: the token's own")
    choice: SatisfactionChoice | None = Field(None, description="satisfaction ballots: satisfied (满意), "
                                                                "basically_satisfied (基本满意) or unsatisfied (不满意); "
                                                                "never public, sealed until the close")
    answers: mapping(YesNoAbstain, max_length=100) | None = Field(None, description="yes/no/abstain ballots: question id -> "
                                                                                    "yes, no or abstain (at most 100); a "
                                                                                    "question left out is not counted")
    marks: list[DepartmentName] | None = Field(None, max_length=200, description="competitive selection: the candidates marked",
                                    json_schema_extra=UNIQUE_ITEMS)

    @field_validator("marks")
    @classmethod
    def _distinct_marks(cls, marks: list[str] | None) -> list[str] | None:
        return distinct(marks, "a candidate")


# The name the first issue used for the body of a satisfaction vote.
SatisfactionVoteCast = VoteCast


class BallotVoid(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "第3排表决器故障，部分委员无法按键，本次表决作废后重新表决"}]})

    reason: prose(2000) = Field(examples=["表决器故障"],
                                description="why the ballot is voided, e.g. the devices failed (1-2000 characters);"
                                            " not public")


class ShowOfHandsRecord(RequestModel):
    """Counts the clerk took by show of hands when the devices failed (counts only).
    `counts` (option code -> votes) for a satisfaction ballot; `questions`
    (question id -> option code -> votes) for a yes/no/abstain ballot."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"counts": {"satisfied": 30, "basically_satisfied": 8, "unsatisfied": 2}, "invalid": 0},
        {"questions": {"4c1f0e2a-9b3d-4f6a-8e7c-2d5b1a0f9c38": {"yes": 38, "no": 1, "abstain": 1}}},
    ]})

    counts: mapping(Hands, max_length=10) | None = Field(None, description="satisfaction ballots: option code "
                                                                           "(satisfied, basically_satisfied, "
                                                                           "unsatisfied) -> hands, each 0-10000")
    invalid: Hands = Field(0, description="satisfaction ballots: hands counted as invalid, 0-10000 (default 0)")
    questions: mapping(mapping(Hands, max_length=10), max_length=100) | None = Field(None, description="yes/no/abstain ballots: question id -> "
                                                                                                       "option code (yes, no, abstain) -> hands,"
                                                                                                       " for exactly the ballot's questions")


class VoteReceipt(BaseModel):
    ballot_id: str = Field(description="the ballot voted on")
    receipt_code: str = Field(description="keep it to confirm later that the vote was counted")


class ReceiptCheck(BaseModel):
    ballot_id: str = Field(description="the ballot asked about")
    counted: bool = Field(description="true when a vote with this receipt code is among the ballot's votes (false "
                                      "for a voided ballot)")


class OptionCount(BaseModel):
    code: str = Field(description="the option's code (satisfied, yes, …; a candidate department's name on a "
                                  "selection or poll)")
    label: str = Field(description="what the option reads, in Chinese (满意, 赞成, …)")
    votes: int = Field(description="votes (or hands) for it; 0 or more")


class QuestionOut(BaseModel):
    id: str = Field(description="the question's id (UUID): the key in `answers` when casting")
    position: int = Field(description="place on the ballot, from 1")
    text: str = Field(description="the question")
    results: list[OptionCount] | None = Field(None, description="only once closed")
    votes_cast: int | None = Field(None, description="ballots answering this question, once closed; null before")
    passed: bool | None = Field(None, description="more than half of the ballot's pass_basis voted yes, once "
                                                  "closed; null before")


class BallotOut(BaseModel):
    id: str = Field(description="the ballot's id (UUID)")
    meeting_id: str = Field(description="the meeting it is voted in")
    agenda_item_id: str | None = Field(description="the agenda item it belongs to; null if none")
    kind: str = Field(description="satisfaction, resolution (yes/no/abstain), competitive_selection (差额票决) or "
                                  "nomination_poll (推荐投票)")
    title: str = Field(description="the ballot's title; public")
    department: str | None = Field(description="satisfaction ballots: the department voted on; null otherwise; "
                                               "public")
    evaluation_year: int | None = Field(description="the evaluation year; null for resolutions")
    vote_round: int = Field(description="1 for the first vote, 2 for a re-vote after 不满意")
    secret: bool = Field(description="a secret ballot: no one, the operator included, can read who voted what "
                                     "(always true)")
    status: BallotStatus = Field(description="draft → open → closed → published; or void (voided before a result)")
    members_total: int = Field(description="应到 when created: the roster (a nomination poll: its voters)")
    votes_cast: int = Field(description="turnout so far; final once closed")
    present_at_open: int | None = Field(description="members present when it opened; null while draft")
    present_at_close: int | None = Field(description="members present when it closed (a poll: the votes cast); null"
                                                     " while not closed")
    opened_at: dt.datetime | None = Field(description="when it opened (ISO 8601, UTC); null while draft")
    closed_at: dt.datetime | None = Field(description="when it closed (ISO 8601, UTC); null until then")
    results: list[OptionCount] | None = Field(None, description="only once closed")
    invalid: int | None = Field(None, description="invalid ballots (no answer, more marks than seats, unreadable), "
                                                  "once closed; null before")
    quorum_at_close: bool | None = Field(None, description="more than half of all members were present at close")
    show_of_hands: bool = Field(False, description="result recorded by the clerk by show of hands (举手表决)")
    published_at: dt.datetime | None = Field(None, description="when the result was announced (ISO 8601, UTC); null"
                                                               " until then")
    voided_at: dt.datetime | None = Field(None, description="when it was voided (ISO 8601, UTC); null if not")
    void_reason: str | None = Field(None, description="why it was voided; not public")
    rerun_of_ballot_id: str | None = Field(None, description="the voided ballot this one re-runs; null if none")
    rerun_ballot_id: str | None = Field(None, description="the ballot re-running this voided one")
    pass_basis: PassBasis | None = Field(None, description="resolutions: members_total, present (at close) or "
                                                           "votes_cast, the base of 'more than half'")
    questions: list[QuestionOut] | None = Field(None, description="resolutions: the questions, with results once "
                                                                  "closed; null for other kinds")
    candidates: list[str] | None = Field(None, description="selections and polls: the candidate departments, in "
                                                           "ballot order; null otherwise")
    seats: int | None = Field(None, description="selections: the seats to fill, 1-99; null otherwise")
    floor_rule: FloorRule | None = Field(None, description="selections: majority_of_members (more than half of all "
                                                           "members) or plurality")
    winners: list[str] | None = Field(None, description="this round's winners, once closed")
    round_kind: RoundKind | None = Field(None, description="main, runoff (tied at the cut-off), supplementary (另行选举, unfilled seats), "
                                         "list_runoff (tied at the end of the supplementary list: votes for places on it)")
    parent_ballot_id: str | None = Field(None, description="the round this runoff or supplementary round follows")
    surplus_min_percent: int | None = Field(None, description="competitive ratio sizing a supplementary round")
    surplus_max_percent: int | None = Field(None, description="competitive ratio cap (percent) on a supplementary "
                                                              "round's list when runners-up tie")
    supplementary_placed: list[str] | None = Field(None, description="list runoff: candidates already on the supplementary list")
    supplementary_seats: int | None = Field(None, description="list runoff: seats the supplementary round will fill")
    follow_up_ballot_id: str | None = Field(None, description="the runoff or supplementary round this round opened")
    plan_id: str | None = Field(None, description="selections and polls: scoring's year plan; null if none")
    batch: int | None = Field(None, description="selections and polls: the plan's batch, 1-12; null if none")
    constituency: str | None = Field(None, description="nomination polls: the constituency polled")
    max_choices: int | None = Field(None, description="nomination polls: departments a voter may choose")
