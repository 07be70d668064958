"""Staff accounts: a users file with roles and scrypt-hashed passwords.

The users file is TOML, at ``$ELDERMAP_USERS`` or else ``./config/users.toml``.
The repository holds no users: the file is created by the first
``eldermap user add NAME --role admin``::

    [users."zhangsan"]
    role = "planner"                    # planner | staff | dispatcher | admin
    display_name = "张三"               # optional, shown in the app
    password_hash = "scrypt$16384$8$1$<salt b64>$<hash b64>"

Roles decide which pages a user may open: ``planner`` the planning page,
``staff`` the reports and data pages, ``dispatcher`` (调度员) the 12349 desk 调度,
``admin`` every page (:data:`PAGE_ROLES`
lives in the app). Passwords are never stored or logged, only their scrypt
hashes (n=2**14, r=8, p=1, a 16-byte random salt per password). Checking a
password for an unknown user costs as much as for a known one (a dummy hash is
verified), so response times do not tell which user names exist.

Login throttling and sessions live in the regions root, so that every session, process and
restart of the app sees them:

- ``<regions>/auth_state.json`` holds failed-login counts per account (keyed by an HMAC of the
  name, so a password typed into the name box is never stored) and per client address, their
  lockouts, and the revoked session tokens. It is read and rewritten under an exclusive
  ``fcntl.flock`` on ``<regions>/auth_state.lock`` and replaced atomically, so concurrent logins
  are each counted (:func:`begin_login`, :func:`finish_login`).
- ``<regions>/auth_secret`` (mode 0600, created at first use) is the HMAC key of the signed,
  expiring session tokens that let a login survive a reload (:func:`issue_token`,
  :func:`verify_token`, :func:`revoke_token`).

This module never imports streamlit.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import secrets
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data.store import atomic_write, regions_root
from data.vocab import USER_NAME_RULE_ZH, user_name_ok
from geo.errors import ElderMapError

try:  # POSIX; elsewhere the state file is not serialised between processes
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

ROLES: tuple[str, ...] = ("planner", "staff", "dispatcher", "admin")
ROLE_ZH: dict[str, str] = {"planner": "规划人员", "staff": "工作人员", "dispatcher": "调度员", "admin": "管理员"}
MIN_PASSWORD_CHARS = 8
DEFAULT_USERS_FILE = Path("config") / "users.toml"

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
_MAX_SCRYPT_N = 2**20  # refuse absurd cost parameters read from a (possibly edited) users file


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
    if not user_name_ok(name):
        raise AuthError(f"用户名“{name}”无效：{USER_NAME_RULE_ZH}"
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


# ---------------------------------------------------------------- throttling, lockout and session tokens

STATE_NAME = "auth_state.json"
LOCK_NAME = "auth_state.lock"
SECRET_NAME = "auth_secret"
SECRET_BYTES = 32
TOKEN_VERSION = "v1"
LOCAL_ADDRESS = "本机"
"""The address recorded for a client whose address is unknown (a local peer, see :func:`client_address`)."""


def secret_path(root: str | Path | None = None) -> Path:
    """The HMAC key of session tokens and name keys: ``<regions root>/auth_secret``."""
    return regions_root(root) / SECRET_NAME


def auth_secret(root: str | Path | None = None) -> bytes:
    """The deployment's HMAC key, created at first use (32 random bytes, file mode 0600).

    Deleting the file signs every user out (their tokens no longer verify).
    """
    path = secret_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:  # first use: exactly one process creates it; the others read what it wrote
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(SECRET_BYTES))
            f.flush()
            os.fsync(f.fileno())
    for _ in range(50):
        text = path.read_text(encoding="ascii").strip()
        if text:
            return bytes.fromhex(text)
        time.sleep(0.01)  # another process is writing it right now
    raise AuthError(f"会话密钥文件 {path} 为空：请删除它后重试", f"session secret {path} is empty")


@contextmanager
def _locked_state(root: str | Path | None) -> Iterator[dict[str, Any]]:
    """The throttling state, read and written back atomically under an exclusive lock."""
    base = regions_root(root)
    base.mkdir(parents=True, exist_ok=True)
    fd = os.open(base / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        path = base / STATE_NAME
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(state, dict):
                state = {}
        except (OSError, ValueError):
            state = {}  # missing or damaged: start afresh (counts restart, nobody is locked out for good)
        state.setdefault("failures", {})
        state.setdefault("revoked", {})
        yield state
        with atomic_write(path, mode="w", encoding="utf-8") as f:
            json.dump(state, f, ensure_ascii=False, separators=(",", ":"))
        os.chmod(path, 0o600)
    finally:
        os.close(fd)  # also releases the lock


def read_state(root: str | Path | None = None) -> dict[str, Any]:
    """The throttling state as stored (for tests and the CLI); empty parts when there is none."""
    path = regions_root(root) / STATE_NAME
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    return {"failures": state.get("failures", {}), "revoked": state.get("revoked", {})}


def account_key(name: str, *, root: str | Path | None = None) -> str:
    """The state key of a login name: an HMAC of it, so no typed name (maybe a password) is stored."""
    digest = hmac.new(auth_secret(root), name.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
    return f"user:{digest}"


def address_key(address: str | None) -> str | None:
    """The state key of a client address; None for an unknown (local) address, which is not throttled."""
    return f"addr:{address}" if address and address != LOCAL_ADDRESS else None


@dataclass(frozen=True)
class LoginAttempt:
    """What :func:`begin_login` decided about one login attempt.

    Attributes
    ----------
    allowed
        Whether the password may be checked; False while the account or the address is locked.
    account_failures, address_failures
        Failures counted so far, this attempt included (counted until :func:`finish_login` says it
        succeeded), within the lockout window.
    locked_minutes
        Whole minutes (at least 1) until the lock ends when not allowed, else 0.
    """

    allowed: bool
    account_failures: int = 0
    address_failures: int = 0
    locked_minutes: int = 0


@dataclass(frozen=True)
class LoginOutcome:
    """What :func:`finish_login` recorded: counts after the attempt and the locks it started now."""

    account_failures: int = 0
    address_failures: int = 0
    account_locked: bool = False
    address_locked: bool = False
    locked_minutes: int = 0


def _prune(state: dict[str, Any], now: float, window_s: float) -> None:
    """Forget failure counts older than the window whose lock (if any) has ended, and expired revocations."""
    failures = state["failures"]
    for key in [k for k, e in failures.items()
                if not isinstance(e, dict) or (float(e.get("locked_until", 0)) <= now
                                               and float(e.get("last", 0)) + window_s <= now)]:
        del failures[key]
    for key, entry in list(failures.items()):
        if entry.get("locked_until") and float(entry["locked_until"]) <= now:
            del failures[key]  # a lock that ended starts a fresh count
    _prune_revoked(state, now)


def _prune_revoked(state: dict[str, Any], now: float) -> None:
    """Forget revocations of tokens that have expired anyway."""
    revoked = state["revoked"]
    for jti in [j for j, exp in revoked.items() if not isinstance(exp, int | float) or exp <= now]:
        del revoked[jti]


def _minutes_left(until: float, now: float) -> int:
    return max(1, int(-(-(until - now) // 60)))


def begin_login(name: str, address: str | None, *, max_failures: int, lockout_minutes: float,
                address_max_failures: int, root: str | Path | None = None,
                now: float | None = None) -> LoginAttempt:
    """Count a login attempt before its password is checked, or refuse it while locked.

    Every attempt counts as a failure of the account (any name, known or not: a lock must not tell
    which names exist) and of the client address until :func:`finish_login` records a success, all
    in one locked read-modify-write of the state file, so parallel attempts from any number of
    sessions or processes are each counted and at most ``max_failures`` of them reach the password
    check within ``lockout_minutes``.

    Parameters
    ----------
    name
        The login name as typed.
    address
        The client address (:data:`LOCAL_ADDRESS` or None: not throttled by address).
    max_failures
        Failures of one account within the window that lock it.
    lockout_minutes
        Length of a lock, and the window failures are counted in, minutes.
    address_max_failures
        Failures from one address (over all names) within the window that lock the address.
    """
    now = time.time() if now is None else now
    window_s = lockout_minutes * 60.0
    keys = [(account_key(name, root=root), max_failures), (address_key(address), address_max_failures)]
    keys = [(k, limit) for k, limit in keys if k is not None]
    with _locked_state(root) as state:
        _prune(state, now, window_s)
        failures = state["failures"]
        for key, limit in keys:
            entry = failures.get(key, {})
            until = float(entry.get("locked_until", 0))
            if until > now:
                return LoginAttempt(False, locked_minutes=_minutes_left(until, now))
            if int(entry.get("count", 0)) >= limit:  # the limit's attempts are still being checked
                return LoginAttempt(False, locked_minutes=_minutes_left(float(entry.get("last", now)) + window_s,
                                                                        now))
        counts = []
        for key, _ in keys:
            entry = failures.setdefault(key, {"count": 0})
            entry["count"] = int(entry.get("count", 0)) + 1
            entry["last"] = now
            counts.append(entry["count"])
    return LoginAttempt(True, account_failures=counts[0], address_failures=counts[1] if len(counts) > 1 else 0)


def finish_login(name: str, address: str | None, ok: bool, *, max_failures: int, lockout_minutes: float,
                 address_max_failures: int, root: str | Path | None = None,
                 now: float | None = None) -> LoginOutcome:
    """Record how an attempt counted by :func:`begin_login` ended.

    A success clears the account's count and takes the attempt back from the address's; a failure
    stays counted, and locks the account (the address) for ``lockout_minutes`` when its count has
    reached ``max_failures`` (``address_max_failures``).
    """
    now = time.time() if now is None else now
    window_s = lockout_minutes * 60.0
    akey, ckey = account_key(name, root=root), address_key(address)
    with _locked_state(root) as state:
        _prune(state, now, window_s)
        failures = state["failures"]
        if ok:
            failures.pop(akey, None)
            if ckey is not None and ckey in failures:
                failures[ckey]["count"] = max(0, int(failures[ckey].get("count", 0)) - 1)
            return LoginOutcome(address_failures=int(failures.get(ckey, {}).get("count", 0)) if ckey else 0)
        locks = {}
        for key, limit in ((akey, max_failures), (ckey, address_max_failures)):
            if key is None:
                locks[key] = (0, False)
                continue
            entry = failures.setdefault(key, {"count": 1, "last": now})
            count = int(entry.get("count", 0))
            started = count >= limit and float(entry.get("locked_until", 0)) <= now
            if started:
                entry["locked_until"] = now + window_s
            locks[key] = (count, started)
    until_min = _minutes_left(now + window_s, now)
    return LoginOutcome(account_failures=locks[akey][0], address_failures=locks[ckey][0],
                        account_locked=locks[akey][1], address_locked=locks[ckey][1],
                        locked_minutes=until_min if locks[akey][1] or locks[ckey][1] else 0)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _password_tag(user: User) -> str:
    """A short fingerprint of the account's password hash: a new password ends the old sessions."""
    return hashlib.sha256(user.password_hash.encode("utf-8")).hexdigest()[:16]


def issue_token(user: User, *, hours: float, root: str | Path | None = None, now: float | None = None) -> str:
    """A signed session token for ``user``, valid for ``hours``: ``v1.<payload b64url>.<HMAC-SHA256 b64url>``.

    The payload holds the name, issue and expiry times (Unix seconds), a random token id and a
    fingerprint of the password hash; no role (looked up again on use) and no password.
    """
    now = time.time() if now is None else now
    payload = {"u": user.name, "iat": int(now), "exp": int(now + hours * 3600), "jti": secrets.token_hex(12),
               "pw": _password_tag(user)}
    body = _b64url(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    mac = hmac.new(auth_secret(root), f"{TOKEN_VERSION}.{body}".encode("ascii"), hashlib.sha256).digest()
    return f"{TOKEN_VERSION}.{body}.{_b64url(mac)}"


def token_payload(token: str, *, root: str | Path | None = None) -> dict[str, Any] | None:
    """The payload of a token whose signature is valid (expired or not), else None."""
    try:
        version, body, mac_text = str(token).split(".")
        if version != TOKEN_VERSION:
            return None
        expected = hmac.new(auth_secret(root), f"{version}.{body}".encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64url(mac_text)):
            return None
        payload = json.loads(_unb64url(body))
    except (ValueError, UnicodeError):
        return None
    return payload if isinstance(payload, dict) else None


def verify_token(token: str, users: dict[str, User], *, root: str | Path | None = None,
                 now: float | None = None) -> User | None:
    """The account a session token belongs to, or None when it is forged, altered, expired, revoked,
    of a removed account, or older than the account's current password."""
    now = time.time() if now is None else now
    payload = token_payload(token, root=root)
    if payload is None:
        return None
    try:
        expires, jti = float(payload["exp"]), str(payload["jti"])
        user = users.get(str(payload["u"]))
    except (KeyError, TypeError, ValueError):
        return None
    if user is None or expires <= now or not hmac.compare_digest(str(payload.get("pw", "")), _password_tag(user)):
        return None
    if jti in read_state(root)["revoked"]:
        return None
    return user


def revoke_token(token: str, *, root: str | Path | None = None) -> bool:
    """Revoke a session token (at logout) until it would have expired; whether it was a valid token."""
    payload = token_payload(token, root=root)
    if payload is None or "jti" not in payload:
        return False
    try:
        expires = float(payload["exp"])
    except (TypeError, ValueError):
        return False
    now = time.time()
    with _locked_state(root) as state:
        _prune_revoked(state, now)
        if expires > now:  # an expired token is dead anyway
            state["revoked"][str(payload["jti"])] = expires
    return True
