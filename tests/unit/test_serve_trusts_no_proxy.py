"""`pingyi serve` (used by `make run`'s launcher and by the compose image) starts uvicorn
(`shared.web.server.serve`) with its own proxy handling off: uvicorn would otherwise
believe X-Forwarded-For from 127.0.0.1 (or FORWARDED_ALLOW_IPS); the app decides, from
<SERVICE>_TRUSTED_PROXIES."""

from __future__ import annotations

from typer.testing import CliRunner

from shared.ops.cli import app
from shared.web import server


def test_serve_turns_uvicorns_proxy_headers_off(monkeypatch, tmp_path):
    started = {}
    monkeypatch.setattr(server, "serve", lambda application, **kwargs: started.update(kwargs))
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    monkeypatch.setenv("VOTING_DATABASE_URL", f"sqlite:///{tmp_path}/voting.db")
    done = CliRunner().invoke(app, ["serve", "voting", "--port", "18999"])
    assert done.exit_code == 0, done.output
    assert started["proxy_headers"] is False and started["forwarded_allow_ips"] == ""
