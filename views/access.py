"""Staff login and roles: the sidebar login box, OIDC, throttling and lockout, a login that survives a
reload, page roles.

The public page needs no login. The staff pages require an account from the users file
(:mod:`data.auth`) with a role from :data:`PAGE_ROLES` (admins may see every page). Logins,
failed logins, lockouts and logouts go to the audit log (:mod:`data.audit`) with the role and the
client address (:func:`client_address`).

Throttling holds across sessions, processes and restarts: every attempt is counted in the regions
root (:func:`data.auth.begin_login`) per account name and per client address before the password
is checked; a failed login then waits :func:`login_delay_s` of the stored count; after
``settings.login_max_failures`` failures an account name (known or not, with the same message, so
a lock tells nothing about which names exist) is locked for ``settings.login_lockout_minutes``
minutes, an address after ``settings.login_address_max_failures``.

A login lasts ``settings.session_hours`` hours, also across a reload and in a new tab: a signed,
expiring token (:func:`data.auth.issue_token`) is kept in the cookie :data:`SESSION_COOKIE`. Streamlit
reads cookies (``st.context.cookies``, those of the WebSocket request) but has no API to set one;
the least fragile way that needs no outside request and no extra package is a one-line script in
``st.html(..., unsafe_allow_javascript=True)`` — not iframed, so it sets the cookie of the app's own
origin (``Path=/; SameSite=Strict``, ``Secure`` over https). The cookie cannot be HttpOnly (a script
sets it); it holds no password and no role, and the token is checked on every rerun. 退出登录
revokes the token in the store (it stops working in every tab at once) and clears the cookie.

Optionally, when ``.streamlit/secrets.toml`` has an ``[auth]`` section (OIDC), the sidebar also offers
``st.login()`` (which keeps its own login across reloads); the identity provider's e-mail must then
equal a user name in the users file, which gives the role.

Environment: ``ELDERMAP_USERS`` (users file, see :func:`data.auth.load_users`) and
``ELDERMAP_LOGIN_DELAY_S`` (delay after a wrong password, seconds, default 1; doubled per further
stored failure, at most :data:`LOGIN_DELAY_MAX_S`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from data import audit, auth
from geo.settings import Settings
from views.text import md_escape

if TYPE_CHECKING:
    from views.context import AppContext

APP_DIR = Path(__file__).resolve().parents[1]
"""The folder of app.py: ``.streamlit/secrets.toml`` is looked for there, in the working folder and at home."""
PAGE_ROLES: dict[str, tuple[str, ...]] = {
    "planning": ("planner", "admin"),
    "reports": ("staff", "admin"),
    "data": ("staff", "admin"),
    "dispatch": ("dispatcher", "admin"),
}
"""Roles allowed on each staff page (by url path); the public page needs none."""
LOGIN_DELAY_MAX_S = 8.0
LOGIN_PROMPT_ZH = "请先在左侧登录"
NO_PERMISSION_ZH = "您的账号没有权限访问此页面"
WRONG_LOGIN_ZH = "用户名或密码不正确"
EMPTY_LOGIN_ZH = "请填写{fields}：用户名是管理员为您开设的账号名，密码区分大小写"
NO_USERS_ZH = "尚未配置工作人员账号：请管理员运行 `eldermap user add 用户名 --role admin`"
LOCKED_ZH = "登录失败次数过多，已暂时锁定。请 {minutes} 分钟后再试。"
UNKNOWN_USER_ZH = "（未知用户）"
SESSION_COOKIE = "eldermap_session"
"""The cookie holding the signed session token."""


def login_delay_s(failures: int) -> float:
    """Seconds to wait after the n-th stored failed login of an account or address:
    ``$ELDERMAP_LOGIN_DELAY_S`` (default 1), doubled per further failure, at most :data:`LOGIN_DELAY_MAX_S`."""
    base = float(os.environ.get("ELDERMAP_LOGIN_DELAY_S") or 1.0)
    return min(base * 2 ** max(failures - 1, 0), LOGIN_DELAY_MAX_S)


def client_address(settings: Settings) -> str:
    """The client's address for throttling and the audit log.

    Trust decision: the address is the WebSocket peer's (``st.context.ip_address``), which a client
    cannot forge. Streamlit reports a local peer as None: the app used on its own machine, or any
    client through a reverse proxy on it. Then, only when ``settings.login_trust_proxy`` is set
    (the deployment runs behind such a proxy, which appends the real client), the *last* address of
    ``X-Forwarded-For`` is used — the one the proxy added; earlier ones come from the client and are
    ignored. Otherwise the address is :data:`data.auth.LOCAL_ADDRESS` ("本机"), not throttled by address.
    """
    peer, forwarded = st.context.ip_address, st.context.headers.get("X-Forwarded-For")
    return address_from(peer if isinstance(peer, str) else None, forwarded if isinstance(forwarded, str) else None,
                        trust_proxy=settings.login_trust_proxy)


def address_from(peer: str | None, forwarded_for: str | None, *, trust_proxy: bool) -> str:
    """:func:`client_address` from the peer address (None when local) and the X-Forwarded-For header."""
    if peer:
        return str(peer)
    if trust_proxy:
        try:
            return str(ipaddress.ip_address(str(forwarded_for or "").split(",")[-1].strip()))
        except ValueError:
            pass
    return auth.LOCAL_ADDRESS


def audit_action(action: str, *, user: str, role: str | None, settings: Settings, root: Path | None = None,
                 region: str | None = None, detail: str | None = None, version: str | None = None,
                 rows: int | None = None) -> None:
    """Record what a logged-in user did on a page (export, scenario_save, import...) in the audit log,
    with the account's role and the client address (:func:`client_address`).

    Parameters
    ----------
    action
        One of :data:`data.audit.ACTIONS`.
    user, role
        The account name and role (``ctx.user.name``, ``ctx.user.role``).
    settings
        The app's settings (for the proxy trust decision).
    root
        Regions root (default ``$ELDERMAP_REGIONS``).
    region, detail
        The region concerned and a few words on what was done (file names, counts; no personal data).
    version, rows
        The region version the action read or wrote, and the row count of what was exported or imported.
    """
    audit.record(action, user=user or "unknown", role=role or None, region=region, detail=detail,
                 address=client_address(settings), root=root, version=version, rows=rows)


def _request_cookie() -> str:
    """The session cookie sent with this session's WebSocket request ("" when none)."""
    value = st.context.cookies.get(SESSION_COOKIE)
    return value if isinstance(value, str) else ""  # none outside a browser session (AppTest)


def _limits(settings: Settings) -> dict[str, float | int]:
    return {"max_failures": settings.login_max_failures, "lockout_minutes": settings.login_lockout_minutes,
            "address_max_failures": settings.login_address_max_failures}


def _login(users: dict[str, auth.User], root: Path, settings: Settings) -> None:
    """Callback of the login form: count the attempt in the store, check the password unless locked,
    remember the user with a session token, audit either way."""
    name = str(st.session_state.get("login_name") or "").strip()
    password = str(st.session_state.get("login_password") or "")
    st.session_state["login_password"] = ""  # the password never stays in the session
    missing = [label for label, value in (("用户名", name), ("密码", password)) if not value]
    if missing:  # nothing to check: not an attempt, so not counted against the account or the address
        st.session_state["auth_message"] = EMPTY_LOGIN_ZH.format(fields="和".join(missing))
        return
    address = client_address(settings)
    known = name in users  # an unknown "name" may be a password typed in the wrong box: not logged
    shown, role = (name, users[name].role) if known else (UNKNOWN_USER_ZH, None)
    attempt = auth.begin_login(name, address, root=root, **_limits(settings))
    if not attempt.allowed:
        audit.record("login_failed", user=shown, role=role, address=address, root=root,
                     detail="账号名或来源地址已锁定，未校验密码")
        time.sleep(login_delay_s(settings.login_max_failures))
        st.session_state["auth_message"] = LOCKED_ZH.format(minutes=attempt.locked_minutes)
        return
    user = auth.authenticate(users, name, password)
    outcome = auth.finish_login(name, address, user is not None, root=root, **_limits(settings))
    if user is None:
        audit.record("login_failed", user=shown, role=role, address=address, root=root,
                     detail=f"该账号名连续失败 {outcome.account_failures} 次")
        if outcome.account_locked:
            audit.record("account_locked", user=shown, role=role, address=address, root=root,
                         detail=f"失败 {outcome.account_failures} 次，锁定 {settings.login_lockout_minutes:g} 分钟")
        if outcome.address_locked:
            audit.record("address_locked", user=shown, role=role, address=address, root=root,
                         detail=f"该地址失败 {outcome.address_failures} 次，"
                                f"锁定 {settings.login_lockout_minutes:g} 分钟")
        time.sleep(login_delay_s(max(outcome.account_failures, outcome.address_failures)))
        locked = outcome.account_locked or outcome.address_locked
        st.session_state["auth_message"] = (LOCKED_ZH.format(minutes=outcome.locked_minutes) if locked
                                            else WRONG_LOGIN_ZH)
        return
    st.session_state["auth_user"] = user.name
    st.session_state["auth_token"] = auth.issue_token(user, hours=settings.session_hours, root=root)
    audit.record("login", user=user.name, role=user.role, address=address, root=root)


def _logout(user: auth.User, root: Path, settings: Settings) -> None:
    """Callback of 退出登录: revoke the session token (every tab), clear the cookie, audit."""
    st.session_state.pop("auth_user", None)
    for token in {st.session_state.pop("auth_token", None), _request_cookie()}:
        if token:
            auth.revoke_token(token, root=root)
    audit.record("logout", user=user.name, role=user.role, address=client_address(settings), root=root)
    if oidc_configured() and st.user.is_logged_in:
        st.logout()


def _cookie_script(token: str, max_age_s: int) -> None:
    """Set (or, with an empty token and age 0, clear) the session cookie in the browser.

    ``st.html`` runs the script in the app's own page (not iframed): no outside request, no package.
    The token is our own base64url text (no quotes or markup); it is JSON-encoded all the same.
    """
    value = json.dumps(f"{SESSION_COOKIE}={token}; Max-Age={max_age_s}; Path=/; SameSite=Strict")
    st.html(f"<script>document.cookie = {value} + (location.protocol === 'https:' ? '; Secure' : '');</script>",
            unsafe_allow_javascript=True, width="content")


def _session_user(users: dict[str, auth.User], root: Path, settings: Settings) -> auth.User | None:
    """The user of this session: by its login (while its token stays valid), else by a valid session
    cookie (a reload or a new tab: audited as session_resumed), else None."""
    user = users.get(str(st.session_state.get("auth_user", "")))
    token = st.session_state.get("auth_token")
    if user is not None and token and auth.verify_token(token, users, root=root) is None:
        user = None  # expired, revoked (退出登录 in another tab) or the password changed
    if user is None:
        st.session_state.pop("auth_user", None)
        st.session_state.pop("auth_token", None)
        cookie = _request_cookie()
        if cookie and cookie != token:
            user = auth.verify_token(cookie, users, root=root)
            if user is not None:
                st.session_state["auth_user"] = user.name
                st.session_state["auth_token"] = cookie
                audit.record("session_resumed", user=user.name, role=user.role, address=client_address(settings),
                             root=root)
    return user


def oidc_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` configures OIDC login (an ``[auth]`` section)."""
    if not any((base / ".streamlit" / "secrets.toml").is_file() for base in (APP_DIR, Path.cwd(), Path.home())):
        return False
    return "auth" in st.secrets


def auth_sidebar(root: Path, settings: Settings | None = None) -> tuple[auth.User | None, bool, str]:
    """Login box or the logged-in user with 退出登录 (call inside ``st.sidebar``).

    ``settings`` give the lockout and session lengths (default: those of :func:`views.context.read_settings`).

    Returns
    -------
    (user, users configured, users-file error): the logged-in account or None, whether the users file
    holds any account, and the Chinese message of the error that stopped it from loading (else "").
    """
    if settings is None:
        from views.context import read_settings

        settings = read_settings()[0]
    try:
        users = auth.load_users()
    except auth.AuthError as exc:
        st.session_state.pop("auth_user", None)
        return None, False, str(exc)
    if not users:
        st.session_state.pop("auth_user", None)
        return None, False, ""
    # the account is looked up again on every rerun: a removed account or changed role applies at once
    user = _session_user(users, root, settings)
    if user is None and oidc_configured() and st.user.is_logged_in:
        user = users.get(str(st.user.get("email") or ""))
    if user is None:
        if _request_cookie():  # expired, revoked or forged: the browser forgets it
            _cookie_script("", 0)
        with st.form("login_form"):
            st.markdown("**工作人员登录**")
            st.text_input("用户名", key="login_name", autocomplete="username")
            st.text_input("密码", type="password", key="login_password", autocomplete="current-password")
            st.form_submit_button("登录", on_click=_login, args=(users, root, settings))
            message = st.session_state.pop("auth_message", None)
            if message:
                st.error(message)
        if oidc_configured():
            st.button("使用单位统一身份认证登录", on_click=st.login)
        return None, True, ""
    token = st.session_state.get("auth_token")
    if token and token != _request_cookie():  # a login in this tab: the browser keeps it for reloads and tabs
        payload = auth.token_payload(token, root=root) or {}
        _cookie_script(token, max(0, int(float(payload.get("exp", 0)) - time.time())))
    st.caption(f"已登录：{md_escape(user.label_zh)}")
    st.button("退出登录", key="logout", on_click=_logout, args=(user, root, settings))
    return user, True, ""


def require_role(ctx: AppContext, roles: Sequence[str]) -> bool:
    """Whether the logged-in user may see a staff page; otherwise show why (and nothing else) and return False."""
    if ctx.auth_error:
        st.error(ctx.auth_error)
        return False
    if not ctx.users_configured:
        st.info(NO_USERS_ZH)
        return False
    if ctx.user is None:
        st.info(LOGIN_PROMPT_ZH)
        return False
    if ctx.user.role != "admin" and ctx.user.role not in roles:
        st.error(NO_PERMISSION_ZH)
        return False
    return True


__all__ = ["LOCKED_ZH", "LOGIN_DELAY_MAX_S", "PAGE_ROLES", "SESSION_COOKIE", "address_from", "audit_action",
           "auth_sidebar", "client_address", "login_delay_s", "oidc_configured", "require_role"]
