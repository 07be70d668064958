"""Login throttling that holds across sessions and processes, lockout, audited client addresses and roles,
and a login that survives a reload (signed, expiring, revocable session tokens in a cookie)."""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import stat
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from conftest import login, open_app, open_staff_page, run, running_app, shown_text, switch_page

from data import audit, auth
from views import access

LIMITS = {"max_failures": 5, "lockout_minutes": 15.0, "address_max_failures": 20}
PASSWORDS = {"admin": "admin-pass-1", "plan": "planner-pass-1"}


# ---------------------------------------------------------------- the store: counts, locks, parallel attempts


def _attempt(root: str, name: str, address: str, limits: dict, barrier=None) -> bool:
    """One failed login as the login form makes it: count, (check the password), record the failure."""
    if barrier is not None:
        barrier.wait()
    attempt = auth.begin_login(name, address, root=root, **limits)
    if attempt.allowed:
        auth.finish_login(name, address, False, root=root, **limits)
    return attempt.allowed


def _count(root: Path, key: str) -> int:
    return int(auth.read_state(root)["failures"].get(key, {}).get("count", 0))


def test_six_parallel_threads_are_counted_six_times(tmp_path):
    limits = {**LIMITS, "max_failures": 100, "address_max_failures": 100}
    barrier = threading.Barrier(6)
    with ThreadPoolExecutor(6) as pool:
        allowed = list(pool.map(lambda _: _attempt(str(tmp_path), "plan", "10.0.0.7", limits, barrier), range(6)))
    assert allowed == [True] * 6
    assert _count(tmp_path, auth.account_key("plan", root=tmp_path)) == 6
    assert _count(tmp_path, "addr:10.0.0.7") == 6


def test_six_parallel_processes_are_counted_six_times(tmp_path):
    limits = {**LIMITS, "max_failures": 100, "address_max_failures": 100}
    with ProcessPoolExecutor(6, mp_context=multiprocessing.get_context("spawn")) as pool:
        allowed = list(pool.map(_attempt, [str(tmp_path)] * 6, ["plan"] * 6, ["10.0.0.8"] * 6, [limits] * 6))
    assert allowed == [True] * 6
    assert _count(tmp_path, auth.account_key("plan", root=tmp_path)) == 6
    assert _count(tmp_path, "addr:10.0.0.8") == 6


def test_six_parallel_wrong_passwords_lock_the_account_after_five(tmp_path):
    barrier = threading.Barrier(6)
    with ThreadPoolExecutor(6) as pool:
        allowed = list(pool.map(lambda _: _attempt(str(tmp_path), "plan", "10.0.0.9", LIMITS, barrier), range(6)))
    assert sorted(allowed) == [False] + [True] * 5  # at most five passwords were ever checked
    attempt = auth.begin_login("plan", "10.0.0.10", root=tmp_path, **LIMITS)  # another address: still locked
    assert not attempt.allowed and attempt.locked_minutes == 15


def test_lock_starts_at_the_nth_failure_and_ends_after_the_window(tmp_path):
    now = 1_000_000.0
    for n in range(1, 6):
        attempt = auth.begin_login("plan", None, root=tmp_path, now=now, **LIMITS)
        assert attempt.allowed and attempt.account_failures == n
        outcome = auth.finish_login("plan", None, False, root=tmp_path, now=now, **LIMITS)
        assert outcome.account_locked == (n == 5) and not outcome.address_locked
    assert outcome.locked_minutes == 15
    assert not auth.begin_login("plan", None, root=tmp_path, now=now + 14 * 60 + 1, **LIMITS).allowed
    assert auth.begin_login("plan", None, root=tmp_path, now=now + 14 * 60 + 1, **LIMITS).locked_minutes == 1
    later = auth.begin_login("plan", None, root=tmp_path, now=now + 15 * 60 + 1, **LIMITS)
    assert later.allowed and later.account_failures == 1  # a fresh count after the lock


def test_success_clears_the_account_count_and_old_failures_are_forgotten(tmp_path):
    now = 2_000_000.0
    for _ in range(4):
        _attempt(str(tmp_path), "plan", "10.0.0.1", {**LIMITS})
    key = auth.account_key("plan", root=tmp_path)
    assert _count(tmp_path, key) == 4 and _count(tmp_path, "addr:10.0.0.1") == 4
    assert auth.begin_login("plan", "10.0.0.1", root=tmp_path, **LIMITS).allowed
    auth.finish_login("plan", "10.0.0.1", True, root=tmp_path, **LIMITS)
    assert _count(tmp_path, key) == 0
    assert _count(tmp_path, "addr:10.0.0.1") == 4  # a success from an address does not wipe its failures
    auth.begin_login("x", None, root=tmp_path, now=now, **LIMITS)
    auth.finish_login("x", None, False, root=tmp_path, now=now, **LIMITS)
    assert auth.begin_login("x", None, root=tmp_path, now=now + 16 * 60, **LIMITS).account_failures == 1


def test_unknown_names_lock_alike_and_are_not_stored(tmp_path):
    for _ in range(5):
        _attempt(str(tmp_path), "my-secret-password", "10.0.0.2", LIMITS)
    attempt = auth.begin_login("my-secret-password", "10.0.0.3", root=tmp_path, **LIMITS)
    assert not attempt.allowed and attempt.locked_minutes == 15
    text = (tmp_path / auth.STATE_NAME).read_text(encoding="utf-8")
    assert "my-secret-password" not in text
    assert stat.S_IMODE((tmp_path / auth.STATE_NAME).stat().st_mode) == 0o600


def test_an_address_is_locked_over_all_names_and_local_peers_are_not(tmp_path):
    limits = {**LIMITS, "address_max_failures": 3}
    for name in ("a", "b", "c"):
        assert _attempt(str(tmp_path), name, "198.51.100.4", limits)
    attempt = auth.begin_login("d", "198.51.100.4", root=tmp_path, **limits)
    assert not attempt.allowed and attempt.locked_minutes == 15
    assert auth.begin_login("d", "198.51.100.5", root=tmp_path, **limits).allowed
    for name in ("e", "f", "g", "h"):  # a local peer (a proxy on this host, not trusted) is not throttled
        assert _attempt(str(tmp_path), name, auth.LOCAL_ADDRESS, limits)


def test_counts_survive_a_restart_and_a_damaged_state_starts_afresh(tmp_path):
    for _ in range(3):
        _attempt(str(tmp_path), "plan", "10.0.0.1", LIMITS)
    state = json.loads((tmp_path / auth.STATE_NAME).read_text(encoding="utf-8"))  # what a new process reads
    assert state["failures"][auth.account_key("plan", root=tmp_path)]["count"] == 3
    (tmp_path / auth.STATE_NAME).write_text("{not json", encoding="utf-8")
    assert auth.begin_login("plan", "10.0.0.1", root=tmp_path, **LIMITS).account_failures == 1


@pytest.mark.parametrize(("peer", "forwarded", "trust", "expected"), [
    ("203.0.113.9", "1.2.3.4", True, "203.0.113.9"),  # a remote peer is the client, whatever headers say
    (None, "1.2.3.4, 10.0.0.5", True, "10.0.0.5"),  # behind a trusted proxy: the address it appended
    (None, "1.2.3.4", False, auth.LOCAL_ADDRESS),  # an untrusted header is ignored
    (None, "not-an-ip", True, auth.LOCAL_ADDRESS),
    (None, None, True, auth.LOCAL_ADDRESS),
])
def test_client_address_trust_decision(peer, forwarded, trust, expected):
    assert access.address_from(peer, forwarded, trust_proxy=trust) == expected


def test_audit_action_records_role_and_client_address(tmp_path):
    from geo.settings import Settings

    access.audit_action("scenario_save", user="plan", role="planner", settings=Settings(), root=tmp_path,
                        region="demo", detail="方案 A")
    entry = json.loads((tmp_path / "audit.log").read_text(encoding="utf-8"))
    assert entry["role"] == "planner" and entry["address"] == auth.LOCAL_ADDRESS and entry["action"] == "scenario_save"


# ---------------------------------------------------------------- session tokens


@pytest.fixture()
def users(tmp_path) -> dict[str, auth.User]:
    path = tmp_path / "users.toml"
    auth.add_user(path, "plan", "planner", PASSWORDS["plan"])
    return auth.load_users(path)


def test_token_signs_verifies_and_expires(tmp_path, users):
    token = auth.issue_token(users["plan"], hours=8, root=tmp_path, now=1_000_000)
    assert auth.verify_token(token, users, root=tmp_path, now=1_000_000 + 3600) == users["plan"]
    assert auth.verify_token(token, users, root=tmp_path, now=1_000_000 + 8 * 3600) is None
    assert PASSWORDS["plan"] not in token and "planner" not in json.dumps(auth.token_payload(token, root=tmp_path))
    secret = auth.secret_path(tmp_path)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(bytes.fromhex(secret.read_text())) == 32


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def test_token_tampering_is_refused(tmp_path, users):
    auth.add_user(tmp_path / "users.toml", "admin", "admin", PASSWORDS["admin"])
    users = auth.load_users(tmp_path / "users.toml")
    token = auth.issue_token(users["plan"], hours=8, root=tmp_path)
    version, body, mac = token.split(".")
    payload = auth.token_payload(token, root=tmp_path)
    forged_body = _b64url(json.dumps({**payload, "u": "admin"}).encode())
    longer = _b64url(json.dumps({**payload, "exp": payload["exp"] + 10**6}).encode())
    for bad in (f"{version}.{forged_body}.{mac}", f"{version}.{longer}.{mac}", f"{version}.{body}.{mac[:-2]}AA",
                f"v0.{body}.{mac}", "", "a.b", "v1.%%%.***", token + "x"):
        assert auth.verify_token(bad, users, root=tmp_path) is None, bad
    assert auth.verify_token(token, users, root=tmp_path) == users["plan"]
    auth.secret_path(tmp_path).write_text(os.urandom(32).hex())  # a new secret signs everyone out
    assert auth.verify_token(token, users, root=tmp_path) is None


def test_token_revocation_password_change_and_removed_account(tmp_path, users):
    token = auth.issue_token(users["plan"], hours=8, root=tmp_path)
    other = auth.issue_token(users["plan"], hours=8, root=tmp_path)
    assert auth.revoke_token(token, root=tmp_path)
    assert auth.verify_token(token, users, root=tmp_path) is None
    assert auth.verify_token(other, users, root=tmp_path) == users["plan"]  # only that session ended
    assert not auth.revoke_token("v1.forged.token", root=tmp_path)
    auth.add_user(tmp_path / "users.toml", "plan", "planner", "a-new-password", replace=True)
    assert auth.verify_token(other, auth.load_users(tmp_path / "users.toml"), root=tmp_path) is None
    assert auth.verify_token(auth.issue_token(users["plan"], hours=8, root=tmp_path), {}, root=tmp_path) is None


def test_revocations_are_forgotten_once_the_token_expired(tmp_path, users):
    token = auth.issue_token(users["plan"], hours=0.0001, root=tmp_path, now=1_000)
    auth.revoke_token(token, root=tmp_path)
    assert auth.read_state(tmp_path)["revoked"] == {}  # expired long ago: nothing to keep


# ---------------------------------------------------------------- the app


@pytest.fixture()
def login_app(small_region_root, tmp_path, monkeypatch):
    """A region, an admin and a planner, no login delay, a lock after 3 failures; no session cookie."""
    path = tmp_path / "users.toml"
    auth.add_user(path, "admin", "admin", PASSWORDS["admin"])
    auth.add_user(path, "plan", "planner", PASSWORDS["plan"])
    settings = tmp_path / "settings.toml"
    settings.write_text("login_max_failures = 3\nlogin_lockout_minutes = 10\n", encoding="utf-8")
    monkeypatch.setenv("ELDERMAP_USERS", str(path))
    monkeypatch.setenv("ELDERMAP_SETTINGS", str(settings))
    monkeypatch.setenv("ELDERMAP_LOGIN_DELAY_S", "0")
    monkeypatch.setattr(access, "_request_cookie", lambda: "")
    return small_region_root


def _errors(at) -> list[str]:
    return [e.value for e in at.sidebar.error]


@pytest.mark.parametrize("name", ["plan", "nobody"])
def test_lockout_after_n_wrong_passwords_from_fresh_sessions(login_app, name):
    locked = access.LOCKED_ZH.format(minutes=10)
    for n in range(1, 4):
        at = login(open_app(), name, "wrong-password")  # a new session per try, as an attacker would
        assert _errors(at) == [locked if n == 3 else "用户名或密码不正确"]
    at = login(open_app(), name, PASSWORDS["plan"])  # even the right password is refused now
    assert _errors(at) == [locked] and "auth_user" not in at.session_state
    assert [b.label for b in at.sidebar.button] == ["登录"]
    log = audit.read(login_app)
    assert list(log["action"]) == ["login_failed"] * 3 + ["account_locked", "login_failed"]
    assert set(log["address"]) == {auth.LOCAL_ADDRESS}
    assert set(log["user"]) == {name if name == "plan" else "（未知用户）"}
    assert log["role"].iloc[0] == ("planner" if name == "plan" else None)
    assert "wrong-password" not in (login_app / "audit.log").read_text(encoding="utf-8")
    other = login(open_app(), "admin", PASSWORDS["admin"])  # other accounts are not affected
    assert "auth_user" in other.session_state and not _errors(other)


def test_login_survives_a_reload_and_logout_ends_it(login_app, monkeypatch):
    first = switch_page(login(open_app(), "plan", PASSWORDS["plan"]), "规划分析")
    token = first.session_state["auth_token"]
    scripts = [h.proto.body for h in first.sidebar.get("html")]
    assert any("document.cookie" in s and token in s and "SameSite=Strict" in s for s in scripts)
    monkeypatch.setattr(access, "_request_cookie", lambda: token)  # the browser sends the cookie back
    reloaded = switch_page(open_app(), "规划分析")  # a reload or a new tab: a new session
    assert reloaded.session_state["auth_user"] == "plan"
    assert "已登录：plan（规划人员）" in [c.value for c in reloaded.sidebar.caption]
    assert reloaded.title[0].value == "规划分析"
    assert not any("document.cookie" in h.proto.body for h in reloaded.sidebar.get("html"))  # already set
    next(b for b in reloaded.sidebar.button if b.label == "退出登录").click()
    run(reloaded)
    assert shown_text(reloaded, where=reloaded.main) == "请先在左侧登录"
    assert any("Max-Age=0" in h.proto.body for h in reloaded.sidebar.get("html"))  # the cookie is cleared
    assert switch_page(open_app(), "规划分析").session_state.get("auth_user") is None  # a stale cookie
    run(first)  # the first tab: its token was revoked by the logout
    assert shown_text(first, where=first.main) == "请先在左侧登录"
    actions = list(audit.read(login_app)["action"])
    assert actions == ["login", "session_resumed", "logout"]


def test_expired_session_logs_out(login_app, monkeypatch):
    at = login(open_app(), "plan", PASSWORDS["plan"])
    assert at.session_state["auth_user"] == "plan"
    real = auth.verify_token
    monkeypatch.setattr(auth, "verify_token", lambda *a, **k: real(*a, **{**k, "now": 4_000_000_000}))
    run(at)
    assert "auth_user" not in at.session_state
    assert [b.label for b in at.sidebar.button] == ["登录"]


def test_admin_audit_view_local_time_chinese_roles_no_none(staff_demo_root):
    audit.record("import", user="ops", role=None, region="demo", detail="命令行导入", root=staff_demo_root)
    audit.record("login_failed", user="（未知用户）", role=None, address="10.0.0.3", root=staff_demo_root)
    audit.record("scenario_save", user="plan", role="planner", region="demo", address="10.0.0.4",
                 root=staff_demo_root)
    audit.record("export", user="clerk", role="staff", region="demo", address="10.0.0.5", root=staff_demo_root)
    at = open_staff_page(open_app(), "数据管理")
    table = next(df.value for df in at.dataframe if "操作" in df.value.columns)
    assert list(table.columns) == ["时间（北京时间）", "用户", "角色", "操作", "地区", "数据版本", "行数", "说明", "来源地址"]
    assert list(table["操作"][:5]) == ["登录", "导出", "保存方案", "登录失败", "导入"]
    assert list(table["角色"][:5]) == ["管理员", "工作人员", "规划人员", "—", "命令行"]
    assert list(table["来源地址"][:5]) == [auth.LOCAL_ADDRESS, "10.0.0.5", "10.0.0.4", "10.0.0.3", "—"]
    stored = audit.read(staff_demo_root)["time"].iloc[::-1].reset_index(drop=True)
    beijing = pd.to_datetime(stored, utc=True) + pd.Timedelta(hours=8)
    assert list(table["时间（北京时间）"]) == list(beijing.dt.strftime("%Y-%m-%d %H:%M:%S"))
    assert "None" not in table.to_csv() and "nan" not in table.to_csv().lower()


def test_local_times_in_a_zone_and_server_zone():
    times = pd.Series(["2026-11-23T10:15:00+00:00", "garbled"])
    assert list(audit.local_times(times, "Asia/Shanghai")) == ["2026-11-23 18:15:00", ""]
    assert list(audit.local_times(times, "Europe/Helsinki")) == ["2026-11-23 12:15:00", ""]
    assert audit.local_times(times, "")[1] == ""


# ---------------------------------------------------------------- a real browser: reload, new tab, logout

BROWSER_PORT = 8641


@pytest.fixture()
def browser_app(tmp_path):
    """The app on the small region at 127.0.0.1:8641 with a planner account, no login delay."""
    import shutil

    from conftest import SMALL_MANIFEST, small_region_layers

    from data.store import save_region

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed")
        pytest.skip("Debian's chromium is not installed")
    pytest.importorskip("playwright.sync_api")
    root = tmp_path / "regions"
    save_region("demo", small_region_layers(), SMALL_MANIFEST, root=root)
    users = tmp_path / "users.toml"
    auth.add_user(users, "plan", "planner", PASSWORDS["plan"])
    env = {**os.environ, "ELDERMAP_REGIONS": str(root), "ELDERMAP_USERS": str(users), "ELDERMAP_LOGIN_DELAY_S": "0"}
    env.pop("ELDERMAP_SETTINGS", None)
    with running_app(BROWSER_PORT, env, tmp_path / "streamlit.log") as url:
        yield url, chromium, root


def test_browser_login_survives_reload_and_new_tab_and_logout_ends_it(browser_app):
    from urllib.parse import urlparse

    from playwright.sync_api import sync_playwright

    url, chromium, root = browser_app
    hosts: set[str] = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-background-networking", "--disable-component-update",
            "--disable-default-apps", "--no-first-run"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
            context.on("request", lambda r: hosts.add(urlparse(r.url).netloc)
                       if urlparse(r.url).scheme in ("http", "https", "ws", "wss") else None)
            page = context.new_page()
            page.goto(url + "/", wait_until="domcontentloaded")
            sidebar = page.locator("[data-testid='stSidebar']")
            sidebar.get_by_role("textbox", name="用户名").fill("plan")
            sidebar.get_by_role("textbox", name="密码").fill(PASSWORDS["plan"])
            sidebar.get_by_role("button", name="登录", exact=True).click()
            sidebar.get_by_text("已登录：plan（规划人员）").wait_for(timeout=60_000)
            page.wait_for_timeout(1000)
            cookies = {c["name"]: c for c in context.cookies()}
            assert access.SESSION_COOKIE in cookies, cookies
            cookie = cookies[access.SESSION_COOKIE]
            assert cookie["sameSite"] == "Strict" and cookie["expires"] > 0
            page.reload(wait_until="domcontentloaded")
            page.locator("[data-testid='stSidebar']").get_by_text("已登录：plan（规划人员）").wait_for(timeout=60_000)
            tab = context.new_page()
            tab.goto(url + "/planning", wait_until="domcontentloaded")
            tab.get_by_text("已登录：plan（规划人员）").wait_for(timeout=60_000)
            tab.locator("h1", has_text="规划分析").first.wait_for(timeout=60_000)
            tab.close()
            page.locator("[data-testid='stSidebar']").get_by_role("button", name="退出登录").click()
            page.locator("[data-testid='stSidebar']").get_by_role("button", name="登录", exact=True).wait_for(timeout=60_000)
            page.wait_for_timeout(1000)
            assert access.SESSION_COOKIE not in {c["name"] for c in context.cookies()}
            page.reload(wait_until="domcontentloaded")
            page.locator("[data-testid='stSidebar']").get_by_role("button", name="登录", exact=True).wait_for(timeout=60_000)
            assert page.get_by_text("已登录：").count() == 0
        finally:
            browser.close()
    assert hosts == {f"127.0.0.1:{BROWSER_PORT}"}, hosts
    assert list(audit.read(root)["action"]) == ["login", "session_resumed", "session_resumed", "logout"]
    assert set(audit.read(root)["address"]) == {auth.LOCAL_ADDRESS}


@pytest.mark.parametrize(("values", "match"), [
    ({"login_max_failures": 0}, "login_max_failures"),
    ({"login_lockout_minutes": 0.5}, "login_lockout_minutes"),
    ({"login_address_max_failures": 0}, "login_address_max_failures"),
    ({"session_hours": 0}, "session_hours"),
    ({"display_timezone": "Asia/Beijing"}, "display_timezone"),
])
def test_login_settings_are_validated(values, match):
    from geo.errors import SettingsError
    from geo.settings import settings_from_dict

    with pytest.raises(SettingsError, match=match):
        settings_from_dict(values)
    assert settings_from_dict({"display_timezone": "", "login_trust_proxy": True}).login_trust_proxy
