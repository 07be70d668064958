"""ElderMap for deployment: ``streamlit run serve.py`` serves app.py behind a small guard.

Streamlit detects the ``st.App`` below and runs it as an ASGI application with the same
.streamlit/config.toml as ``streamlit run app.py``. What the guard adds, from process start:

- ``/_stcore/metrics`` (session and cache counters) and ``/_stcore/agent/*`` answer 404: Streamlit
  has no option to switch the metrics endpoint off;
- a download (``/media/<id>`` answered with ``Content-Disposition: attachment``: the workbooks of the
  staff pages) is served only to a browser holding a valid ElderMap session cookie
  (:data:`views.access.SESSION_COOKIE`, verified with :func:`data.auth.verify_token`); pictures and other
  inline media stay public;
- Streamlit's lookups of this machine's addresses (checkip.amazonaws.com, a UDP socket towards
  8.8.8.8) are pinned to loopback before the first connection (as :func:`app.pin_address_lookups`
  does from the first page run on).

Nothing of ElderMap is imported at module level: page modules create their Streamlit caches on
import, which must happen inside the running server.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

import streamlit as st
from starlette.middleware import Middleware
from streamlit import config, net_util

CLOSED_PATHS = ("/_stcore/metrics", "/_stcore/agent/")
"""Path prefixes that answer 404 (after server.baseUrlPath)."""


def _has_session(scope) -> bool:
    """Whether the request carries a valid, unexpired, unrevoked ElderMap session cookie."""
    from data import auth, store
    from views.access import SESSION_COOKIE

    raw = b"; ".join(v for k, v in scope.get("headers", []) if k == b"cookie").decode("latin-1")
    try:
        cookie = SimpleCookie(raw).get(SESSION_COOKIE)
    except CookieError:
        return False
    if cookie is None or not cookie.value:
        return False
    root = store.regions_root()
    return auth.verify_token(cookie.value, auth.load_users(), root=root) is not None


async def _send_status(send, status: int) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": b""})


class DeploymentGuard:
    """ASGI middleware: closes the metrics and agent endpoints, and serves downloads to sessions only."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        base = "/" + str(config.get_option("server.baseUrlPath") or "").strip("/")
        if base != "/" and path.startswith(base):
            path = path[len(base):]
        if path.startswith(CLOSED_PATHS):
            await _send_status(send, 404)
            return
        if not path.startswith("/media/"):
            await self.app(scope, receive, send)
            return
        allowed: bool | None = None

        async def guarded_send(message) -> None:
            nonlocal allowed
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                attachment = headers.get(b"content-disposition", b"").startswith(b"attachment")
                allowed = not attachment or _has_session(scope)
                if not allowed:
                    await _send_status(send, 403)
                    return
            elif not allowed:
                return
            await send(message)

        await self.app(scope, receive, guarded_send)


for _name in ("_external_ip", "_internal_ip"):  # see app.pin_address_lookups
    if getattr(net_util, _name, "") is None:
        setattr(net_util, _name, "127.0.0.1")
app = st.App("app.py", middleware=[Middleware(DeploymentGuard)])
