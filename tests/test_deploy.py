"""The production container setup: deploy/Dockerfile and docker-compose.yml.

No Docker daemon is needed: `docker-compose config` validates and normalises
the compose file offline, and the Dockerfile is checked as text.

docker-compose here is Debian's package (1.29). Without it these tests skip
locally, but under CI=true they fail: .ci/run installs it with apt.

YAML is read with PyYAML when the venv has it, and otherwise with the
interpreter that runs docker-compose (which always has PyYAML), so the
project needs no new dependency for these tests.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_EXAMPLE = REPO / "deploy" / "env.example"

IN_CI = os.environ.get("CI") == "true"

APP_IMAGE = "pingyi:local"
APP_SERVICES = {"voting": 8001, "scoring": 8002, "tracking": 8003}  # name -> host port
CONTAINER_PORT = 8000
TOPICS = ("ballot.closed", "score.computed", "vote.marked_unsatisfied", "rereport.scheduled")

# Every `pingyi` subcommand that the deploy files may name; each one's
# --help is run below, and a test fails if the files name one not listed.
CLI_SUBCOMMANDS = ("serve", "migrate")

# Variables docker-compose.yml substitutes; removed from the environment of
# the docker-compose runs so that the tests see the repository's defaults,
# not a developer's shell (nor a developer's .env: see --env-file below).
COMPOSE_VARS = ("POSTGRES_PASSWORD", "PINGYI_LOG_LEVEL", "KAFKA_CLUSTER_ID")


def _need(reason: str) -> None:
    """Skip locally, fail under CI=true."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: .ci/run must provide it)")
    pytest.skip(reason)


def _docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        _need("docker-compose is not installed (apt-get install -y docker-compose)")
    return path


def _compose(args: list[str], env_file: Path) -> subprocess.CompletedProcess[str]:
    """docker-compose with the repository's file, cwd the repo root, and
    `env_file` in place of the (git-ignored, maybe secret) .env."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in COMPOSE_VARS and not key.startswith("COMPOSE_")
    }
    return subprocess.run(
        [_docker_compose(), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _load_yaml(text: str) -> object:
    try:
        import yaml
    except ImportError:
        pass
    else:
        return yaml.safe_load(text)
    # No PyYAML in the venv: use the interpreter docker-compose runs on.
    compose = shutil.which("docker-compose")
    if compose is None:
        _need("reading YAML needs PyYAML in the venv or docker-compose's own Python")
    with open(compose, "rb") as fh:
        first = fh.readline().decode(errors="replace").strip()
    if not first.startswith("#!"):
        _need(f"cannot find the interpreter of {compose} to read YAML with")
    interpreter = shlex.split(first[2:])
    done = subprocess.run(
        [*interpreter, "-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"reading YAML with {interpreter} failed:\n{done.stderr}"
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def empty_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compose") / "empty.env"
    path.write_text("")
    return path


@pytest.fixture(scope="module")
def compose(empty_env_file: Path) -> dict:
    """The compose model as docker-compose normalises it (anchors merged,
    variables substituted with their defaults); the raw file parsed as YAML
    where docker-compose is missing (outside CI)."""
    if shutil.which("docker-compose") is not None or IN_CI:
        done = _compose(["config"], empty_env_file)
        assert done.returncode == 0, done.stderr
        model = _load_yaml(done.stdout)
    else:
        model = _load_yaml(COMPOSE_FILE.read_text())
    assert isinstance(model, dict) and isinstance(model.get("services"), dict)
    return model


def _command(service: dict) -> list[str]:
    command = service.get("command")
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command]


def _app_services(compose: dict) -> dict[str, dict]:
    """Every service run from the Pingyi image (the three services, migrate)."""
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image") == APP_IMAGE or "build" in service
    }


def _published(port: object) -> tuple[str | None, str | None, str]:
    """(host ip, host port, container port) of one `ports:` entry, in any of
    compose's forms: "ip:host:container[/proto]", "host:container", a
    container port alone, or the long mapping form."""
    if isinstance(port, dict):
        published = port.get("published")
        return port.get("host_ip"), None if published is None else str(published), str(port.get("target"))
    spec = str(port).split("/", 1)[0]
    host_ip = None
    if spec.startswith("["):  # [::1]:8001:8000
        host_ip, _, spec = spec[1:].partition("]")
        spec = spec.lstrip(":")
    parts = spec.split(":")
    if len(parts) == 3:
        host_ip, parts = parts[0], parts[1:]
    if len(parts) == 2:
        return host_ip, parts[0], parts[1]
    return host_ip, None, parts[0]


# -- (a) docker-compose accepts the file --------------------------------------


def test_compose_config_accepts_the_file_without_dotenv(empty_env_file: Path) -> None:
    done = _compose(["config", "-q"], empty_env_file)
    assert done.returncode == 0, f"docker-compose config failed:\n{done.stderr}"
    # Every ${VAR} must carry a default (or be documented as required and
    # fail closed), so a fresh clone with no .env validates silently.
    assert "variable is not set" not in done.stderr, done.stderr


def test_compose_config_accepts_the_env_example() -> None:
    done = _compose(["config", "-q"], ENV_EXAMPLE)
    assert done.returncode == 0, f"docker-compose config with deploy/env.example failed:\n{done.stderr}"
    assert "variable is not set" not in done.stderr, done.stderr


# -- (b) the pingyi subcommands the deploy files name exist ---------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile_instructions()
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert starts, "Dockerfile has no FROM"
    return instructions[starts[-1]:]


def _exec_form(keyword: str, value: str) -> list[str]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = None
    assert isinstance(parsed, list) and parsed and all(isinstance(x, str) for x in parsed), (
        f"{keyword} must use the exec (JSON array) form, got: {keyword} {value}"
    )
    return parsed


def _dockerfile_entrypoint_and_cmd() -> tuple[list[str], list[str]]:
    stage = _final_stage()
    entrypoints = [value for keyword, value in stage if keyword == "ENTRYPOINT"]
    cmds = [value for keyword, value in stage if keyword == "CMD"]
    assert entrypoints, "the final stage has no ENTRYPOINT"
    assert cmds, "the final stage has no CMD"
    return _exec_form("ENTRYPOINT", entrypoints[-1]), _exec_form("CMD", cmds[-1])


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    # As the image runs it: no service configuration in the environment.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VOTING_", "SCORING_", "TRACKING_"))
    }
    env.update(COLUMNS="200", NO_COLOR="1", TERM="dumb")
    return subprocess.run(
        [sys.executable, "-c", "from shared.ops.cli import main; main()", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _named_invocations(compose: dict) -> list[list[str]]:
    """The argument lists that the deploy files pass to `pingyi`."""
    entrypoint, cmd = _dockerfile_entrypoint_and_cmd()
    invocations = [cmd]
    for name, service in _app_services(compose).items():
        assert "entrypoint" not in service, f"{name} must keep the image's `pingyi` entrypoint"
        command = _command(service)
        assert command, f"{name} must name its pingyi subcommand"
        invocations.append(command)
    return invocations


def test_dockerfile_entrypoint_is_pingyi() -> None:
    entrypoint, _ = _dockerfile_entrypoint_and_cmd()
    assert entrypoint == ["pingyi"]


def test_deploy_files_name_only_known_subcommands(compose: dict) -> None:
    named = {invocation[0] for invocation in _named_invocations(compose)}
    assert named <= set(CLI_SUBCOMMANDS), (
        f"deploy files name pingyi subcommands {sorted(named - set(CLI_SUBCOMMANDS))} "
        f"that no test checks; add them to CLI_SUBCOMMANDS"
    )
    assert named == set(CLI_SUBCOMMANDS), f"unused entries in CLI_SUBCOMMANDS: {set(CLI_SUBCOMMANDS) - named}"


def test_cli_help_runs() -> None:
    # The image build runs `pingyi --help` as a smoke test.
    done = _run_cli("--help")
    assert done.returncode == 0, f"pingyi --help failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("subcommand", CLI_SUBCOMMANDS)
def test_cli_subcommand_exists(subcommand: str, compose: dict) -> None:
    done = _run_cli(subcommand, "--help")
    assert done.returncode == 0, f"pingyi {subcommand} --help failed:\n{done.stdout}\n{done.stderr}"
    # The options the deploy files pass to it are among its options.
    options = {
        arg.split("=", 1)[0]
        for invocation in _named_invocations(compose)
        if invocation[0] == subcommand
        for arg in invocation[1:]
        if arg.startswith("--")
    }
    for option in sorted(options):
        assert option in done.stdout, f"pingyi {subcommand} has no {option} option:\n{done.stdout}"


def test_compose_commands_match_their_services(compose: dict) -> None:
    services = compose["services"]
    for name in APP_SERVICES:
        assert _command(services[name]) == ["serve", name, "--host", "0.0.0.0", "--port", str(CONTAINER_PORT)]
    assert _command(services["migrate"]) == ["migrate", "all"]
    _, cmd = _dockerfile_entrypoint_and_cmd()
    assert cmd[:2] == ["serve", "voting"] and cmd[1] in APP_SERVICES


# -- (c) the Dockerfile's shape ------------------------------------------------


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    instructions = _dockerfile_instructions()
    args = dict(
        value.split("=", 1)
        for keyword, value in instructions
        if keyword == "ARG" and "=" in value
    )
    bases = [value.split()[0] for keyword, value in instructions if keyword == "FROM"]
    assert len(bases) >= 2, "expected a builder stage and a runtime stage"
    final = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), bases[-1])
    assert final.startswith("python:3.11-slim"), final


def test_dockerfile_exec_forms() -> None:
    entrypoint, cmd = _dockerfile_entrypoint_and_cmd()
    assert entrypoint and cmd
    for keyword, value in _final_stage():
        if keyword == "HEALTHCHECK" and value.upper() != "NONE":
            _, _, command = value.partition("CMD ")
            _exec_form("HEALTHCHECK CMD", command.strip())


def test_dockerfile_runs_as_non_root() -> None:
    users = [value.split(":", 1)[0].strip() for keyword, value in _final_stage() if keyword == "USER"]
    assert users, "the final stage has no USER: the image would run as root"
    assert users[-1] not in {"root", "0"}, f"the final stage runs as {users[-1]}"


def test_dockerfile_stopsignal_is_sigterm() -> None:
    signals = [value for keyword, value in _final_stage() if keyword == "STOPSIGNAL"]
    assert signals and signals[-1] in {"SIGTERM", "15"}


def test_dockerfile_copies_only_what_exists_and_is_not_ignored() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".env", ".venv", ".git", "var"):
        assert required in ignored, f".dockerignore must exclude {required}"
    for keyword, value in _dockerfile_instructions():
        if keyword not in {"COPY", "ADD"}:
            continue
        if any(word.startswith("--from") for word in value.split()):
            continue  # from another stage, not from the build context
        words = [word for word in value.split() if not word.startswith("--")]
        sources = words[:-1]
        assert sources, f"{keyword} {value}: no source"
        matched = 0
        for source in sources:
            top = source.removeprefix("./").split("/", 1)[0]
            assert top not in ignored, f"{keyword} {source}: excluded by .dockerignore"
            if any(char in source for char in "*?["):
                # May match nothing, as long as the instruction copies something.
                matched += len(list(REPO.glob(source)))
            else:
                assert (REPO / source).exists(), f"{keyword} {source}: not in the build context (the repo root)"
                matched += 1
        assert matched, f"{keyword} {value}: copies nothing from the build context"


# -- (c) the compose file's shape ----------------------------------------------


def test_compose_has_no_version_key_nor_env_file() -> None:
    text = COMPOSE_FILE.read_text()
    assert not re.search(r"^version\s*:", text, re.M), "no top-level `version:` key"
    # docker-compose 1.29 refuses an env_file that does not exist.
    assert not re.search(r"^\s+env_file\s*:", text, re.M), "use ${VAR} substitution from .env, not env_file"


def test_compose_published_ports_bind_loopback_only(compose: dict) -> None:
    for name, service in compose["services"].items():
        assert service.get("network_mode") != "host", f"{name} must not use the host network"
        for port in service.get("ports") or []:
            host_ip, _, _ = _published(port)
            assert host_ip, f"{name} publishes {port!r} on every interface; bind it to 127.0.0.1"
            assert ipaddress.ip_address(host_ip).is_loopback, f"{name} publishes {port!r} beyond loopback"


def test_compose_services_publish_their_ports(compose: dict) -> None:
    services = compose["services"]
    for name, host_port in APP_SERVICES.items():
        published = [_published(port) for port in services[name].get("ports") or []]
        assert published == [("127.0.0.1", str(host_port), str(CONTAINER_PORT))], f"{name}: {published}"
    for name in ("kafka", "postgres", "kafka-init", "migrate"):
        assert not services[name].get("ports"), f"{name} must not be published on the host"


def test_compose_app_services_wait_and_stop_gracefully(compose: dict) -> None:
    services = compose["services"]
    for name in APP_SERVICES:
        service = services[name]
        assert service.get("image") == APP_IMAGE
        assert Path(str(service["build"].get("dockerfile"))).as_posix().endswith("deploy/Dockerfile")
        depends = service.get("depends_on")
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        assert {key: value.get("condition") for key, value in depends.items()} == {
            "postgres": "service_healthy",
            "kafka": "service_healthy",
            "kafka-init": "service_completed_successfully",
            "migrate": "service_completed_successfully",
            "redis": "service_healthy",
        }
        assert service.get("stop_grace_period") == "30s"
        assert service.get("restart") == "unless-stopped"
        assert "/healthz/ready" in " ".join(service["healthcheck"]["test"])
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        prefix = name.upper() + "_"
        for key in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"):
            assert prefix + key in environment, f"{name}: {prefix + key} is not set"
        # Member tokens are checked by every service: no service may keep the development secret.
        assert environment[prefix + "AUTH_TOKEN_SECRET"] in ("", None), f"{name}: the token secret must come from .env"
        # Rate limits shared by replicas.
        assert environment[prefix + "RATE_LIMIT_STORAGE_URI"] == "redis://redis:6379/0"
        assert str(environment[prefix + "KAFKA_SESSION_TIMEOUT_MS"]) == "45000"
        assert str(environment[prefix + "KAFKA_HEARTBEAT_INTERVAL_MS"]) == "3000"
        assert str(environment[prefix + "KAFKA_MAX_POLL_INTERVAL_MS"]) == "300000"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"].get("restart") in {"no", None}


def test_compose_portal_reads_the_services_over_the_network_once_they_are_healthy(compose: dict) -> None:
    portal = compose["services"]["portal"]
    assert portal["command"] == ["serve", "portal", "--host", "0.0.0.0", "--port", "8000"]
    assert [_published(port) for port in portal["ports"]] == [("127.0.0.1", "8000", str(CONTAINER_PORT))]
    assert {k: v["condition"] for k, v in portal["depends_on"].items()} == {s: "service_healthy" for s in APP_SERVICES}
    environment = portal["environment"]
    for service in APP_SERVICES:
        assert environment[f"PORTAL_{service.upper()}_URL"] == f"http://{service}:8000"
    assert "/healthz/ready" in " ".join(portal["healthcheck"]["test"])
    assert not any("DATABASE_URL" in key for key in environment)  # no database of its own


def test_compose_redis_keeps_nothing_on_disk_and_reports_health(compose: dict) -> None:
    redis = compose["services"]["redis"]
    assert "ports" not in redis
    assert "--save" in redis["command"] and "redis-cli" in " ".join(redis["healthcheck"]["test"])


def test_compose_kafka_init_creates_the_topics(compose: dict) -> None:
    script = " ".join(_command(compose["services"]["kafka-init"]))
    assert "--if-not-exists" in script
    for topic in TOPICS:
        assert topic in script, f"kafka-init does not create {topic}"
    assert compose["services"]["kafka-init"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_compose_holds_no_password() -> None:
    text = COMPOSE_FILE.read_text()
    for match in re.finditer(r"^\s*POSTGRES_PASSWORD\s*:\s*(\S*)", text, re.M):
        assert match.group(1).startswith("${POSTGRES_PASSWORD"), match.group(0)
    for match in re.finditer(r"postgresql://([^@\s]*)@", text):
        user, _, password = match.group(1).partition(":")
        assert password.startswith("${POSTGRES_PASSWORD"), f"literal password in {match.group(0)}"
