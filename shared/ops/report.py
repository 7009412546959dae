"""`pingyi report --year 2021 --out FILE.pdf|FILE.html`: the year's report
(评议工作年度报告) built only from the three services' HTTP APIs, as an
integrator would: the plan, the ranking with each department's five weighted
contributions drawn, the selection rounds, each chosen department's case
(commitments, progress, satisfaction results, investigation, re-report,
escalation), and motions and audit findings in summary."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

import httpx

from shared.web.documents import html_to_pdf, render_html

TEMPLATES = Path(__file__).parent / "templates"
SOURCE_COLOURS = {"net_complaints": "#b8312f", "npc_deputies": "#2c6fbb", "working_committees": "#3d9970",
                  "districts_and_enterprises": "#e0a100", "public": "#7d4fb0"}


def _all(client: httpx.Client, path: str, **params) -> list[dict]:
    out, cursor = [], None
    while True:
        resp = client.get(path, params={"limit": 100, **params, **({"cursor": cursor} if cursor else {})})
        resp.raise_for_status()
        page = resp.json()
        out += page["items"]
        if not (cursor := page.get("next_cursor")):
            return out


def _get(client: httpx.Client, path: str, **params) -> Any:
    resp = client.get(path, params=params)
    return resp.json() if resp.status_code == 200 else None


def contribution_chart(ranking: list[dict], *, width: int = 640, bar: int = 16) -> str:
    """Stacked horizontal bars, one per department: its five weighted contributions.
    Drawn here as a handful of SVG rectangles (WeasyPrint renders inline SVG); no
    charting library is needed for that."""
    label_w, gap = 190, 6
    scale = (width - label_w - 50) / 100.0
    height = len(ranking) * (bar + gap) + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="10">']
    for i, entry in enumerate(ranking):
        y = i * (bar + gap)
        parts.append(f'<text x="{label_w - 6}" y="{y + bar - 4}" text-anchor="end">{entry["rank"]}. {escape(entry["department"])}</text>')
        x = float(label_w)
        for part in entry["explanation"]:
            w = max(0.0, part["contribution"]) * scale
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" fill="{SOURCE_COLOURS.get(part["source"], "#888")}"/>')
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + bar - 4}">{entry["score"]:.1f}</text>')
    legend_y = len(ranking) * (bar + gap) + 14
    labels = {p["source"]: p["source_label"] for e in ranking[:1] for p in e["explanation"]}
    x = 10.0
    for source, colour in SOURCE_COLOURS.items():
        parts.append(f'<rect x="{x:.0f}" y="{legend_y}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{x + 14:.0f}" y="{legend_y + 9}">{escape(labels.get(source, source))}</text>')
        x += 14 + 10 * len(labels.get(source, source)) + 10
    parts.append("</svg>")
    return "".join(parts)


def gather(voting: httpx.Client, scoring: httpx.Client, tracking: httpx.Client, year: int) -> dict[str, Any]:
    plans = [p for p in _all(scoring, "/v1/year-plans") if p["evaluation_year"] == year]
    if not plans:
        raise LookupError(f"no year plan for {year}")
    plan = plans[0]
    batches = []
    for batch in plan["batches"]:
        ranking = _get(scoring, f"/v1/year-plans/{plan['id']}/batches/{batch['batch']}/ranking")
        batches.append({**batch, "ranking": ranking,
                        "chart": contribution_chart(ranking["ranking"]) if ranking and ranking.get("ranking") else None})
    meetings = [m for m in _all(voting, "/v1/meetings") if str(m["held_on"]).startswith(str(year))]
    selections = []
    for meeting in meetings:
        record = _get(voting, f"/v1/meetings/{meeting['id']}/record")
        rounds = [b for b in (record or {}).get("ballots", []) if b["kind"] == "competitive_selection" and b["status"] != "void"]
        if rounds:
            selections.append({"meeting": record, "rounds": rounds})
    results = [r for r in _all(scoring, "/v1/satisfaction-results") if r["evaluation_year"] == year]
    cases = []
    for case in sorted((c for c in _all(tracking, "/v1/cases") if c["evaluation_year"] == year),
                       key=lambda c: (c.get("batch") or 0, c["department"])):
        detail = _get(tracking, f"/v1/cases/{case['id']}")
        commitments = [_get(tracking, f"/v1/commitments/{c['id']}") or c for c in _all(tracking, "/v1/commitments", case_id=case["id"])]
        cases.append({
            "case": detail, "commitments": commitments,
            "results": sorted((r for r in results if r["department"] == case["department"]), key=lambda r: r["meeting_date"]),
            "escalations": (_get(tracking, f"/v1/cases/{case['id']}/escalation-steps") or {}).get("items", []),
        })
    motions = _all(tracking, "/v1/motions")
    audits = [_get(tracking, f"/v1/audit-cases/{a['id']}") or a for a in _all(tracking, "/v1/audit-cases")]
    return {"year": year, "plan": plan, "batches": batches, "selections": selections, "cases": cases,
            "motions": motions, "audits": audits}


def render(data: dict[str, Any]) -> str:
    return render_html(TEMPLATES, "year_report.html", **data)


def write_report(urls: dict[str, str], key: str, year: int, out: Path) -> Path:
    headers = {"Authorization": f"Bearer {key}"}
    clients = {s: httpx.Client(base_url=u, headers=headers, timeout=60) for s, u in urls.items()}
    try:
        html = render(gather(clients["voting"], clients["scoring"], clients["tracking"], year))
    finally:
        for client in clients.values():
            client.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".pdf":
        out.write_bytes(html_to_pdf(html))
    else:
        out.write_text(html, encoding="utf-8")
    return out


def register(app) -> None:
    """`pingyi report`: registered on the CLI by shared.ops.cli."""
    import typer

    @app.command()
    def report(
        year: int = typer.Option(..., help="the evaluation year, e.g. 2021"),
        out: Path = typer.Option(..., help="FILE.pdf or FILE.html"),
        voting: str = typer.Option("http://127.0.0.1:8001", help="voting's URL"),
        scoring: str = typer.Option("http://127.0.0.1:8002", help="scoring's URL"),
        tracking: str = typer.Option("http://127.0.0.1:8003", help="tracking's URL"),
        key: str = typer.Option(None, envvar="PINGYI_OPERATOR_KEY", help="API key with read scope (default: var/operator.key)"),
    ) -> None:
        """The year's report (评议工作年度报告) from the services' APIs, as PDF or HTML."""
        key = key or Path("var/operator.key").read_text().strip()
        try:
            path = write_report({"voting": voting, "scoring": scoring, "tracking": tracking}, key, year, out)
        except (LookupError, httpx.HTTPError) as exc:
            typer.echo(f"report not written: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"wrote {path}")
