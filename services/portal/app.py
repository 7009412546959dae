"""The portal: the people's pages, server-rendered in Chinese, reading the other
three services over HTTP. No database of its own."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from services.portal.ballots.endpoints import router as member_vote_router
from services.portal.board.endpoints import router as board_router
from services.portal.polls.endpoints import router as public_vote_router
from services.portal.settings import PortalSettings
from services.portal.site.endpoints import router as site_router
from services.portal.upstream import UpstreamProblem, UpstreamUnavailable, Upstreams
from services.portal.web import HERE, page
from shared.ops.logging import configure_logging

ROUTERS = [site_router, board_router, member_vote_router, public_vote_router]

# Everything a page loads comes from the portal itself: no CDN, no outside font or script.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class SecurityHeaders:
    """A plain ASGI middleware (cheaper than BaseHTTPMiddleware on the polled paths)."""

    HEADERS = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()), (b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", b"same-origin")]

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(settings: PortalSettings | None = None, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    settings = settings or PortalSettings()
    configure_logging(settings.log_level, json=settings.log_json)
    upstreams = Upstreams(settings, transport=transport)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await upstreams.close()

    app = FastAPI(title="Pingyi portal 评议·公开", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.upstreams = upstreams
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    app.add_middleware(SecurityHeaders)

    @app.exception_handler(UpstreamUnavailable)
    async def unavailable(request: Request, exc: UpstreamUnavailable):
        return page(request, "message.html", {"title": "暂时无法显示", "message": "数据服务暂时没有响应，请稍后刷新本页。"},
                    status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(UpstreamProblem)
    async def refused(request: Request, exc: UpstreamProblem):
        status = 404 if exc.status == 404 else 502
        message = "您要查看的内容不存在或尚未公布。" if exc.status == 404 else f"数据服务拒绝了请求：{exc.chinese}"
        return page(request, "message.html", {"title": "未找到" if status == 404 else "出错了", "message": message},
                    status_code=status)

    @app.get("/healthz/live", include_in_schema=False)
    async def live():
        return {"status": "ok"}

    @app.get("/healthz/ready", include_in_schema=False)
    async def ready():
        checks = {}
        for upstream in upstreams:
            try:
                checks[upstream.name] = (await upstream.client.get("/healthz/live")).status_code == 200
            except httpx.HTTPError:
                checks[upstream.name] = False
        return JSONResponse({"status": "ok" if all(checks.values()) else "unavailable", "checks": checks},
                            status_code=200 if all(checks.values()) else 503)

    return app
