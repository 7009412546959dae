"""Mainland mobile numbers as voters type them, to E.164. Pure.

Every spelling of one number must be one voter, and nothing that merely looks
like a number may pass: full-width digits, spaces, hyphens and a +86 / 0086
prefix are accepted; anything else (zero-width characters, bidi marks,
letters, other digits scripts) is refused, naming the character.

Hand-written rather than `phonenumbers`: that library accepts far more
(letters as keypad digits, extensions, any region) than a public vote may.
"""

from __future__ import annotations

import re
import unicodedata

_FULL_WIDTH = {ord("０") + i: str(i) for i in range(10)} | {ord("＋"): "+"}
_SEPARATORS = frozenset(" \u3000-\uff0d")  # space, ideographic space, hyphen, full-width hyphen
_ALLOWED = frozenset("0123456789+") | _SEPARATORS
_MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")


class NotAMainlandMobile(ValueError):
    """Why a typed phone number is refused (the message names what was wrong)."""


def _describe(char: str) -> str:
    category = unicodedata.category(char)
    name = unicodedata.name(char, "unnamed character")
    if category == "Cf":
        kind = "an invisible formatting character (zero-width or bidi mark)"
    elif category.startswith("L"):
        kind = "a letter"
    elif category.startswith("N"):
        kind = "a digit of another script"
    else:
        kind = "a character not allowed in a phone number"
    return f"U+{ord(char):04X} {name}: {kind}"


def normalise_mainland_mobile(typed: str) -> str:
    """'+86 139-0000-2222', '１３９００００２２２２', '0086 13900002222' → '+8613900002222'."""
    text = typed.translate(_FULL_WIDTH)
    for char in text:
        if char not in _ALLOWED:
            raise NotAMainlandMobile(f"contains {_describe(char)}")
    text = text.lstrip("".join(_SEPARATORS))
    for prefix in ("+86", "0086"):  # written whole: "+ 86" or "00 86" is not a prefix
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    digits = "".join(c for c in text if c not in _SEPARATORS)
    if "+" in digits:
        raise NotAMainlandMobile("'+' only as the start of the +86 prefix")
    if not _MAINLAND_MOBILE.fullmatch(digits):
        raise NotAMainlandMobile("must be a mainland mobile number: 11 digits 1[3-9]XXXXXXXXX, optionally after +86 or 0086")
    return "+86" + digits


def mask_phone(e164: str) -> str:
    """'+8613900002222' → '139****2222': what logs and messages may show."""
    national = e164[3:] if e164.startswith("+86") else e164
    return f"{national[:3]}****{national[-4:]}"
