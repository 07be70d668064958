"""Staff accounts, the audit log and the login gate of the staff pages."""

from __future__ import annotations

import io
import json
import os
import stat
import time
import tomllib
from pathlib import Path

import pytest
from conftest import login, open_app, run, shown_text, switch_page

import eldermap
from data import audit, auth
from views.access import login_delay_s

PASSWORDS = {"admin": "admin-pass-1", "plan": "planner-pass-1", "clerk": "staff-pass-1"}
ROLES = {"admin": "admin", "plan": "planner", "clerk": "staff"}
# Text each staff page shows only after the gate (titles, headings, table captions).
PAGE_CONTENT = {
    "规划分析": ["规划分析", "服务圈", "覆盖率", "本方案的修改"],
    "统计报表": ["统计报表", "试点申报地区基本情况表", "各社区养老服务设施数量", "少于"],
    "数据管理": ["数据管理", "图层", "导入数据", "eldermap validate", "数据版本"],
}


# ---------------------------------------------------------------- passwords and the users file


def test_hash_and_verify_round_trip():
    encoded = auth.hash_password("correct horse")
    scheme, n, r, p, salt, digest = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    assert auth.verify_password("correct horse", encoded)
    assert not auth.verify_password("correct hors", encoded)
    assert auth.hash_password("correct horse") != encoded  # a fresh salt each time
    assert not auth.verify_password("x", "scrypt$broken")
    assert not auth.verify_password("x", f"scrypt${2**30}$8$1${salt}${digest}")  # absurd cost refused


def test_authenticate_wrong_password_and_unknown_user(tmp_path, monkeypatch):
    path = tmp_path / "users.toml"
    auth.add_user(path, "plan", "planner", "planner-pass-1", display_name="王规划")
    users = auth.load_users(path)
    assert auth.authenticate(users, "plan", "planner-pass-1") == users["plan"]
    assert auth.authenticate(users, "plan", "wrong-password") is None
    checked = []
    real_verify = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda pw, enc: checked.append(enc) or real_verify(pw, enc))
    assert auth.authenticate(users, "nobody", "planner-pass-1") is None
    assert checked == [auth._dummy_hash()]  # an unknown name still costs one scrypt check
    assert users["plan"].label_zh == "王规划（规划人员）"


def test_weak_password_bad_role_and_duplicates_refused(tmp_path):
    path = tmp_path / "users.toml"
    with pytest.raises(auth.AuthError, match="密码太短：至少 8 个字符"):
        auth.add_user(path, "plan", "planner", "short")
    with pytest.raises(auth.AuthError, match="角色“boss”无效"):
        auth.add_user(path, "plan", "boss", "long-enough-1")
    with pytest.raises(auth.AuthError, match="用户名“a b”无效"):
        auth.add_user(path, "a b", "staff", "long-enough-1")
    assert not path.exists()
    auth.add_user(path, "plan", "planner", "long-enough-1")
    with pytest.raises(auth.AuthError, match="已存在"):
        auth.add_user(path, "plan", "staff", "long-enough-2")
    auth.add_user(path, "plan", "staff", "long-enough-2", replace=True)
    users = auth.load_users(path)
    assert users["plan"].role == "staff" and auth.authenticate(users, "plan", "long-enough-2")
    assert isinstance(auth.AuthError("x"), PermissionError)


def test_users_file_written_atomically_and_read_back(tmp_path, monkeypatch):
    path = tmp_path / "config" / "users.toml"
    for name, role in ROLES.items():
        auth.add_user(path, name, role, PASSWORDS[name])
    auth.add_user(path, "张三", "staff", "zhang-pass-1", display_name='张"三"')
    body = tomllib.loads(path.read_text(encoding="utf-8"))
    assert set(body["users"]) == {*ROLES, "张三"}
    assert "admin-pass-1" not in path.read_text(encoding="utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["users.toml"]  # no temporary file left behind
    users = auth.load_users(path)
    assert {u.name: u.role for u in users.values()} == {**ROLES, "张三": "staff"}
    assert users["张三"].display_name == '张"三"'
    # a failed write leaves the file as it was
    before = path.read_bytes()
    monkeypatch.setattr(auth, "hash_password", lambda _pw: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        auth.add_user(path, "later", "staff", "later-pass-1")
    assert path.read_bytes() == before and len(list(path.parent.iterdir())) == 1


def test_missing_and_invalid_users_file(tmp_path, monkeypatch):
    assert auth.load_users(tmp_path / "none.toml") == {}
    monkeypatch.setenv("ELDERMAP_USERS", str(tmp_path / "env.toml"))
    assert auth.users_path() == tmp_path / "env.toml"
    bad = tmp_path / "bad.toml"
    bad.write_text('[users.a]\nrole = "boss"\npassword_hash = "scrypt$x"\n[users.b]\nrole = "staff"\n',
                   encoding="utf-8")
    with pytest.raises(auth.AuthError, match=r"2 处问题.*角色 'boss' 无效.*“b”缺少有效的 password_hash"):
        auth.load_users(bad)
    bad.write_text("[users\n", encoding="utf-8")
    with pytest.raises(auth.AuthError, match="无法读取"):
        auth.load_users(bad)


# ---------------------------------------------------------------- audit log


def test_audit_lines_appended_read_and_chained(tmp_path):
    assert audit.read(tmp_path).empty and audit.verify_chain(tmp_path) == []
    audit.record("login", user="clerk", role="staff", root=tmp_path)
    audit.record("export", user="clerk", role="staff", region="demo", detail="统计报表.xlsx", root=tmp_path)
    audit.record("logout", user="clerk", role="staff", root=tmp_path)
    lines = (tmp_path / "audit.log").read_bytes().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert first["prev"] == "0" * 64 and first["time"].endswith("+00:00")
    table = audit.read(tmp_path)
    assert list(table.columns) == ["time", "user", "role", "action", "region", "version", "rows", "detail", "address"]
    assert list(table["action"]) == ["login", "export", "logout"]
    assert table.loc[1, "detail"] == "统计报表.xlsx" and table.loc[1, "region"] == "demo"
    assert list(audit.read(tmp_path, limit=1)["action"]) == ["logout"]
    assert audit.verify_chain(tmp_path) == []
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.record("delete_log", user="x", root=tmp_path)


@pytest.mark.parametrize("damage", ["edit", "delete"])
def test_audit_chain_detects_edited_or_deleted_line(tmp_path, damage):
    for action in ("login", "import", "export", "logout"):
        audit.record(action, user="clerk", role="staff", region="demo", root=tmp_path)
    path = tmp_path / "audit.log"
    lines = path.read_bytes().splitlines(keepends=True)
    if damage == "edit":
        lines[1] = lines[1].replace(b'"import"', b'"login"')
    else:
        del lines[1]
    path.write_bytes(b"".join(lines))
    problems = audit.verify_chain(tmp_path)
    assert len(problems) == 1
    assert ("第 3 行" if damage == "edit" else "第 2 行") in problems[0]
    assert "被改动或删除" in problems[0]


def test_audit_chain_spans_long_lines(tmp_path):
    audit.record("import", user="cli", region="demo", detail="长" * 20_000, root=tmp_path)  # > one tail read
    audit.record("export", user="cli", region="demo", root=tmp_path)
    audit.record("export", user="cli", region="demo", root=tmp_path)
    assert audit.verify_chain(tmp_path) == []
    assert len(audit.read(tmp_path)) == 3


def test_audit_appends_with_o_append(tmp_path, monkeypatch):
    flags = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda p, f, *a: flags.append(f) or real_open(p, f, *a))
    audit.record("login", user="clerk", root=tmp_path)
    assert flags and flags[0] & os.O_APPEND


# ---------------------------------------------------------------- CLI


def test_cli_user_add_from_stdin_and_list(tmp_path, monkeypatch, capsys):
    users = tmp_path / "users.toml"
    regions = tmp_path / "regions"
    monkeypatch.setattr("sys.stdin", io.StringIO("cli-pass-123\n"))
    code = eldermap.main(["--regions", str(regions), "user", "add", "clerk", "--role", "staff",
                          "--display-name", "李四", "--password-stdin", "--users", str(users)])
    assert code == 0, capsys.readouterr().err
    assert auth.authenticate(auth.load_users(users), "clerk", "cli-pass-123")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert eldermap.main(["--regions", str(regions), "user", "add", "x", "--role", "staff", "--password-stdin",
                          "--users", str(users)]) == 2
    assert "密码太短" in capsys.readouterr().err
    assert eldermap.main(["user", "list", "--users", str(users)]) == 0
    out = capsys.readouterr().out
    assert "clerk\tstaff（工作人员）\t李四" in out and "scrypt" not in out and "cli-pass" not in out
    log = audit.read(regions)
    assert list(log["action"]) == ["user_add"] and "clerk" in log.loc[0, "detail"]
    assert "cli-pass" not in (regions / "audit.log").read_text(encoding="utf-8")


# ---------------------------------------------------------------- the app


@pytest.fixture()
def staff_app(small_region_root, tmp_path, monkeypatch):
    """A region, three accounts (admin, planner, staff) and no login delay."""
    users = tmp_path / "users.toml"
    for name, role in ROLES.items():
        auth.add_user(users, name, role, PASSWORDS[name])
    monkeypatch.setenv("ELDERMAP_USERS", str(users))
    monkeypatch.setenv("ELDERMAP_LOGIN_DELAY_S", "0")
    return small_region_root


def _main_texts(at) -> str:
    return shown_text(at, where=at.main)


@pytest.mark.parametrize("title", list(PAGE_CONTENT))
def test_gated_page_without_login_shows_only_the_prompt(staff_app, title):
    at = switch_page(open_app(), title)
    assert [i.value for i in at.main.info] == ["请先在左侧登录"]
    shown = _main_texts(at)
    assert shown == "请先在左侧登录"
    for text in PAGE_CONTENT[title]:
        assert text not in shown
    assert not at.main.dataframe and not at.main.code and not at.main.title
    assert at.sidebar.button[0].label == "登录"


def test_public_page_needs_no_login(staff_app):
    at = open_app()
    assert at.title[0].value == "找养老服务"
    assert not any("请先在左侧登录" in i.value for i in at.info)


def test_no_users_file_tells_how_to_create_one(staff_app, tmp_path, monkeypatch):
    monkeypatch.setenv("ELDERMAP_USERS", str(tmp_path / "missing.toml"))
    at = open_app()
    assert not at.sidebar.text_input  # no login box without accounts
    for title in PAGE_CONTENT:
        switch_page(at, title)
        assert _main_texts(at) == "尚未配置工作人员账号：请管理员运行 `eldermap user add 用户名 --role admin`"


def test_wrong_password_plain_message_delay_and_audit(staff_app, monkeypatch):
    monkeypatch.setenv("ELDERMAP_LOGIN_DELAY_S", "0.2")
    at = switch_page(open_app(), "规划分析")
    started = time.perf_counter()
    login(at, "plan", "wrong-password")
    assert time.perf_counter() - started >= 0.2  # the delay happened
    monkeypatch.setenv("ELDERMAP_LOGIN_DELAY_S", "0")
    assert [e.value for e in at.sidebar.error] == ["用户名或密码不正确"]
    assert _main_texts(at) == "请先在左侧登录"
    assert at.sidebar.text_input(key="login_password").value == ""
    login(at, "nobody", "planner-pass-1")
    assert [e.value for e in at.sidebar.error] == ["用户名或密码不正确"]
    log = audit.read(staff_app)
    assert list(log["action"]) == ["login_failed", "login_failed"]
    assert list(log["user"]) == ["plan", "（未知用户）"]  # unknown names (maybe a password) are not logged
    text = (staff_app / "audit.log").read_text(encoding="utf-8")
    assert "wrong-password" not in text and "nobody" not in text and "planner-pass-1" not in text
    # the delay grows per stored failure and is capped
    monkeypatch.setenv("ELDERMAP_LOGIN_DELAY_S", "1")
    assert [login_delay_s(n) for n in (1, 2, 3, 4, 5, 9)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_planner_reaches_planning_but_not_data_pages(staff_app):
    at = switch_page(open_app(), "规划分析")
    login(at, "plan", PASSWORDS["plan"])
    assert at.title[0].value == "规划分析" and "服务圈" in _main_texts(at)
    assert "已登录：plan（规划人员）" in [c.value for c in at.sidebar.caption]
    for title in ("数据管理", "统计报表"):
        switch_page(at, title)
        assert _main_texts(at) == "您的账号没有权限访问此页面"
        assert not at.main.dataframe and not at.main.code
    log = audit.read(staff_app)
    assert list(log["action"]) == ["login"] and log.loc[0, "user"] == "plan" and log.loc[0, "role"] == "planner"
    next(b for b in at.sidebar.button if b.label == "退出登录").click()
    run(at)
    assert _main_texts(at) == "请先在左侧登录"
    assert list(audit.read(staff_app)["action"]) == ["login", "logout"]
    assert audit.verify_chain(staff_app) == []


def test_staff_reaches_reports_and_data_but_not_planning(staff_app):
    at = open_app()
    login(at, "clerk", PASSWORDS["clerk"])
    for title in ("统计报表", "数据管理"):
        switch_page(at, title)
        assert at.title[0].value == title
    switch_page(at, "规划分析")
    assert _main_texts(at) == "您的账号没有权限访问此页面"


def test_admin_reaches_every_page(staff_app):
    at = open_app()
    login(at, "admin", PASSWORDS["admin"])
    assert at.title[0].value == "找养老服务"
    for title, content in PAGE_CONTENT.items():
        switch_page(at, title)
        assert at.title[0].value == title
        assert content[-1] in _main_texts(at) + "\n".join(c.value for c in at.main.code)


def test_removed_account_is_logged_out_on_next_rerun(staff_app, tmp_path, monkeypatch):
    at = open_app()
    login(at, "clerk", PASSWORDS["clerk"])
    other = tmp_path / "other.toml"
    auth.add_user(other, "admin", "admin", PASSWORDS["admin"])
    monkeypatch.setenv("ELDERMAP_USERS", str(other))
    switch_page(at, "数据管理")
    assert _main_texts(at) == "请先在左侧登录"


def test_cli_import_is_audited(tmp_path, monkeypatch, capsys):
    from geo.osm import demo_pbf_path

    monkeypatch.setenv("USER", "clerk")
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    facilities = Path(__file__).parent / "fixtures" / "validation" / "facilities_valid.csv"
    regions = tmp_path / "r"
    code = eldermap.main(["--regions", str(regions), "import", "cli", "--roads", str(demo_pbf_path()),
                          "--facilities", str(facilities), "--report-dir", str(tmp_path / "rep")])
    assert code == 0, capsys.readouterr().out
    log = audit.read(regions)
    assert list(log["action"]) == ["import"] and log.loc[0, "user"] == "clerk" and log.loc[0, "region"] == "cli"
    assert "facilities 3" in log.loc[0, "detail"]
