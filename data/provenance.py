"""Where a region's data came from, in words: the manifest's sources, layers and synthetic flags.

One home for rendering ``manifest.json`` provenance, used by ``eldermap info``, the data page,
every page's demo banner and the report's notes. Pure functions of the manifest dict (read by
:mod:`data.store`); nothing here touches files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import pandas as pd

from geo.labels import LAYER_ZH


@dataclass(frozen=True)
class Source:
    """One entry of ``manifest["sources"]``.

    Attributes
    ----------
    layer
        Stored layer it filled ("facilities", "road_edges"…), "" if not recorded.
    kind
        Kind of source ("OpenStreetMap PBF", "xlsx"…), "" if not recorded.
    where
        File name (never a full path) or place name, "" if not recorded.
    sha256
        The file's SHA-256 in hex, "" if not recorded.
    rows_read, rows_imported, rows_rejected
        Row counts of a validated import; None for sources without validation (roads).
    """

    layer: str
    kind: str
    where: str
    sha256: str
    rows_read: int | None = None
    rows_imported: int | None = None
    rows_rejected: int | None = None

    @property
    def layer_zh(self) -> str:
        return LAYER_ZH.get(self.layer, self.layer)

    @property
    def counted(self) -> bool:
        return self.rows_read is not None


def _count(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def manifest_sources(manifest: dict[str, Any]) -> list[Source]:
    """The manifest's sources; an entry that is not a mapping becomes a source with only ``where``."""
    out = []
    for s in manifest.get("sources") or []:
        if not isinstance(s, dict):
            out.append(Source(layer="", kind="", where=str(s), sha256=""))
            continue
        where = s.get("file") or s.get("place") or (PurePath(str(s["path"])).name if s.get("path") else "")
        out.append(Source(
            layer=str(s.get("layer") or ""), kind=str(s.get("kind") or ""), where=str(where),
            sha256=str(s.get("sha256") or ""),
            rows_read=_count(s.get("rows_read")) if "rows_read" in s else None,
            rows_imported=_count(s.get("rows_imported")), rows_rejected=_count(s.get("rows_rejected")),
        ))
    return out


def source_text_zh(source: Source) -> str:
    """One source in a line: "养老服务设施：名单.xlsx（xlsx），SHA-256 0123456789ab，读取 12 行，导入 11 行，拒绝 1 行"."""
    text = f"{source.layer_zh}：{source.where}"
    if source.kind:
        text += f"（{source.kind}）"
    if source.sha256:
        text += f"，SHA-256 {source.sha256[:12]}"
    if source.counted:
        text += f"，读取 {source.rows_read} 行，导入 {source.rows_imported} 行，拒绝 {source.rows_rejected} 行"
    return text


def sources_table(manifest: dict[str, Any]) -> pd.DataFrame:
    """The sources as a table: 图层, 类型, 来源, SHA-256 prefix, and 读取/导入/拒绝 where counted."""
    rows = []
    for s in manifest_sources(manifest):
        row = {"图层": s.layer_zh, "类型": s.kind, "来源": s.where, "SHA-256（前 12 位）": s.sha256[:12]}
        if s.counted:
            row["读取/导入/拒绝"] = f"{s.rows_read} / {s.rows_imported} / {s.rows_rejected}"
        rows.append(row)
    return pd.DataFrame(rows)


def layers_table(manifest: dict[str, Any]) -> pd.DataFrame:
    """Row count, file and SHA-256 prefix of each stored layer."""
    return pd.DataFrame([
        {"图层": LAYER_ZH.get(name, name), "代码": name, "行数": int(info.get("rows", 0)),
         "文件": str(info.get("file", "")), "SHA-256（前 12 位）": str(info.get("sha256", ""))[:12]}
        for name, info in (manifest.get("layers") or {}).items() if isinstance(info, dict)
    ])


def synthetic_layers(manifest: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(real layers, synthesised layers) from ``manifest["synthetic"]``, in manifest order."""
    flags: dict[str, bool] = manifest.get("synthetic") or {}
    return [k for k, v in flags.items() if not v], [k for k, v in flags.items() if v]


def _join_zh(items: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a、b与c"``."""
    if len(items) <= 1:
        return "".join(items)
    return "、".join(items[:-1]) + "与" + items[-1]


def provenance_banner_zh(manifest: dict[str, Any]) -> str:
    """Which layers are real and which synthesised; empty when all are real.

    Real layers name the kinds of their sources (e.g. "OpenStreetMap PBF").
    """
    real, fake = synthetic_layers(manifest)
    if not fake:
        return ""
    parts = []
    if real:
        kinds = list(dict.fromkeys(s.kind for s in manifest_sources(manifest) if s.layer in real and s.kind))
        source = f"（来源：{'、'.join(kinds)}）" if kinds else ""
        parts.append(f"{_join_zh([LAYER_ZH.get(k, k) for k in real])}：真实数据{source}")
    parts.append(f"{_join_zh([LAYER_ZH.get(k, k) for k in fake])}：演示用合成数据，不代表任何真实机构或个人")
    return "；".join(parts)


__all__ = ["Source", "layers_table", "manifest_sources", "provenance_banner_zh", "source_text_zh",
           "sources_table", "synthetic_layers"]
