"""API keys for the non-public parts of the OGC API service, each tied to a role.

Keys live in ``$ELDERMAP_API_KEYS``, else ``<regions root>/api_keys.json``; only their SHA-256 is stored (a key is
32 random bytes, so a plain hash cannot be guessed back). A key is shown once, when it is added. Revoked keys stay
in the file (with the time of revocation) so the audit log's names keep their meaning.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.store import atomic_write, regions_root
from geo.errors import ElderMapError

ROLES: dict[str, str] = {
    "partner": "合作系统（可提交设施登记）",
    "planner": "规划人员（可读未脱敏的覆盖汇总）",
    "staff": "民政工作人员（可读未脱敏数据、可提交设施登记）",
    "admin": "管理员（全部）",
}
"""Role -> what it may do, in Chinese."""

PERMISSIONS: dict[str, frozenset[str]] = {
    "read_private": frozenset({"planner", "staff", "admin"}),
    "write_facilities": frozenset({"partner", "staff", "admin"}),
}
"""Permission -> the roles that have it."""

KEY_PREFIX = "emk_"
NAME_RULE_ZH = "名称应为 1–40 个字母、数字、汉字、- 或 _"
_NAME = re.compile(r"^[\w\-]{1,40}$")


class ApiKeyError(ElderMapError, ValueError):
    """An API key command that cannot be done (unknown role, duplicate or unknown name)."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: str
    created: str
    revoked: str | None = None


def keys_path(root: str | Path | None = None) -> Path:
    """``$ELDERMAP_API_KEYS``, else ``<regions root>/api_keys.json``."""
    env = os.environ.get("ELDERMAP_API_KEYS")
    return Path(env) if env else regions_root(root) / "api_keys.json"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ApiKeyError(f"API 密钥文件 {path} 无法读取：{exc}", f"cannot read {path}: {exc}") from None
    return list(data.get("keys", []))


@contextmanager
def _locked(path: Path) -> Iterator[list[dict[str, Any]]]:
    """The key list under an exclusive lock; written back atomically when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = _read(path)
        yield entries
        with atomic_write(path, mode="w", encoding="utf-8") as f:
            json.dump({"keys": entries}, f, ensure_ascii=False, indent=2)
        os.chmod(path, 0o600)


def add_key(name: str, role: str, *, root: str | Path | None = None) -> str:
    """Add a key for ``name`` with ``role``; returns the key (shown once, never stored)."""
    if role not in ROLES:
        raise ApiKeyError(f"角色“{role}”无效，可选：{'、'.join(f'{r}（{z}）' for r, z in ROLES.items())}",
                          f"unknown role {role!r}")
    if not _NAME.match(name):
        raise ApiKeyError(f"密钥名称“{name}”无效：{NAME_RULE_ZH}", f"bad key name {name!r}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with _locked(keys_path(root)) as entries:
        if any(e["name"] == name and not e.get("revoked") for e in entries):
            raise ApiKeyError(f"已有名为“{name}”的有效密钥；请先吊销或换一个名称", f"key {name!r} exists")
        entries.append({"name": name, "role": role, "sha256": _digest(key),
                        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "revoked": None})
    return key


def revoke_key(name: str, *, root: str | Path | None = None) -> int:
    """Revoke every active key called ``name``; returns how many."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with _locked(keys_path(root)) as entries:
        hits = [e for e in entries if e["name"] == name and not e.get("revoked")]
        if not hits:
            raise ApiKeyError(f"没有名为“{name}”的有效密钥", f"no active key {name!r}")
        for e in hits:
            e["revoked"] = now
    return len(hits)


def list_keys(*, root: str | Path | None = None) -> list[ApiKey]:
    """Every key (active and revoked), without hashes."""
    return [ApiKey(e["name"], e["role"], e.get("created", ""), e.get("revoked")) for e in _read(keys_path(root))]


def lookup(key: str | None, *, root: str | Path | None = None) -> ApiKey | None:
    """The active key matching ``key``, or None."""
    if not key:
        return None
    digest = _digest(key.strip())
    found = None
    for e in _read(keys_path(root)):
        if hmac.compare_digest(e.get("sha256", ""), digest) and not e.get("revoked"):
            found = ApiKey(e["name"], e["role"], e.get("created", ""), None)
    return found


def allowed(key: ApiKey | None, permission: str) -> bool:
    """Whether a key's role has ``permission`` (no key: nothing beyond the public collections)."""
    return key is not None and key.role in PERMISSIONS[permission]


__all__ = ["ROLES", "ApiKey", "ApiKeyError", "add_key", "allowed", "keys_path", "list_keys", "lookup", "revoke_key"]
