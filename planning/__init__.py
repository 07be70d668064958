"""Service-radius planning: networks, travel times, coverage, accessibility (no streamlit here)."""
