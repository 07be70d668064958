"""Settings, the h3 wrapper, and the documentation generated from the schema."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import shapely

from data.schema import TABLES, header_map, markdown_table
from geo import hexes
from geo.errors import SettingsError
from geo.settings import DEFAULT_SETTINGS_FILE, Settings, load_settings, settings_digest

ROOT = Path(__file__).parents[1]


def test_default_file_matches_dataclass_defaults() -> None:
    assert load_settings(DEFAULT_SETTINGS_FILE) == Settings()
    assert load_settings(None) == Settings()


def test_partial_file_overrides_only_given_fields(tmp_path: Path) -> None:
    path = tmp_path / "city.toml"
    path.write_text("walk_speed_kmh = 2.4\ncircle_minutes = [10, 20]\n", encoding="utf-8")
    s = load_settings(path)
    assert s.walk_speed_kmh == 2.4 and s.circle_minutes == (10, 20)
    assert s.h3_resolution == Settings().h3_resolution
    assert settings_digest(s) != settings_digest(Settings())
    nested = tmp_path / "nested.toml"
    nested.write_text("[eldermap]\nsuppression_threshold = 10\n", encoding="utf-8")
    assert load_settings(nested).suppression_threshold == 10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("walking_speed = 3\n", "含未知项：walking_speed"),
        ("walk_speed_kmh = 'fast'\n", "walk_speed_kmh 类型错误"),
        ("walk_speed_kmh = 40\n", "walk_speed_kmh 应在 0.5–10 之间"),
        ("circle_minutes = [0, 15]\n", "circle_minutes 应为 1–120"),
        ("h3_resolution = 16\n", "h3_resolution 应在 0–15 之间"),
        ("walk_speed_kmh = \n", "不是有效的 TOML"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=message):
        load_settings(path)


def test_missing_settings_file() -> None:
    with pytest.raises(SettingsError, match="找不到设置文件"):
        load_settings("/nonexistent/eldermap.toml")


def test_h3_cells_round_trip_and_order() -> None:
    lon, lat = np.array([24.9384, 116.3975, np.nan]), np.array([60.1699, 39.9087, 1.0])
    cells = hexes.cells_for_points(lon, lat, 9)
    assert cells[2] is None
    for cell, x, y in zip(cells[:2], lon[:2], lat[:2], strict=True):
        assert hexes.is_valid(cell) and hexes.resolution_of(cell) == 9
        assert hexes.cell_polygon(cell).contains(shapely.Point(x, y))  # (lon, lat) order throughout
        cx, cy = hexes.cell_centre(cell)
        assert abs(cx - x) < 0.005 and abs(cy - y) < 0.005
        assert hexes.parent(cell, 7) == hexes.cells_for_points(np.array([x]), np.array([y]), 7)[0]


def test_h3_is_only_called_from_geo_hexes() -> None:
    offenders = []
    for path in ROOT.rglob("*.py"):
        if ".venv" in path.parts or path == ROOT / "geo" / "hexes.py" or "tests" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "h3" or n.startswith("h3.") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_header_aliases_are_unambiguous_within_a_table() -> None:
    from data.schema import normalise_header

    for table, specs in TABLES.items():
        seen: dict[str, str] = {}
        for spec in specs:
            for alias in {normalise_header(a) for a in (spec.name, spec.zh, *spec.aliases)}:
                assert seen.setdefault(alias, spec.name) == spec.name, (table, alias, seen[alias], spec.name)


def test_header_map_folds_units_and_width() -> None:
    mapping, unknown = header_map(["床位数（张）", "ＩＤ", " 经度 ", "备注"], "facilities")
    assert mapping == {"床位数（张）": "beds_total", "ＩＤ": "id", " 经度 ": "lon"}
    assert unknown == ["备注"]


def test_readme_data_model_is_generated_from_schema() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for table in TABLES:
        assert markdown_table(table) in readme, f"README data model for {table} is stale: run `eldermap schema --readme README.md`"
