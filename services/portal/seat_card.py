"""The seat card's QR code: it opens the member's sign-in with their token in
the URL fragment (browsers never send a fragment, so no log ever holds it)."""

from __future__ import annotations

import io
from urllib.parse import quote

import segno


def sign_in_link(portal_url: str, token: str) -> str:
    return f"{portal_url.rstrip('/')}/vote/sign-in#token={quote(token, safe='')}"


def seat_card_svg(link: str, *, title: str) -> bytes:
    """An SVG QR code (error correction M; a member token fits in version ~12)."""
    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind="svg", scale=6, border=4, title=title)
    return out.getvalue()
