"""A client that works: each service's OpenAPI, as the running service serves it
through the one-origin proxy, is turned into a Python client by
openapi-python-client, and the README's core flow runs with those clients only,
against the real processes (Tansu, the three services, nginx with
deploy/proxy/nginx.conf). A spec the generator warns about, or a client that
cannot carry the flow, fails the build."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from shared.ops.embedded import EmbeddedStack, free_ports
from tests.test_webhooks import Receiver, free_port
from tests.waiting import wait_for

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[1]
PROXY_CONF = REPO / "deploy" / "proxy" / "nginx.conf"
SERVICES = ("voting", "scoring", "tracking")
IN_CI = os.environ.get("CI") == "true"
MEMBERS = [{"member_id": "m1", "name": "张三"}, {"member_id": "m2", "name": "李四"}, {"member_id": "m3", "name": "王五"}]


class Proxy:
    """nginx running deploy/proxy/nginx.conf on the loopback, the compose names replaced by the test's ports."""

    def __init__(self, tmp: Path, upstreams: dict[str, int]) -> None:
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        if nginx is None:
            reason = "nginx is not installed (make tools installs nginx-light)"
            if IN_CI:
                pytest.fail(f"{reason} (CI=true: make test must install it)")
            pytest.skip(reason)
        self.port = free_port()
        conf = PROXY_CONF.read_text()
        assert "listen 8080;" in conf and "resolver 127.0.0.11" in conf
        conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
        conf = conf.replace("pid /tmp/nginx.pid;", f"pid {tmp}/nginx.pid;")
        conf = conf.replace("http {", f"http {{\n    client_body_temp_path {tmp}/body;\n    proxy_temp_path {tmp}/proxy;", 1)
        for name, port in upstreams.items():
            conf = conf.replace(f"{name}:8000", f"127.0.0.1:{port}")
        (tmp / "nginx.conf").write_text(conf)
        self.log = open(tmp / "nginx.log", "wb")
        self.process = subprocess.Popen([nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", str(tmp / "error.log"),
                                         "-g", "daemon off; user root;"], stdout=self.log, stderr=self.log)
        try:
            wait_for(lambda: self._up(), "nginx to answer for voting", timeout=20)
        except BaseException:
            self.stop()
            raise

    def _up(self) -> bool:
        assert self.process.poll() is None, (Path(self.log.name).read_text(), "nginx exited")
        try:
            return httpx.get(f"{self.url}/voting/healthz/live", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


def generate_clients(specs: dict[str, Path], out: Path) -> dict[str, str]:
    """Run openapi-python-client on each spec (in parallel); fails on an error or any warning."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # its ruff post-hook
    runs = {}
    for service, spec in specs.items():
        runs[service] = subprocess.Popen(
            [str(bin_dir / "openapi-python-client"), "generate", "--path", str(spec), "--output-path",
             str(out / f"{service}_client"), "--meta", "none"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = {}
    for service, run in runs.items():
        output, _ = run.communicate(timeout=300)
        assert run.returncode == 0, f"openapi-python-client failed on {service}'s spec:\n{output}"
        assert "Warning" not in output and "Skipping" not in output, f"{service}'s spec made warnings:\n{output}"
        outputs[service] = output
    return outputs


class GeneratedApi:
    """One service's generated client, its operations found by method and path (the ids may change)."""

    def __init__(self, package: str, spec: dict, base_url: str, token: str) -> None:
        self.spec, self.base_url, self.token = spec, base_url, token
        client_module = importlib.import_module(f"{package}.client")
        self.AuthenticatedClient, self.Client = client_module.AuthenticatedClient, client_module.Client
        api = importlib.import_module(f"{package}.api")
        self.modules = {}
        for tag in pkgutil.iter_modules(api.__path__):
            tag_package = importlib.import_module(f"{package}.api.{tag.name}")
            for op in pkgutil.iter_modules(tag_package.__path__):
                self.modules[op.name] = importlib.import_module(f"{package}.api.{tag.name}.{op.name}")

    def call(self, method: str, path: str, *, token: str | None = None, anonymous: bool = False, body=None, **params):
        # The generator snake-cases the operation id (no doubled underscores) into the module name.
        module = self.modules[re.sub(r"_+", "_", self.spec["paths"][path][method]["operationId"]).strip("_")]
        client = (self.Client(base_url=self.base_url, timeout=httpx.Timeout(15)) if anonymous else
                  self.AuthenticatedClient(base_url=self.base_url, token=token or self.token, timeout=httpx.Timeout(15)))
        if body is not None:
            params["body"] = inspect.signature(module.sync_detailed).parameters["body"].annotation.from_dict(body)
        return module.sync_detailed(client=client, **params)


def ok(response, status: int = 200) -> dict:
    """The typed model the client parsed, as a dict; the status must be the one expected."""
    assert response.status_code == status, response.content
    assert response.parsed is not None and hasattr(response.parsed, "to_dict"), type(response.parsed)
    return response.parsed.to_dict()


@pytest.fixture
def stack_behind_proxy(tmp_path, monkeypatch):
    for service in SERVICES:  # as docker-compose sets them
        monkeypatch.setenv(f"{service.upper()}_ROOT_PATH", f"/{service}")
    monkeypatch.setenv("SCORING_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")  # the test's receiver
    monkeypatch.setenv("SCORING_WEBHOOK_RETRY_BASE_SECONDS", "0.2")
    with EmbeddedStack(var_dir=tmp_path / "var", ports=free_ports()) as stack:
        upstreams = {**stack.ports, "portal": free_port()}  # no portal here: / answers 502
        (tmp_path / "nginx").mkdir()
        proxy = Proxy(tmp_path / "nginx", upstreams)
        try:
            yield stack, proxy
        finally:
            proxy.stop()


def test_the_readme_core_flow_runs_with_generated_clients_through_the_proxy(stack_behind_proxy, tmp_path):
    stack, proxy = stack_behind_proxy
    specs = {}
    for service in SERVICES:
        resp = httpx.get(f"{proxy.url}/{service}/openapi.json", timeout=10)
        assert resp.status_code == 200
        assert resp.json()["servers"] == [{"url": f"/{service}"}]  # the service knows its prefix
        specs[service] = tmp_path / f"{service}.json"
        specs[service].write_text(resp.text)
    out = tmp_path / "generated"
    out.mkdir()
    generate_clients(specs, out)
    sys.path.insert(0, str(out))
    try:
        import json

        api = {s: GeneratedApi(f"{s}_client", json.loads(specs[s].read_text()), f"{proxy.url}/{s}", stack.operator_key)
               for s in SERVICES}
        run_core_flow(api, stack)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.split(".")[0] in {f"{s}_client" for s in SERVICES}]:
            del sys.modules[name]

    # The proxy answers for the portal's place and hides the services' metrics.
    assert httpx.get(f"{proxy.url}/", timeout=10).status_code == 502
    assert httpx.get(f"{proxy.url}/voting/metrics", timeout=10).status_code == 404


def run_core_flow(api: dict[str, GeneratedApi], stack: EmbeddedStack) -> None:
    voting, scoring, tracking = api["voting"], api["scoring"], api["tracking"]

    # An integrator subscribes to 不满意 before the vote (scoring produces vote.marked_unsatisfied).
    receiver = Receiver().start()
    try:
        webhook = ok(scoring.call("post", "/v1/webhooks", body={
            "url": receiver.url, "event_types": ["vote.marked_unsatisfied"], "description": "12345政务服务便民热线平台"}), 201)

        meeting = ok(voting.call("post", "/v1/meetings", idempotency_key=str(uuid.uuid4()), body={
            "number": "第四十四次会议", "held_on": "2021-08-26", "members": MEMBERS}), 201)
        checked_in = ok(voting.call("post", "/v1/meetings/{meeting_id}/check-ins", meeting_id=meeting["id"],
                                    body={"member_ids": ["m1", "m2", "m3"]}))
        assert checked_in["quorum"] is True
        ballot = ok(voting.call("post", "/v1/meetings/{meeting_id}/ballots", meeting_id=meeting["id"],
                                body={"department": "淄博市教育局", "evaluation_year": 2021}), 201)
        assert ok(voting.call("post", "/v1/ballots/{ballot_id}/open", ballot_id=ballot["id"]))["status"] == "open"
        for member in ("m1", "m2"):
            token = ok(voting.call("post", "/v1/meetings/{meeting_id}/member-tokens", meeting_id=meeting["id"],
                                   body={"member_id": member}))["token"]
            ok(voting.call("post", "/v1/ballots/{ballot_id}/votes", ballot_id=ballot["id"], token=token,
                           body={"member_id": member, "choice": "unsatisfied"}), 201)
        closed = ok(voting.call("post", "/v1/ballots/{ballot_id}/close", ballot_id=ballot["id"]))
        assert closed["status"] == "closed"

        result = wait_for(lambda: (r := scoring.call("get", "/v1/satisfaction-results/{ballot_id}",
                                                      ballot_id=ballot["id"])).status_code == 200 and ok(r),
                          "scoring to grade the ballot")
        assert (result["grade_label"], result["unsatisfied_round"]) == ("不满意", 1)

        cases = wait_for(lambda: ok(tracking.call("get", "/v1/cases"))["items"], "tracking to open the case")
        assert cases[0]["department"] == "淄博市教育局"
        public = ok(tracking.call("get", "/v1/public/cases", anonymous=True))["items"]
        assert public and public[0]["department"] == "淄博市教育局"

        following = ok(voting.call("post", "/v1/meetings", body={
            "number": "第四十五次会议", "held_on": "2021-10-28", "members": MEMBERS}), 201)
        agenda = wait_for(lambda: [item for item in ok(voting.call("get", "/v1/meetings/{meeting_id}/agenda",
                                                                     meeting_id=following["id"]))["items"]
                                   if item["kind"] == "rereport_revote"], "the re-report on the next agenda")
        assert agenda[0]["department"] == "淄博市教育局"

        verification = ok(tracking.call("get", "/v1/admin/audit-log/verification"))
        assert verification["intact"] is True

        # The webhook came, signed; the delivery log says so through the client too.
        wait_for(lambda: receiver.requests, "the webhook delivery")
        headers, body = receiver.requests[0]
        event = Webhook(webhook["secret"]).verify(body, headers)
        assert event["type"] == "vote.marked_unsatisfied" and event["payload"]["department"] == "淄博市教育局"
        log = wait_for(lambda: [d for d in ok(scoring.call("get", "/v1/webhooks/{webhook_id}/deliveries",
                                                           webhook_id=webhook["id"]))["items"] if d["status"] == "delivered"],
                       "the delivery log")
        assert log[0]["event_id"] == headers["webhook-id"]

        # A refusal arrives as the typed problem, naming the prefix the caller used.
        missing = voting.call("get", "/v1/ballots/{ballot_id}", ballot_id="no-such-ballot")
        assert missing.status_code == 404
        assert missing.parsed is not None
        assert b"/voting/v1/ballots/no-such-ballot" in missing.content
    finally:
        receiver.stop()
