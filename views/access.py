"""Staff login and roles: the sidebar login box, OIDC, the delay after a wrong password, page roles.

The public page needs no login. The staff pages require an account from the users file
(:mod:`data.auth`) with a role from :data:`PAGE_ROLES` (admins may see every page). Logins,
failed logins and logouts go to the audit log (:mod:`data.audit`); a failed login waits
:func:`login_delay_s` seconds. Optionally, when ``.streamlit/secrets.toml`` has an ``[auth]``
section (OIDC), the sidebar also offers ``st.login()``; the identity provider's e-mail must then
equal a user name in the users file, which gives the role.

Environment: ``ELDERMAP_USERS`` (users file, see :func:`data.auth.load_users`) and
``ELDERMAP_LOGIN_DELAY_S`` (delay after a wrong password, seconds, default 1; doubled per further
failure in the session, at most :data:`LOGIN_DELAY_MAX_S`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from data import audit, auth

if TYPE_CHECKING:
    from views.context import AppContext

APP_DIR = Path(__file__).resolve().parents[1]
"""The folder of app.py: ``.streamlit/secrets.toml`` is looked for there, in the working folder and at home."""
PAGE_ROLES: dict[str, tuple[str, ...]] = {
    "planning": ("planner", "admin"),
    "reports": ("staff", "admin"),
    "data": ("staff", "admin"),
}
"""Roles allowed on each staff page (by url path); the public page needs none."""
LOGIN_DELAY_MAX_S = 8.0
LOGIN_PROMPT_ZH = "请先在左侧登录"
NO_PERMISSION_ZH = "您的账号没有权限访问此页面"
WRONG_LOGIN_ZH = "用户名或密码不正确"
NO_USERS_ZH = "尚未配置工作人员账号：请管理员运行 `eldermap user add 用户名 --role admin`"


def login_delay_s(failures: int) -> float:
    """Seconds to wait after the n-th failed login of a session: ``$ELDERMAP_LOGIN_DELAY_S`` (default 1),
    doubled per further failure, at most :data:`LOGIN_DELAY_MAX_S`."""
    base = float(os.environ.get("ELDERMAP_LOGIN_DELAY_S") or 1.0)
    return min(base * 2 ** max(failures - 1, 0), LOGIN_DELAY_MAX_S)


def _login(users: dict[str, auth.User], root: Path) -> None:
    """Callback of the login form: check the password, remember the user, audit either way."""
    name = str(st.session_state.get("login_name") or "").strip()
    password = str(st.session_state.get("login_password") or "")
    st.session_state["login_password"] = ""  # the password never stays in the session
    user = auth.authenticate(users, name, password)
    if user is None:
        failures = int(st.session_state.get("auth_failures", 0)) + 1
        st.session_state["auth_failures"] = failures
        known = name in users  # an unknown "name" may be a password typed in the wrong box: not logged
        audit.record("login_failed", user=name if known else "（未知用户）", role=users[name].role if known else None,
                     root=root)
        time.sleep(login_delay_s(failures))
        st.session_state["auth_message"] = WRONG_LOGIN_ZH
        return
    st.session_state["auth_user"] = user.name
    st.session_state["auth_failures"] = 0
    audit.record("login", user=user.name, role=user.role, root=root)


def _logout(user: auth.User, root: Path) -> None:
    """Callback of 退出登录."""
    st.session_state.pop("auth_user", None)
    audit.record("logout", user=user.name, role=user.role, root=root)
    if oidc_configured() and st.user.is_logged_in:
        st.logout()


def oidc_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` configures OIDC login (an ``[auth]`` section)."""
    if not any((base / ".streamlit" / "secrets.toml").is_file() for base in (APP_DIR, Path.cwd(), Path.home())):
        return False
    return "auth" in st.secrets


def auth_sidebar(root: Path) -> tuple[auth.User | None, bool, str]:
    """Login box or the logged-in user with 退出登录 (call inside ``st.sidebar``).

    Returns
    -------
    (user, users configured, users-file error): the logged-in account or None, whether the users file
    holds any account, and the Chinese message of the error that stopped it from loading (else "").
    """
    try:
        users = auth.load_users()
    except auth.AuthError as exc:
        st.session_state.pop("auth_user", None)
        return None, False, str(exc)
    if not users:
        st.session_state.pop("auth_user", None)
        return None, False, ""
    # the account is looked up again on every rerun: a removed account or changed role applies at once
    user = users.get(str(st.session_state.get("auth_user", "")))
    if user is None and oidc_configured() and st.user.is_logged_in:
        user = users.get(str(st.user.get("email") or ""))
    if user is None:
        st.session_state.pop("auth_user", None)
        with st.form("login_form"):
            st.markdown("**工作人员登录**")
            st.text_input("用户名", key="login_name", autocomplete="username")
            st.text_input("密码", type="password", key="login_password", autocomplete="current-password")
            st.form_submit_button("登录", on_click=_login, args=(users, root))
            message = st.session_state.pop("auth_message", None)
            if message:
                st.error(message)
        if oidc_configured():
            st.button("使用单位统一身份认证登录", on_click=st.login)
        return None, True, ""
    st.caption(f"已登录：{user.label_zh}")
    st.button("退出登录", key="logout", on_click=_logout, args=(user, root))
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


__all__ = ["LOGIN_DELAY_MAX_S", "PAGE_ROLES", "auth_sidebar", "login_delay_s", "oidc_configured", "require_role"]
