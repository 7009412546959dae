"""The one origin in docker-compose.yml: an official reverse-proxy image in front of
the services, trusted by them for forwarded headers from its fixed address only.
(deploy/proxy/nginx.conf itself runs in tests/test_generated_client.py.)"""

from __future__ import annotations

import ipaddress
import re

from tests.test_deploy import APP_SERVICES, REPO, _published, compose, empty_env_file  # noqa: F401 - fixtures

PROXY_CONF = REPO / "deploy" / "proxy" / "nginx.conf"


def _environment(service: dict) -> dict:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return environment


def test_the_proxy_is_an_official_image_with_the_repositorys_config(compose: dict) -> None:
    proxy = compose["services"]["proxy"]
    assert re.fullmatch(r"nginx:[\d.]+-alpine", proxy["image"]), proxy["image"]
    mounts = [str(v.get("source", v) if isinstance(v, dict) else v) for v in proxy["volumes"]]
    assert any(m.split(":")[0].endswith("deploy/proxy/nginx.conf") for m in mounts), mounts
    assert [_published(p) for p in proxy["ports"]] == [("127.0.0.1", "8080", "8080")]


def test_the_services_trust_forwarded_headers_from_the_proxy_and_portal_alone(compose: dict) -> None:
    services = compose["services"]
    proxy = services["proxy"]["networks"]["edge"]["ipv4_address"]
    portal = services["portal"]["networks"]["edge"]["ipv4_address"]
    subnet = compose["networks"]["edge"]["ipam"]["config"][0]["subnet"]
    assert {ipaddress.ip_address(a) in ipaddress.ip_network(subnet) for a in (proxy, portal)} == {True}
    for name in APP_SERVICES:
        environment = _environment(services[name])
        assert environment[f"{name.upper()}_TRUSTED_PROXIES"].split(",") == [proxy, portal], name
        assert environment[f"{name.upper()}_ROOT_PATH"] == f"/{name}"
        assert "edge" in services[name]["networks"]


def test_the_proxy_routes_every_prefix_and_sets_limits() -> None:
    conf = PROXY_CONF.read_text()
    for name in APP_SERVICES:
        assert f"location /{name}/ {{" in conf and f"set $upstream {name}:8000;" in conf
    assert "location / {" in conf and "set $upstream portal:8000;" in conf
    assert "client_max_body_size 1m;" in conf and "proxy_read_timeout 60s;" in conf
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf  # never the chain a client sent
