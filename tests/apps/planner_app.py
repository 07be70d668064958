"""AppTest script: the planner page on the region "demo" of $ELDERMAP_REGIONS, as user "tester"."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import streamlit as st  # noqa: E402

from data.store import load_region  # noqa: E402
from geo.settings import Settings  # noqa: E402
from views.planner import render  # noqa: E402


@st.cache_resource
def _region(root: str):
    return load_region("demo", root=root)


ROOT = Path(os.environ["ELDERMAP_REGIONS"])
render(_region(str(ROOT)), Settings(), user="tester", regions_root=ROOT)
