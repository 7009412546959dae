from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.voting.domain.phones import normalise_mainland_mobile


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _code(typed: str) -> str:
    digits = typed.translate({ord("０") + i: str(i) for i in range(10)}).replace(" ", "")
    if len(digits) != 6 or not all("0" <= c <= "9" for c in digits):
        raise ValueError("must be the 6 digits of the SMS code")
    return digits


# What the normalisers accept, for the OpenAPI; the normalisers themselves check (and name the offending character).
_SEP = "[ \u3000\\-－]*"
PHONE_PATTERN = (f"^{_SEP}(?:[+＋][8８][6６]|[0０][0０][8８][6６])?{_SEP}[1１]{_SEP}[3-9３-９](?:{_SEP}[0-9０-９]){{9}}{_SEP}$")
CODE_PATTERN = "^ *(?:[0-9０-９] *){6}$"

# As typed; normalised to E.164 (+86…) or refused naming the character or the rule it breaks.
Phone = Annotated[str, StringConstraints(min_length=1, max_length=40), Field(json_schema_extra={"pattern": PHONE_PATTERN}),
                  AfterValidator(normalise_mainland_mobile)]
Code = Annotated[str, StringConstraints(min_length=6, max_length=20), Field(json_schema_extra={"pattern": CODE_PATTERN}),
                 AfterValidator(_code)]
# A compact JWT: three base64url parts.
IdToken = Annotated[str, StringConstraints(min_length=10, max_length=16_384, pattern=r"^[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*$")]
PassToken = Annotated[str, StringConstraints(min_length=1, max_length=1_000, pattern=r"^[A-Za-z0-9_\-.]+$")]


class CodeRequest(StrictModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"phone": "13905330123"}, {"phone": "+86 139-0533-0123"}]})

    phone: Phone = Field(description="a mainland mobile: 13900002222, +86 139-0000-2222, 0086…, full-width digits")


class CodeRequested(BaseModel):
    """The same answer whether or not the number has voted."""

    poll_id: str = Field(description="the public vote the code is for")
    expires_in_seconds: int = Field(description="how long the code is valid once it arrives")
    resend_after_seconds: int = Field(description="when a new code may be requested for this phone")


class VerificationIn(StrictModel):
    """Either the SMS code sent to `phone`, or an `id_token` from the government identity platform."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"phone": "13905330123", "code": "428613"}]})

    phone: Phone | None = Field(None, description="the mobile the SMS code was sent to, as typed (normalised to "
                                                  "+86…); with `code`")
    code: Code | None = Field(None, description="the 6-digit SMS code (spaces and full-width digits accepted); with"
                                                " `phone`")
    id_token: IdToken | None = Field(None, description="an OpenID Connect ID token of the provincial government-service login")

    @model_validator(mode="after")
    def _one_method(self) -> VerificationIn:
        by_sms = self.phone is not None or self.code is not None
        if by_sms == (self.id_token is not None):
            raise ValueError("send either phone and code, or id_token")
        if by_sms and (self.phone is None or self.code is None):
            raise ValueError("phone and code go together")
        return self


class VotingPassOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    pass_: str = Field(alias="pass", description="send it with the vote; valid once, for this poll, until expires_at")
    expires_at: dt.datetime = Field(description="when the pass stops working (ISO 8601, UTC)")
