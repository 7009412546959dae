from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.web.text import Date, DepartmentName, Identifier, PersonName, RequestModel, name, text


MemberId = Identifier


class RosterMemberIn(RequestModel):
    member_id: MemberId = Field(description="the member's id in the clerk's system (1-100 characters), unique in "
                                            "the roster; member tokens and check-ins name it")
    name: PersonName = Field(description="the member's name as the record prints it (1-100 characters); not public "
                                         "(the public pages show counts only)")


class MeetingCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "number": "第四十四次会议",
            "held_on": "2021-02-26",
            "place": "淄博市人大常委会第一会议室",
            "members": [
                {"member_id": "cw01", "name": "张建国"},
                {"member_id": "cw02", "name": "李秀英"},
                {"member_id": "cw03", "name": "王志强"},
            ],
        },
    ]})

    number: name(100) = Field(examples=["第四十四次会议"],
                              description="the sitting's number, unique across meetings, e.g. 第四十四次会议 (1-100 "
                                          "characters); public")
    held_on: Date = Field(description="the date of the sitting, YYYY-MM-DD (Beijing date); orders meetings and "
                                      "decides which meeting a re-report goes to; public")
    place: text(200) | None = Field(None, description="where it is held (at most 200 characters), e.g. 市人大常委会会议室; "
                                                      "public")
    members: list[RosterMemberIn] = Field(min_length=1, max_length=1000, description="all members of the committee")

    @model_validator(mode="after")
    def _unique_members(self) -> MeetingCreate:
        # A rule across the roster's entries (JSON Schema cannot say it): inconsistent-request.
        ids = [m.member_id for m in self.members]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"members: member_id listed twice: {', '.join(duplicates)}")
        return self


# Agenda item kinds the clerk enters; re-report items (rereport_revote) come from tracking.
AgendaKind = Literal["resolution", "review_opinion", "report", "appointments", "competitive_selection", "satisfaction"]


class AgendaItemCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "kind": "satisfaction",
            "title": "关于市住房和城乡建设局专项工作报告的满意度测评",
            "department": "淄博市住房和城乡建设局",
            "evaluation_year": 2021,
        },
    ]})

    kind: AgendaKind = Field(description="what the item is: a resolution, a review opinion, a report, appointments,"
                                         " a competitive selection (差额票决) or a satisfaction vote (满意度测评); re-report"
                                         " items (`rereport_revote`) are added by tracking's events, never here")
    title: name(500) = Field(examples=["关于市住房和城乡建设局专项工作报告的满意度测评"],
                             description="the item as the agenda prints it (1-500 characters); public")
    department: DepartmentName | None = Field(None, description="the department the item concerns, for reports and "
                                                                "satisfaction votes (1-200 characters); public")
    evaluation_year: int | None = Field(None, ge=2000, le=2100,
                                        description="the evaluation year the item belongs to, 2000-2100")


class AttendanceChange(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"member_ids": ["cw01", "cw02", "cw03"]}]})

    member_ids: list[MemberId] = Field(min_length=1, max_length=1000,
                                       description="the roster members checking in (or out), 1-1000 ids; every one "
                                                   "must be on this meeting's roster")


class MemberTokenCreate(RequestModel):
    """A token for one roster member of this meeting (or a voter of one of its
    nomination polls), for their voting device; `clerk` adds `voting:run` for
    running this meeting's votes (roster members only)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"member_id": "cw01"}, {"member_id": "cw03", "clerk": True}]})

    member_id: MemberId = Field(description="the roster member (or nomination-poll voter) the token is for; it can "
                                            "cast only as this member")
    clerk: bool = Field(False, description="true: a clerk's token, adding `voting:run` (check-ins, open and close) "
                                           "for this meeting only; roster members only")


class MemberTokenOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>`; shown once, not stored")
    member_id: str = Field(description="the member the token is bound to")
    meeting_id: str = Field(description="the meeting the token is bound to; it reads and casts in this meeting only")
    scopes: list[str] = Field(description="the scopes it holds: `voting:read` and `voting:cast`, plus `voting:run` "
                                          "for a clerk")
    expires_at: dt.datetime = Field(description="when it stops working (ISO 8601, UTC): MEMBER_TOKEN_TTL_HOURS "
                                                "after issue")


# Outside the class: its `name` field would shadow `name()` there.
Affiliation = name(200)


class NonVotingAttendeeIn(RequestModel):
    name: PersonName = Field(description="the person's name (1-100 characters); printed in the meeting record")
    affiliation: Affiliation | None = Field(None, examples=["市人民政府"],
                                          description="whom they attend for, e.g. 市人民政府 (at most 200 characters); "
                                                      "printed in the meeting record")


class NonVotingAttendance(RequestModel):
    """People attending without a vote (列席): recorded apart from the roster."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"attendees": [{"name": "刘振华", "affiliation": "淄博市人民政府"}, {"name": "赵丽娟", "affiliation": "淄博市住房和城乡建设局"}]}]})

    attendees: list[NonVotingAttendeeIn] = Field(min_length=1, max_length=500,
                                                 description="the people attending without a vote (列席), 1-500; each"
                                                             " call adds them to those already recorded")


class NonVotingAttendeeOut(BaseModel):
    id: str = Field(description="the attendee's id (UUID)")
    name: str = Field(description="the person's name")
    affiliation: str | None = Field(description="whom they attend for; null if not given")
    recorded_at: dt.datetime = Field(description="when they were recorded (ISO 8601, UTC)")


class RosterMemberOut(BaseModel):
    member_id: str = Field(description="the member's id in the clerk's system")
    name: str = Field(description="the member's name; not public")
    present: bool = Field(description="checked in and not checked out since: counts towards 实到 and the quorum")
    checked_in_at: dt.datetime | None = Field(description="the last check-in (ISO 8601, UTC); null if never")
    checked_out_at: dt.datetime | None = Field(description="the last check-out (ISO 8601, UTC); null if never")


class AgendaItemOut(BaseModel):
    id: str = Field(description="the agenda item's id (UUID); a ballot names it in `agenda_item_id`")
    position: int = Field(description="place on the agenda, from 1, in the order items were added")
    kind: str = Field(description="resolution, review_opinion, report, appointments, competitive_selection, "
                                  "satisfaction, or rereport_revote (a re-report with inquiry and re-vote, added "
                                  "from tracking's rereport.scheduled)")
    title: str = Field(description="the item as the agenda prints it")
    department: str | None = Field(description="the department concerned; null for items about none")
    evaluation_year: int | None = Field(description="the evaluation year; null if none")
    vote_round: int | None = Field(description="satisfaction and re-vote items: 1 for the first vote, 2 for the "
                                               "re-vote after 不满意; null otherwise")
    mode: str | None = Field(description="re-report items: inquiry_or_interpellation, inquiry (询问) or "
                                         "interpellation (质询), as tracking scheduled it; null otherwise")


class MeetingOut(BaseModel):
    id: str = Field(description="the meeting's id (UUID)")
    number: str = Field(description="the sitting's number, e.g. 第四十四次会议; public")
    held_on: dt.date = Field(description="the date of the sitting, YYYY-MM-DD; public")
    place: str | None = Field(description="where it is held; null if not given; public")
    members_total: int = Field(description="应到: members on the roster, the base of the quorum")
    present: int = Field(description="实到: members checked in now")
    quorum: bool = Field(description="more than half of all members present")
    agenda: list[AgendaItemOut] = Field(description="the agenda items in order, re-reports tracking scheduled "
                                                    "included")


class MeetingDetail(MeetingOut):
    members: list[RosterMemberOut] = Field(description="the roster in the order given, with attendance; not public")
    nonvoting_attendees: list[NonVotingAttendeeOut] = Field(description="列席人员: no vote, not counted for quorum")
