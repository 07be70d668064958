"""AppTest script: the planner page on the region $ELDERMAP_TEST_REGION (a parent: a city of counties) of
$ELDERMAP_REGIONS, as user "tester"."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from data.store import load_region  # noqa: E402
from geo.settings import Settings  # noqa: E402
from views.planner import render  # noqa: E402

ROOT = Path(os.environ["ELDERMAP_REGIONS"])
render(load_region(os.environ["ELDERMAP_TEST_REGION"], root=ROOT), Settings(), user="tester", regions_root=ROOT)
