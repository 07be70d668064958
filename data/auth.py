"""Staff accounts: a users file with roles and scrypt-hashed passwords.

The users file is TOML, at ``$ELDERMAP_USERS`` or else ``./config/users.toml``.
The repository holds no users: the file is created by the first
``eldermap user add NAME --role admin``::

    [users."zhangsan"]
    role = "planner"                    # planner | staff | admin
    display_name = "张三"               # optional, shown in the app
    password_hash = "scrypt$16384$8$1$<salt b64>$<hash b64>"

Roles decide which pages a user may open: ``planner`` the planning page,
``staff`` the reports and data pages, ``admin`` every page (:data:`PAGE_ROLES`
lives in the app). Passwords are never stored or logged, only their scrypt
hashes (n=2**14, r=8, p=1, a 16-byte random salt per password). Checking a
password for an unknown user costs as much as for a known one (a dummy hash is
verified), so response times do not tell which user names exist.

This module never imports streamlit.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from data.store import atomic_write
from geo.errors import ElderMapError

ROLES: tuple[str, ...] = ("planner", "staff", "admin")
ROLE_ZH: dict[str, str] = {"planner": "规划人员", "staff": "业务人员", "admin": "管理员"}
MIN_PASSWORD_CHARS = 8
DEFAULT_USERS_FILE = Path("config") / "users.toml"

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
_MAX_SCRYPT_N = 2**20  # refuse absurd cost parameters read from a (possibly edited) users file
_NAME = re.compile(r"^[\w\u4e00-\u9fff.@\-]{1,64}$")  # "@": OIDC logins match by e-mail


class AuthError(ElderMapError, PermissionError):
    """A users file, user name, role or password is invalid."""


@dataclass(frozen=True)
class User:
    """One staff account.

    Attributes
    ----------
    name
        Login name.
    role
        One of :data:`ROLES`.
    display_name
        Name shown in the app ("" when not set).
    password_hash
        Encoded scrypt hash (see :func:`hash_password`); never shown.
    """

    name: str
    role: str
    display_name: str = ""
    password_hash: str = field(default="", repr=False)

    @property
    def label_zh(self) -> str:
        """``"张三（管理员）"``."""
        return f"{self.display_name or self.name}（{ROLE_ZH.get(self.role, self.role)}）"


def users_path(path: str | Path | None = None) -> Path:
    """The users file: ``path``, else $ELDERMAP_USERS, else ./config/users.toml."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get("ELDERMAP_USERS") or DEFAULT_USERS_FILE)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The encoded scrypt hash of a password: ``"scrypt$n$r$p$salt_b64$hash_b64"``."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=HASH_BYTES)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches an encoded hash; False (never an exception) for a malformed hash."""
    try:
        scheme, n_text, r_text, p_text, salt_b64, hash_b64 = encoded.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt, expected = base64.b64decode(salt_b64, validate=True), base64.b64decode(hash_b64, validate=True)
    except (ValueError, AttributeError):
        return False
    if scheme != "scrypt" or not (1 < n <= _MAX_SCRYPT_N and 0 < r <= 32 and 0 < p <= 16) or not expected:
        return False
    try:
        digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected),
                                maxmem=256 * n * r + (1 << 20))
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected)


@functools.cache
def _dummy_hash() -> str:
    """A hash no password matches, verified for unknown users so they cost the same time."""
    return hash_password(secrets.token_urlsafe(16))


def load_users(path: str | Path | None = None) -> dict[str, User]:
    """The accounts in the users file, by name; empty when the file does not exist.

    Raises
    ------
    AuthError
        The file is not valid TOML, or entries lack a known role or a password hash
        (all problems in one message).
    """
    path = users_path(path)
    if not path.exists():
        return {}
    try:
        body = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise AuthError(f"账号文件 {path} 无法读取：{exc}。请改正或删除后用 `eldermap user add` 重新建立。",
                        f"cannot read users file {path}: {exc}") from None
    entries = body.get("users", {})
    if not isinstance(entries, dict):
        raise AuthError(f"账号文件 {path} 格式不对：应为 [users.用户名] 表", f"{path}: [users] must be a table")
    users: dict[str, User] = {}
    problems: list[str] = []
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            problems.append(f"账号“{name}”应为一个表")
            continue
        role, hashed = entry.get("role"), entry.get("password_hash")
        if role not in ROLES:
            problems.append(f"账号“{name}”的角色 {role!r} 无效（可选：{'、'.join(ROLES)}）")
        if not isinstance(hashed, str) or not hashed.startswith("scrypt$"):
            problems.append(f"账号“{name}”缺少有效的 password_hash（请用 `eldermap user add` 设置密码）")
        if role in ROLES and isinstance(hashed, str):
            users[str(name)] = User(name=str(name), role=str(role), display_name=str(entry.get("display_name", "")),
                                    password_hash=hashed)
    if problems:
        raise AuthError(f"账号文件 {path} 有 {len(problems)} 处问题：" + "；".join(problems),
                        f"{path}: {len(problems)} invalid user entries")
    return users


def _toml_str(text: str) -> str:
    # JSON string syntax (with \uXXXX escapes) is valid TOML basic-string syntax.
    return json.dumps(text, ensure_ascii=False)


def add_user(path: str | Path | None, name: str, role: str, password: str, *, display_name: str = "",
             replace: bool = False) -> User:
    """Add an account to the users file (created on demand), written atomically; return it.

    Raises
    ------
    AuthError
        Invalid name or role, a password shorter than :data:`MIN_PASSWORD_CHARS`,
        or an existing name when ``replace`` is False.
    """
    path = users_path(path)
    if not _NAME.match(name):
        raise AuthError(f"用户名“{name}”无效：只能用中文、字母、数字、下划线、点、@ 和短横线，1–64 个字符"
                        "（统一身份认证登录时用电子邮箱作用户名）",
                        f"invalid user name {name!r}")
    if role not in ROLES:
        raise AuthError(f"角色“{role}”无效，可选：{'、'.join(f'{r}（{ROLE_ZH[r]}）' for r in ROLES)}",
                        f"invalid role {role!r}")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AuthError(f"密码太短：至少 {MIN_PASSWORD_CHARS} 个字符（收到 {len(password)} 个）。请换一个更长的密码。",
                        f"password shorter than {MIN_PASSWORD_CHARS} characters")
    users = load_users(path)
    if name in users and not replace:
        raise AuthError(f"账号“{name}”已存在；如需重设密码或角色，请加 --replace", f"user {name!r} exists")
    user = User(name=name, role=role, display_name=display_name, password_hash=hash_password(password))
    users[name] = user
    lines = ["# ElderMap staff accounts: written by `eldermap user add`. Passwords are stored as scrypt hashes.", ""]
    for u in users.values():
        lines += [f"[users.{_toml_str(u.name)}]", f"role = {_toml_str(u.role)}"]
        if u.display_name:
            lines.append(f"display_name = {_toml_str(u.display_name)}")
        lines += [f"password_hash = {_toml_str(u.password_hash)}", ""]
    with atomic_write(path, mode="w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    os.chmod(path, 0o600)
    return user


def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    """The user whose name and password match, else None.

    Takes as long for an unknown name as for a wrong password (a dummy hash is verified).
    """
    user = users.get(name)
    ok = verify_password(password, user.password_hash if user is not None else _dummy_hash())
    return user if ok and user is not None else None
