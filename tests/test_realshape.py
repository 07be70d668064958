"""End to end on real-shaped staff files: street polygons only, a community list without geometry, a GBK
facility register in GCJ-02 with names instead of codes, an elder register with ID numbers.

The expected per-street annex figures and coverage are computed here from the truth the sample
files were written from (``data.samples``) with plain pandas — not with ElderMap's own area
assignment — so a silent 未归属 or a wrong attribution fails the test.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import eldermap
from data import store
from data.samples import write_staff_samples
from geo.labels import UNASSIGNED
from geo.osm import demo_pbf_path
from geo.settings import Settings

DATE = dt.date(2025, 12, 31)


@pytest.fixture(scope="module")
def imported(demo_region, tmp_path_factory: pytest.TempPathFactory):
    """The sample files written from the demo layers and imported, as a user would, with the CLI."""
    tmp = tmp_path_factory.mktemp("realshape")
    files = write_staff_samples(dict(demo_region.layers), tmp / "files")
    root = tmp / "regions"
    base = ["--regions", str(root), "import", "real"]
    reports = ["--report-dir", str(tmp / "reports")]
    assert eldermap.main([*base, "--roads", str(demo_pbf_path()), "--areas", str(files.streets), *reports]) == 0
    assert eldermap.main([*base, "--areas", str(files.communities), *reports]) == 0
    assert eldermap.main([*base, "--facilities", str(files.facilities), "--facility-crs", "gcj02",
                          "--elders", str(files.elders), "--service-areas", str(files.service_areas), *reports]) == 0
    return files, root, tmp


def _expected_annex(files, settings: Settings) -> pd.DataFrame:
    """Annex-2 figures per street, by hand from the truth (statistics date 2025-12-31, 户籍 elders,
    居委会 only, disabled = 重度/完全失能, grade 一级/二级 or 失智)."""
    el = files.elder_truth
    age = DATE.year - el["birth_year"] - (el["birth_month"] > DATE.month)
    counted = el[(age >= 60) & el["registered"]].assign(age=age)
    disabled = (counted["ability_code"].isin([3, 4]) | counted["disability_grade"].isin(["一级", "二级"])
                | counted["dementia"])
    fac = files.facility_truth
    inst = fac[fac["kind"].isin(settings.institution_kinds)]
    comm_fac = fac[fac["kind"].isin(settings.community_facility_kinds)]
    ct = files.community_truth
    urban = ct[ct["type"] == "居委会"]
    served = set(comm_fac["community_code"].dropna())
    rows = []
    for street in files.street_truth["code"]:
        mine = urban[urban["street_code"] == street]
        e = counted[counted["street_code"] == street]
        rows.append({
            "code": street,
            "communities": len(mine),
            "communities_with_facility": int(mine["code"].isin(served).sum()),
            "elders": len(e), "oldest_old": int((e["age"] >= 80).sum()),
            "disabled": int(disabled[counted["street_code"] == street].sum()),
            "institutions": int((inst["street_code"] == street).sum()),
            "institution_beds": int(inst.loc[inst["street_code"] == street, "beds_total"].sum()),
            "institution_residents": int(inst.loc[inst["street_code"] == street, "residents"].sum()),
            "community_facilities": int((comm_fac["street_code"] == street).sum()),
            "community_facility_beds": int(comm_fac.loc[comm_fac["street_code"] == street, "beds_total"].sum()),
            "community_elders_served": int(comm_fac.loc[comm_fac["street_code"] == street, "elders_served"].sum()),
        })
    return pd.DataFrame(rows).set_index("code")


def test_every_record_gets_its_street_and_community(imported) -> None:
    files, root, _ = imported
    region = store.load_region("real", root=root)
    elders, truth = region.elders, files.elder_truth
    assert len(elders) == len(truth), "every elder row of the sample is valid and must be imported"
    row = elders["source_row"].to_numpy() - 2  # xlsx: header on row 1
    assert (elders["street_code"].astype(str).to_numpy() == truth["street_code"].to_numpy()[row]).all()
    assert (elders["community_code"].astype(str).to_numpy() == truth["community_code"].to_numpy()[row]).all()
    fac = region.facilities
    ftruth = files.facility_truth
    frow = fac["source_row"].to_numpy() - 3  # csv: title row, header on row 2
    assert (fac["street_code"].astype(str).to_numpy() == ftruth["street_code"].to_numpy()[frow]).all()
    given = ftruth["community_code"].to_numpy()[frow]
    got = fac["community_code"].astype(object).to_numpy()
    for g, c in zip(given, got, strict=True):
        assert (c is None or pd.isna(c)) if pd.isna(g) else c == g
    communities = region.areas[region.areas["level"] == "community"]
    assert set(communities["code"]) == set(files.community_truth["code"])
    assert region.areas.loc[region.areas["level"] == "street"].geometry.notna().all()


def test_annex_by_street_equals_the_hand_computation(imported) -> None:
    from planning.report import build_report

    files, root, _ = imported
    settings = Settings()
    region = store.load_region("real", root=root)
    report = build_report(region, settings=settings, by="street", statistics_date=DATE)
    basic = report.basic.set_index("code")
    expected = _expected_annex(files, settings)
    assert UNASSIGNED not in basic.index
    got = basic.loc[expected.index, expected.columns].astype("int64")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    rate = basic.loc[expected.index, "coverage_rate_pct"].to_numpy(dtype=float)
    want = 100.0 * expected["communities_with_facility"] / expected["communities"]
    np.testing.assert_allclose(rate, want.round(1).to_numpy(), atol=0.051)
    pop = files.street_truth.set_index("code")["registered_population"]
    np.testing.assert_array_equal(basic.loc[expected.index, "registered_population"].astype("int64"),
                                  pop.loc[expected.index].to_numpy())


def test_coverage_by_street_counts_each_elder_in_its_own_street(imported) -> None:
    from planning.coverage import elder_access, elder_snap_for, network_for, region_coverage

    files, root, _ = imported
    settings = Settings()
    region = store.load_region("real", root=root)
    table, _ = region_coverage(region, settings=settings, minutes=15, mode="walk", kind=None, by="street")
    table = table.set_index("code")
    net = network_for(region, "walk", settings)
    visited = region.facilities[~region.facilities["kind"].isin(settings.home_care_kinds)]
    access = elder_access(net, visited, region.elders, settings=settings,
                          elder_snap=elder_snap_for(region, "walk", settings))
    truth = files.elder_truth.iloc[region.elders["source_row"].to_numpy() - 2].reset_index(drop=True)
    counted = truth["resident"].to_numpy()  # coverage counts 常住 elders by default
    covered = access["time_min:any"].to_numpy() <= 15
    for street in files.street_truth["code"]:
        mine = counted & (truth["street_code"].to_numpy() == street)
        assert table.loc[street, "elders"] == mine.sum()
        assert table.loc[street, "covered"] == (mine & covered).sum()
    assert UNASSIGNED not in table.index


def test_cli_report_by_street_writes_the_annex_without_unassigned_warning(imported, capsys) -> None:
    files, root, tmp = imported
    out = tmp / "out"
    code = eldermap.main(["--regions", str(root), "report", "real", "--by", "street", "--date", DATE.isoformat(),
                          "--out", str(out / "annex.xlsx")])
    assert code == 0, capsys.readouterr().err
    assert (out / "annex.xlsx").exists()


def test_cli_import_says_how_areas_were_assigned(demo_region, tmp_path: Path, capsys) -> None:
    files = write_staff_samples(dict(demo_region.layers), tmp_path / "files", n_elders=200)
    root = tmp_path / "regions"
    base = ["--regions", str(root), "import", "r", "--report-dir", str(tmp_path / "reports")]
    assert eldermap.main([*base, "--roads", str(demo_pbf_path()), "--areas", str(files.streets)]) == 0
    capsys.readouterr()
    assert eldermap.main([*base, "--elders", str(files.elders)]) == 0
    out = capsys.readouterr().out
    assert "街道" in out and "未归属" in out
