"""Ballots of the meeting: satisfaction and yes/no/abstain. Create, open under
quorum, cast (sealed), close and tally, publish; void and re-run; show of hands."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import secrets

from fastapi.responses import JSONResponse
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.voting.ballots.schemas import (
    BallotOut,
    OptionCount,
    QuestionOut,
    ResolutionBallotCreate,
    SatisfactionBallotCreate,
    ShowOfHandsRecord,
    VoteCast,
)
from services.voting.domain.selection import CompetitiveRatio, ListRunoff, SelectionOutcome, count_marks, decide, decide_list_runoff
from services.voting.domain.seal import SealBroken, is_current, new_data_key, seal, server_key, server_key_v1, unseal
from services.voting.domain.tally import (
    SATISFACTION_OPTIONS,
    YES_NO_ABSTAIN_OPTIONS,
    has_quorum,
    pass_base,
    tally_question,
    tally_single_choice,
)
from services.voting.meetings.service import get_meeting, present_count
from services.voting.models import (
    AgendaItem,
    Ballot,
    BallotParticipation,
    BallotQuestion,
    BallotVote,
    Meeting,
    OutboxMessage,
    PollVoter,
    RosterMember,
)
from shared.db import new_id
from shared.messaging.events import BallotClosed, BallotOption, BallotSubject, QuestionTally, Tally, utcnow
from shared.security.idempotency import REPLAYED_HEADER, Idempotency
from shared.messaging.outbox import publish
from shared.web.problems import Problem, not_found

SATISFACTION_KIND = "satisfaction"
RESOLUTION_KIND = "resolution"
SELECTION_KIND = "competitive_selection"
POLL_KIND = "nomination_poll"
# Kinds whose voters mark departments from a list.
MARKING_KINDS = (SELECTION_KIND, POLL_KIND)
OPTIONS_BY_KIND = {SATISFACTION_KIND: SATISFACTION_OPTIONS, RESOLUTION_KIND: YES_NO_ABSTAIN_OPTIONS}
ROUND_TITLES = {"runoff": "平票候选人再次投票", "supplementary": "另行选举", "list_runoff": "另行选举候选人平票再次投票"}


def options_of(ballot: Ballot) -> dict[str, str]:
    """Option code -> label; a candidate department is both."""
    if ballot.kind in MARKING_KINDS:
        return {c: c for c in ballot.candidates or []}
    return OPTIONS_BY_KIND.get(ballot.kind, {})
# Ballots that have a result: immutable from then on.
FINISHED = ("closed", "published")


def get_ballot(session: Session, ballot_id: str, *, for_update: bool = False, key_share: bool = False) -> Ballot:
    stmt = select(Ballot).where(Ballot.id == ballot_id)
    if for_update:
        stmt = stmt.with_for_update()
    elif key_share:
        # Casting: blocks only a close/void (FOR UPDATE), so the status read here
        # stays true until this vote commits; voters never wait for each other.
        stmt = stmt.with_for_update(read=True, key_share=True)
    ballot = session.scalars(stmt).first()
    if ballot is None:
        raise not_found("ballot", ballot_id)
    return ballot


def _validation_error(field: str, message: str) -> Problem:
    return Problem(422, "validation-error", "Invalid request 请求参数无效", f"invalid fields: {field}",
                   errors=[{"field": field, "message": message}])


def agenda_item_of(session: Session, meeting: Meeting, agenda_item_id: str | None) -> AgendaItem | None:
    if agenda_item_id is None:
        return None
    item = session.get(AgendaItem, agenda_item_id)
    if item is None or item.meeting_id != meeting.id:
        raise Problem(422, "unknown-agenda-item", "Unknown agenda item 议程不存在",
                      f"agenda item {agenda_item_id} is not on meeting {meeting.number}")
    return item


def create_satisfaction_ballot(session: Session, meeting: Meeting, data: SatisfactionBallotCreate) -> Ballot:
    department, year, vote_round = data.department, data.evaluation_year, data.vote_round
    item = agenda_item_of(session, meeting, data.agenda_item_id)
    if item is not None:
        department = department or item.department
        year = year or item.evaluation_year
        vote_round = vote_round or item.vote_round
    missing = [name for name, value in (("department", department), ("evaluation_year", year)) if value is None]
    if missing:
        raise Problem(422, "validation-error", "Invalid request 请求参数无效",
                      f"missing fields: {', '.join(missing)}", errors=[{"field": m, "message": "required"} for m in missing])
    ballot = Ballot(
        meeting_id=meeting.id,
        agenda_item_id=item.id if item else None,
        kind=SATISFACTION_KIND,
        title=data.title or f"对{department}{year}年度专项工作报告的满意度测评",
        department=department,
        evaluation_year=year,
        vote_round=vote_round or 1,
        secret=True,
        status="draft",
        members_total=len(meeting.members),
    )
    session.add(ballot)
    session.flush()
    return ballot


def create_resolution_ballot(session: Session, meeting: Meeting, data: ResolutionBallotCreate) -> Ballot:
    item = agenda_item_of(session, meeting, data.agenda_item_id)
    ballot = Ballot(
        meeting_id=meeting.id,
        agenda_item_id=item.id if item else None,
        kind=RESOLUTION_KIND,
        title=data.title,
        vote_round=1,
        secret=True,
        status="draft",
        members_total=len(meeting.members),
        pass_basis=data.pass_basis,
        questions=[BallotQuestion(position=i, text=q.text) for i, q in enumerate(data.questions, start=1)],
    )
    session.add(ballot)
    session.flush()
    return ballot


def _state_problem(ballot: Ballot, action: str) -> Problem:
    if ballot.status in FINISHED:
        return Problem(409, "ballot-closed", "Ballot closed 表决已结束",
                       f"ballot {ballot.id} is {ballot.status} and cannot change", ballot_status=ballot.status)
    if ballot.status == "void":
        return Problem(409, "ballot-void", "Ballot void 表决已作废",
                       f"ballot {ballot.id} was voided and cannot change", ballot_status=ballot.status)
    return Problem(409, "ballot-state", "Wrong ballot state 表决状态不允许此操作",
                   f"ballot {ballot.id} is {ballot.status}; cannot {action}", ballot_status=ballot.status)


def _require_quorum(meeting: Meeting, ballot: Ballot) -> int:
    present = present_count(meeting)
    if not has_quorum(present, ballot.members_total):
        raise Problem(409, "no-quorum", "No quorum 出席人数未过半数",
                      f"{present} of {ballot.members_total} members present; more than half are needed",
                      present=present, members_total=ballot.members_total)
    return present


_WRAP_PURPOSE = "ballot-seal-key-wrap"


def _wrap_key(seal_secret: str) -> bytes:
    return server_key(seal_secret, _WRAP_PURPOSE)


def _sealed_for(ballot: Ballot) -> bytes:
    """What every value sealed for a ballot is bound to: its id."""
    return ballot.id.encode()


def _data_key(ballot: Ballot, seal_secret: str) -> bytes:
    wrapped = ballot.wrapped_seal_key
    if wrapped is None:
        raise RuntimeError(f"ballot {ballot.id} has no sealing key")
    # A ballot opened before the upgrade has its key wrapped the old way (read only).
    wrap_key = _wrap_key(seal_secret) if is_current(wrapped) else server_key_v1(seal_secret, _WRAP_PURPOSE)
    return unseal(wrap_key, wrapped, associated_data=_sealed_for(ballot))


def open_ballot(session: Session, ballot: Ballot, *, seal_secret: str) -> Ballot:
    if ballot.status != "draft":
        raise _state_problem(ballot, "open")
    if ballot.kind != POLL_KIND:  # a poll of a constituency is not a sitting of the committee
        ballot.present_at_open = _require_quorum(get_meeting(session, ballot.meeting_id), ballot)
    ballot.status = "open"
    ballot.opened_at = utcnow()
    ballot.wrapped_seal_key = seal(_wrap_key(seal_secret), new_data_key(), associated_data=_sealed_for(ballot))
    return ballot


# Sealed votes are padded to one length per ballot: a choice must not show
# through the length of its ciphertext (满意 and 不满意 differ by two letters).
SEAL_BLOCK = 64
LONGEST_CHOICE = max(SATISFACTION_OPTIONS, key=len)


def _sealed_length(ballot: Ballot) -> int:
    """The longest content a vote on this ballot can have, rounded up to a block."""
    if ballot.kind in MARKING_KINDS:
        longest = {"marks": list(ballot.candidates or [])}
    elif ballot.kind == RESOLUTION_KIND:
        longest = {"answers": {q.id: "abstain" for q in ballot.questions}}
    else:
        longest = {"choice": LONGEST_CHOICE}
    size = len(json.dumps({"ballot": ballot.id, **longest}).encode())
    return -(-size // SEAL_BLOCK) * SEAL_BLOCK


def _seal_content(ballot: Ballot, key: bytes, content: dict) -> str:
    # Trailing spaces: json.loads reads the content back unchanged.
    plaintext = json.dumps({"ballot": ballot.id, **content}).encode()
    return seal(key, plaintext.ljust(_sealed_length(ballot)), associated_data=_sealed_for(ballot))


def _receipt_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _checked_content(session: Session, ballot: Ballot, data: VoteCast) -> dict:
    """What the member chose, checked against the ballot's kind."""
    if ballot.kind in MARKING_KINDS:
        if data.choice is not None or data.answers is not None:
            raise _validation_error("marks", "a competitive selection ballot takes marks (candidate departments)")
        if data.marks is None:
            raise _validation_error("marks", "required (an empty list marks nobody)")
        if len(set(data.marks)) != len(data.marks):
            raise _validation_error("marks", "a candidate is marked twice")
        unknown = [m for m in data.marks if m not in (ballot.candidates or [])]
        if unknown:
            raise Problem(422, "unknown-candidate", "Unknown candidate 候选对象不存在",
                          f"not a candidate of ballot {ballot.id}: {', '.join(unknown)}", candidates=ballot.candidates)
        if ballot.kind == POLL_KIND and len(data.marks) > ballot.max_choices:
            raise Problem(422, "too-many-choices", "Too many choices 选择超过限额",
                          f"{len(data.marks)} departments chosen; at most {ballot.max_choices}", max_choices=ballot.max_choices)
        # In a competitive selection more marks than seats is accepted and counted
        # as an invalid ballot, as on paper.
        return {"marks": list(data.marks)}
    if data.marks is not None:
        raise _validation_error("marks", "only a competitive selection ballot takes marks")
    if ballot.kind == RESOLUTION_KIND:
        if data.choice is not None:
            raise _validation_error("choice", "a yes/no/abstain ballot takes answers per question, not a choice")
        if not data.answers:
            raise _validation_error("answers", "answer at least one question (yes, no or abstain)")
        known = {q.id for q in ballot.questions}
        unknown = sorted(set(data.answers) - known)
        if unknown:
            raise Problem(422, "unknown-question", "Unknown question 表决事项不存在",
                          f"not a question of ballot {ballot.id}: {', '.join(unknown)}", question_ids=unknown)
        return {"answers": dict(data.answers)}
    if data.answers is not None:
        raise _validation_error("answers", "a satisfaction ballot takes one choice")
    if data.choice is None:
        raise _validation_error("choice", "required")
    return {"choice": data.choice}


def not_open(ballot: Ballot) -> Problem:
    return Problem(409, "ballot-not-open", "Ballot not open 表决未开始或已结束",
                   f"ballot {ballot.id} is {ballot.status}, not open", ballot_status=ballot.status)


def not_a_member(ballot: Ballot, member_id: str) -> Problem:
    if ballot.kind == POLL_KIND:
        return Problem(403, "not-a-member", "Not on the roster 不在本次推荐投票名单",
                       f"{member_id} is not on the roster of poll {ballot.id}", member_id=member_id)
    return Problem(403, "not-a-member", "Not a member 非本次会议组成人员",
                   f"{member_id} is not on the roster of meeting {ballot.meeting_id}", member_id=member_id)


def not_present(ballot: Ballot, member_id: str) -> Problem:
    return Problem(403, "not-present", "Not present 未签到出席",
                   f"{member_id} has not checked in to meeting {ballot.meeting_id}", member_id=member_id)


def already_voted(ballot: Ballot, member_id: str) -> Problem:
    return Problem(409, "already-voted", "Already voted 已投票",
                   f"{member_id} has already voted on ballot {ballot.id}", member_id=member_id)


def cast_vote(session: Session, ballot: Ballot, data: VoteCast, *, seal_secret: str) -> str:
    """Record one member's vote, sealed, in the session's transaction; returns the
    receipt code (only its hash is kept). Casts without an Idempotency-Key are
    written in batches instead (`casting.record_casts`), with the same refusals."""
    if ballot.status != "open":
        raise not_open(ballot)
    if ballot.kind == POLL_KIND:
        on_roster = session.scalar(select(PollVoter.id).where(PollVoter.ballot_id == ballot.id, PollVoter.voter_id == data.member_id))
        if on_roster is None:
            raise not_a_member(ballot, data.member_id)
        member = None
    else:
        # One roster row, not the whole meeting: this is the hot path of a sitting.
        member = session.scalars(
            select(RosterMember).where(RosterMember.meeting_id == ballot.meeting_id, RosterMember.member_id == data.member_id)
        ).first()
        if member is None:
            raise not_a_member(ballot, data.member_id)
    if member is not None and not member.present:
        raise not_present(ballot, data.member_id)
    content = _checked_content(session, ballot, data)
    sealed = _seal_content(ballot, _data_key(ballot, seal_secret), content)
    receipt_code = secrets.token_urlsafe(12)
    session.add(BallotParticipation(ballot_id=ballot.id, member_id=data.member_id, voted_at=utcnow()))
    try:
        # The unique (ballot, member) row decides a race between two requests.
        session.flush()
    except IntegrityError:
        session.rollback()
        raise already_voted(ballot, data.member_id) from None
    session.add(BallotVote(ballot_id=ballot.id, sealed=sealed, receipt_hash=_receipt_hash(receipt_code)))
    session.flush()
    return receipt_code


# --- Idempotency-Key on a cast, without a trace of the choice ------------------------
#
# The shared idempotency row keeps the caller (the member), the time, a SHA-256
# of the request body and the response. For a cast the body holds the choice
# (three possible bodies: a plain hash is reversed by trying them) and the
# response holds the receipt code (whose hash is on the vote row). So here the
# request hash is keyed, and the receipt sealed, under the ballot's data key,
# which is erased at close: afterwards neither can be tied to a vote by anyone.

_CAST_KEY_PURPOSE = b"pingyi-cast-idempotency:"


def cast_idempotency(idem: Idempotency, ballot: Ballot, seal_secret: str) -> Idempotency:
    """`idem` with its request hash keyed under the ballot's sealing key (while it has one)."""
    if idem.key is None or ballot.wrapped_seal_key is None:
        return idem
    keyed = hmac.new(_data_key(ballot, seal_secret), _CAST_KEY_PURPOSE + idem.request_hash.encode(), hashlib.sha256)
    return dataclasses.replace(idem, request_hash=keyed.hexdigest())


def replay_cast(session: Session, idem: Idempotency, ballot: Ballot, seal_secret: str) -> JSONResponse | None:
    """The first response to this key again (its receipt unsealed), or None to cast."""
    if idem.key is None:
        return None
    if ballot.wrapped_seal_key is None:
        # Closed or voided since: the sealed receipt can no longer be opened.
        stored = session.get(idem.model, (idem.principal, idem.key))
        if stored is not None and (stored.method, stored.path) == (idem.method, idem.path):
            raise Problem(409, "already-voted", "Already voted 已投票",
                          f"this vote on ballot {ballot.id} was recorded; the ballot is {ballot.status} and its "
                          "receipt can no longer be shown again", ballot_status=ballot.status)
        return None
    stored = idem.replay(session)
    if stored is None:
        return None
    body = json.loads(stored.body)
    body["receipt_code"] = unseal(_data_key(ballot, seal_secret), body["receipt_code"],
                                  associated_data=_sealed_for(ballot)).decode()
    return JSONResponse(body, status_code=stored.status_code, headers={REPLAYED_HEADER: "true"})


def record_cast(session: Session, idem: Idempotency, ballot: Ballot, seal_secret: str, receipt: dict) -> None:
    if idem.key is None:
        return
    sealed = seal(_data_key(ballot, seal_secret), receipt["receipt_code"].encode(), associated_data=_sealed_for(ballot))
    idem.record(session, 201, {**receipt, "receipt_code": sealed})


def receipt_counted(session: Session, ballot: Ballot, code: str) -> bool:
    if ballot.status == "void":
        return False
    return session.scalar(
        select(func.count(BallotVote.id)).where(BallotVote.ballot_id == ballot.id, BallotVote.receipt_hash == _receipt_hash(code))
    ) > 0


def votes_cast(session: Session, ballot: Ballot) -> int:
    if ballot.votes_cast is not None:
        return ballot.votes_cast
    return session.scalar(select(func.count(BallotParticipation.id)).where(BallotParticipation.ballot_id == ballot.id)) or 0


def _unseal_all(session: Session, ballot: Ballot, seal_secret: str) -> list[dict]:
    """Open every sealed vote and write the readable votes anew in this (the
    close's) transaction, in random order and under new ids; then forget the key.
    Returns the contents.

    Written anew rather than updated in place: on SQLite a row keeps its rowid,
    which follows the order of casting, and the order of casting is the order of
    the participations and of the audit entries (member, time). Re-inserted in
    random order, the readable rows carry nothing of when or by whom."""
    rows = session.execute(
        select(BallotVote.sealed, BallotVote.choice, BallotVote.answers, BallotVote.receipt_hash)
        .where(BallotVote.ballot_id == ballot.id)
    ).all()
    key = _data_key(ballot, seal_secret) if any(r.sealed for r in rows) else None
    contents, readable = [], []
    for row in rows:
        if row.sealed is None:  # written before votes were sealed
            contents.append({"choice": row.choice, "answers": row.answers,
                             "marks": (row.answers or {}).get("marks") if ballot.kind in MARKING_KINDS else None})
            stored = row.answers
        else:
            try:
                content = json.loads(unseal(key, row.sealed, associated_data=_sealed_for(ballot)))
            except (SealBroken, ValueError):
                content = {}
            if content.get("ballot") != ballot.id:
                content = {}  # a tampered or misplaced row: counted as invalid
            if ballot.kind in MARKING_KINDS:
                marks = content.get("marks")
                contents.append({"choice": None, "answers": None, "marks": marks})
                stored = {"marks": marks} if marks is not None else None
            else:
                contents.append({"choice": content.get("choice", "") if ballot.kind != RESOLUTION_KIND else None,
                                 "answers": content.get("answers"), "marks": None})
                stored = contents[-1]["answers"]
        readable.append({"id": new_id(), "ballot_id": ballot.id, "sealed": None, "choice": contents[-1]["choice"],
                         "answers": stored, "receipt_hash": row.receipt_hash})
    if readable:
        secrets.SystemRandom().shuffle(readable)
        session.execute(delete(BallotVote).where(BallotVote.ballot_id == ballot.id))
        session.execute(insert(BallotVote), readable)
    ballot.wrapped_seal_key = None
    return contents


def close_ballot(session: Session, ballot: Ballot, *, seal_secret: str) -> Ballot:
    if ballot.status == "draft":
        raise Problem(409, "ballot-not-open", "Ballot not open 表决未开始或已结束",
                      f"ballot {ballot.id} is draft, not open", ballot_status=ballot.status)
    if ballot.status != "open":
        raise _state_problem(ballot, "close")
    meeting = get_meeting(session, ballot.meeting_id)
    contents = _unseal_all(session, ballot, seal_secret)
    ballot.present_at_close = present_count(meeting)
    if ballot.kind == RESOLUTION_KIND:
        for question in ballot.questions:
            answers = [c["answers"][question.id] for c in contents if c["answers"] and question.id in c["answers"]]
            result = tally_question(answers, basis=ballot.pass_basis, members_total=ballot.members_total,
                                    present=ballot.present_at_close)
            question.counts, question.votes_cast, question.passed = result.counts, result.votes_cast, result.passed
        ballot.counts = _question_totals(ballot)
        ballot.invalid = sum(1 for c in contents if not c["answers"])
        ballot.votes_cast = len(contents)
    elif ballot.kind == SELECTION_KIND:
        tally = count_marks([c["marks"] for c in contents], ballot.candidates, ballot.seats)
        ballot.counts, ballot.invalid, ballot.votes_cast = tally.counts, tally.invalid, tally.votes_cast
        _decide_selection(session, ballot)
    elif ballot.kind == POLL_KIND:
        tally = count_marks([c["marks"] for c in contents], ballot.candidates, ballot.max_choices)
        ballot.counts, ballot.invalid, ballot.votes_cast = tally.counts, tally.invalid, tally.votes_cast
        # Those who took part: a constituency is not checked in like the committee.
        ballot.present_at_close = tally.votes_cast
    else:
        tally = tally_single_choice([c["choice"] for c in contents], OPTIONS_BY_KIND[ballot.kind])
        ballot.counts, ballot.invalid, ballot.votes_cast = tally.counts, tally.invalid, tally.votes_cast
    ballot.status = "closed"
    ballot.closed_at = utcnow()
    session.flush()
    _announce(session, ballot, meeting)
    return ballot


def _selection_outcome(ballot: Ballot) -> SelectionOutcome:
    if ballot.round_kind == "list_runoff":
        return decide_list_runoff(ballot.counts, ListRunoff(
            list(ballot.candidates), ballot.seats, placed=list(ballot.supplementary_placed or []),
            seats=ballot.supplementary_seats or 1))
    default = CompetitiveRatio()
    ratio = CompetitiveRatio(default.min_percent if ballot.surplus_min_percent is None else ballot.surplus_min_percent,
                             default.max_percent if ballot.surplus_max_percent is None else ballot.surplus_max_percent)
    return decide(ballot.counts, ballot.candidates, ballot.seats, ballot.floor_rule, ballot.members_total, ratio)


def _decide_selection(session: Session, ballot: Ballot) -> None:
    """Winners of this round; a tie at the cut-off, unfilled seats or a tie at the
    end of the supplementary list open the next round (draft)."""
    outcome = _selection_outcome(ballot)
    ballot.winners = outcome.winners
    placed = seats_after = None
    if outcome.runoff:
        round_kind, candidates, seats = "runoff", outcome.runoff.candidates, outcome.runoff.seats
    elif outcome.supplementary:
        round_kind, candidates, seats = "supplementary", outcome.supplementary.candidates, outcome.supplementary.seats
    elif outcome.list_runoff:
        round_kind, candidates, seats = "list_runoff", outcome.list_runoff.candidates, outcome.list_runoff.places
        placed, seats_after = outcome.list_runoff.placed, outcome.list_runoff.seats
    else:
        return
    base_title = ballot.title.split("（")[0]
    session.add(Ballot(
        meeting_id=ballot.meeting_id, agenda_item_id=ballot.agenda_item_id, kind=SELECTION_KIND,
        title=f"{base_title}（{ROUND_TITLES[round_kind]}）", evaluation_year=ballot.evaluation_year,
        vote_round=ballot.vote_round, secret=True, status="draft", members_total=ballot.members_total,
        candidates=candidates, seats=seats, floor_rule=ballot.floor_rule,
        round_kind=round_kind, parent_ballot_id=ballot.id, plan_id=ballot.plan_id, batch=ballot.batch,
        surplus_min_percent=ballot.surplus_min_percent, surplus_max_percent=ballot.surplus_max_percent,
        supplementary_placed=placed, supplementary_seats=seats_after,
    ))


def _question_totals(ballot: Ballot) -> dict[str, int]:
    return {code: sum((q.counts or {}).get(code, 0) for q in ballot.questions) for code in YES_NO_ABSTAIN_OPTIONS}


def _announce(session: Session, ballot: Ballot, meeting: Meeting) -> None:
    tally = Tally(counts=ballot.counts, invalid=ballot.invalid or 0, votes_cast=ballot.votes_cast,
                  present=ballot.present_at_close, members_total=ballot.members_total, show_of_hands=ballot.show_of_hands)
    if ballot.kind == SATISFACTION_KIND:
        payload = BallotClosed(
            ballot_id=ballot.id, ballot_kind=SATISFACTION_KIND, meeting_id=meeting.id, meeting_number=meeting.number,
            meeting_date=meeting.held_on,
            subject=BallotSubject(department=ballot.department, evaluation_year=ballot.evaluation_year, vote_round=ballot.vote_round),
            tally=tally, closed_at=ballot.closed_at,
        )
        # By department: its ballots stay in order, so scoring counts its unsatisfied rounds right.
        key = ballot.department
    elif ballot.kind == SELECTION_KIND:
        payload = BallotClosed(
            ballot_id=ballot.id, ballot_kind=SELECTION_KIND, meeting_id=meeting.id, meeting_number=meeting.number,
            meeting_date=meeting.held_on, tally=tally, closed_at=ballot.closed_at,
            evaluation_year=ballot.evaluation_year, plan_id=ballot.plan_id, batch=ballot.batch,
            options=[BallotOption(code=c, label=c) for c in ballot.candidates], seats=ballot.seats,
            # A list runoff wins no seat: its winners are places on the supplementary list.
            winners=ballot.winners if ballot.round_kind != "list_runoff" else [],
            round_kind=ballot.round_kind, parent_ballot_id=ballot.parent_ballot_id,
        )
        # By plan (or year): the rounds of one selection stay in order.
        key = ballot.plan_id or f"selection-{ballot.evaluation_year}"
    elif ballot.kind == POLL_KIND:
        payload = BallotClosed(
            ballot_id=ballot.id, ballot_kind=POLL_KIND, meeting_id=meeting.id, meeting_number=meeting.number,
            meeting_date=meeting.held_on, tally=tally, closed_at=ballot.closed_at, evaluation_year=ballot.evaluation_year,
            plan_id=ballot.plan_id, batch=ballot.batch, options=[BallotOption(code=c, label=c) for c in ballot.candidates],
            constituency=ballot.constituency,
        )
        key = ballot.plan_id or f"nomination-{ballot.evaluation_year}"
    else:
        payload = BallotClosed(
            ballot_id=ballot.id, ballot_kind=RESOLUTION_KIND, meeting_id=meeting.id, meeting_number=meeting.number,
            meeting_date=meeting.held_on, tally=tally, closed_at=ballot.closed_at,
            questions=[QuestionTally(question_id=q.id, text=q.text, counts=q.counts, passed=q.passed) for q in ballot.questions],
        )
        key = meeting.id
    publish(session, OutboxMessage, payload, producer="voting", key=key)


def record_show_of_hands(session: Session, ballot: Ballot, data: ShowOfHandsRecord) -> Ballot:
    """The devices failed: the clerk records the counts taken by show of hands, which
    closes the ballot. Only before any electronic vote (otherwise void and re-run)."""
    if ballot.status not in ("draft", "open"):
        raise _state_problem(ballot, "record a show of hands")
    if ballot.kind in MARKING_KINDS:
        raise Problem(409, "show-of-hands-not-allowed", "Show of hands not allowed 此类投票不能举手表决",
                      "competitive selections and nomination polls need written or electronic ballots")
    if votes_cast(session, ballot) > 0:
        raise Problem(409, "electronic-votes-exist", "Electronic votes exist 已有电子投票",
                      f"ballot {ballot.id} already has electronic votes; void it and re-run it to vote by show of hands")
    meeting = get_meeting(session, ballot.meeting_id)
    present = _require_quorum(meeting, ballot)
    options = OPTIONS_BY_KIND[ballot.kind]

    def checked(counts: dict[str, int], field: str) -> dict[str, int]:
        unknown = sorted(set(counts) - set(options))
        if unknown:
            raise Problem(422, "unknown-option", "Unknown option 选项不存在",
                          f"{field}: not an option of this ballot: {', '.join(unknown)}", options=list(options))
        if any(v < 0 for v in counts.values()):
            raise _validation_error(field, "counts cannot be negative")
        return {code: counts.get(code, 0) for code in options}

    def within_present(total: int, field: str) -> None:
        if total > present:
            raise Problem(422, "show-of-hands-exceeds-present", "More hands than members present 举手数超过出席人数",
                          f"{field}: {total} hands counted but {present} members present", present=present)

    if ballot.kind == RESOLUTION_KIND:
        if data.counts is not None or data.questions is None:
            raise _validation_error("questions", "give counts per question (question id -> option -> hands)")
        known = {q.id for q in ballot.questions}
        if set(data.questions) != known:
            raise Problem(422, "unknown-question", "Unknown question 表决事项不存在",
                          "give counts for exactly the ballot's questions", question_ids=sorted(known))
        per_question = {qid: checked(c, f"questions.{qid}") for qid, c in data.questions.items()}
        for qid, counts in per_question.items():
            within_present(sum(counts.values()), f"questions.{qid}")
        for question in ballot.questions:
            counts = per_question[question.id]
            cast = sum(counts.values())
            base = pass_base(ballot.pass_basis, members_total=ballot.members_total, present=present, votes_cast=cast)
            question.counts, question.votes_cast, question.passed = counts, cast, base > 0 and 2 * counts["yes"] > base
        ballot.counts = _question_totals(ballot)
        ballot.invalid = 0
        ballot.votes_cast = max(q.votes_cast for q in ballot.questions)
    else:
        if data.questions is not None or data.counts is None:
            raise _validation_error("counts", "give counts per option")
        counts = checked(data.counts, "counts")
        within_present(sum(counts.values()) + data.invalid, "counts")
        ballot.counts, ballot.invalid, ballot.votes_cast = counts, data.invalid, sum(counts.values()) + data.invalid
    now = utcnow()
    if ballot.status == "draft":
        ballot.opened_at, ballot.present_at_open = now, present
    ballot.status, ballot.closed_at, ballot.present_at_close = "closed", now, present
    ballot.show_of_hands = True
    ballot.wrapped_seal_key = None
    session.flush()
    _announce(session, ballot, meeting)
    return ballot


def publish_ballot(session: Session, ballot: Ballot) -> Ballot:
    """Announce the result (宣布表决结果): closed -> published."""
    if ballot.status != "closed":
        raise _state_problem(ballot, "publish") if ballot.status != "published" else Problem(
            409, "ballot-state", "Wrong ballot state 表决状态不允许此操作", f"ballot {ballot.id} is already published",
            ballot_status=ballot.status)
    ballot.status = "published"
    ballot.published_at = utcnow()
    return ballot


def void_ballot(session: Session, ballot: Ballot, reason: str) -> Ballot:
    """Void a ballot that has no result yet. Its sealed votes become unreadable for good."""
    if ballot.status not in ("draft", "open"):
        raise _state_problem(ballot, "void")
    ballot.status = "void"
    ballot.voided_at = utcnow()
    ballot.void_reason = reason
    ballot.wrapped_seal_key = None
    return ballot


def rerun_ballot(session: Session, voided: Ballot) -> Ballot:
    """A new draft ballot on the same subject, pointing back at the voided one."""
    if voided.status != "void":
        raise Problem(409, "ballot-not-void", "Ballot not void 表决未作废",
                      f"ballot {voided.id} is {voided.status}; only a voided ballot can be re-run", ballot_status=voided.status)
    rerun = Ballot(
        meeting_id=voided.meeting_id, agenda_item_id=voided.agenda_item_id, kind=voided.kind, title=voided.title,
        department=voided.department, evaluation_year=voided.evaluation_year, vote_round=voided.vote_round,
        secret=voided.secret, status="draft", members_total=voided.members_total, pass_basis=voided.pass_basis,
        rerun_of_ballot_id=voided.id, candidates=voided.candidates, seats=voided.seats, floor_rule=voided.floor_rule,
        round_kind=voided.round_kind, parent_ballot_id=voided.parent_ballot_id, plan_id=voided.plan_id, batch=voided.batch,
        constituency=voided.constituency, max_choices=voided.max_choices,
        surplus_min_percent=voided.surplus_min_percent, surplus_max_percent=voided.surplus_max_percent,
        supplementary_placed=voided.supplementary_placed, supplementary_seats=voided.supplementary_seats,
        questions=[BallotQuestion(position=q.position, text=q.text) for q in voided.questions],
    )
    session.add(rerun)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Problem(409, "already-rerun", "Already re-run 已重新表决",
                      f"ballot {voided.id} has already been re-run", ballot_id=voided.id)
    if voided.kind == POLL_KIND:
        voters = session.execute(select(PollVoter.voter_id, PollVoter.name).where(PollVoter.ballot_id == voided.id)).all()
        session.add_all([PollVoter(ballot_id=rerun.id, voter_id=v.voter_id, name=v.name) for v in voters])
        session.flush()
    return rerun


def option_results(counts: dict | None, options: dict[str, str]) -> list[OptionCount] | None:
    if counts is None:
        return None
    return [OptionCount(code=c, label=label, votes=counts.get(c, 0)) for c, label in options.items()]


def ballot_out(session: Session, ballot: Ballot) -> BallotOut:
    finished = ballot.status in FINISHED
    options = options_of(ballot)
    follow_up_id = session.scalar(
        select(Ballot.id).where(Ballot.parent_ballot_id == ballot.id, Ballot.rerun_of_ballot_id.is_(None))
    ) if ballot.kind == SELECTION_KIND and finished else None
    rerun_id = session.scalar(select(Ballot.id).where(Ballot.rerun_of_ballot_id == ballot.id)) if ballot.status == "void" else None
    questions = None
    if ballot.kind == RESOLUTION_KIND:
        questions = [
            QuestionOut(id=q.id, position=q.position, text=q.text,
                        results=option_results(q.counts, options) if finished else None,
                        votes_cast=q.votes_cast if finished else None, passed=q.passed if finished else None)
            for q in ballot.questions
        ]
    return BallotOut(
        id=ballot.id,
        meeting_id=ballot.meeting_id,
        agenda_item_id=ballot.agenda_item_id,
        kind=ballot.kind,
        title=ballot.title,
        department=ballot.department,
        evaluation_year=ballot.evaluation_year,
        vote_round=ballot.vote_round,
        secret=ballot.secret,
        status=ballot.status,
        members_total=ballot.members_total,
        votes_cast=votes_cast(session, ballot),
        present_at_open=ballot.present_at_open,
        present_at_close=ballot.present_at_close,
        opened_at=ballot.opened_at,
        closed_at=ballot.closed_at,
        results=option_results(ballot.counts, options) if finished else None,
        invalid=ballot.invalid if finished else None,
        quorum_at_close=has_quorum(ballot.present_at_close, ballot.members_total) if finished and ballot.kind != POLL_KIND else None,
        show_of_hands=ballot.show_of_hands,
        published_at=ballot.published_at,
        voided_at=ballot.voided_at,
        void_reason=ballot.void_reason,
        rerun_of_ballot_id=ballot.rerun_of_ballot_id,
        rerun_ballot_id=rerun_id,
        pass_basis=ballot.pass_basis,
        questions=questions,
        candidates=ballot.candidates,
        seats=ballot.seats,
        floor_rule=ballot.floor_rule,
        winners=ballot.winners if finished else None,
        round_kind=ballot.round_kind,
        parent_ballot_id=ballot.parent_ballot_id,
        surplus_min_percent=ballot.surplus_min_percent,
        surplus_max_percent=ballot.surplus_max_percent,
        supplementary_placed=ballot.supplementary_placed,
        supplementary_seats=ballot.supplementary_seats,
        follow_up_ballot_id=follow_up_id,
        plan_id=ballot.plan_id,
        batch=ballot.batch,
        constituency=ballot.constituency,
        max_choices=ballot.max_choices,
    )
