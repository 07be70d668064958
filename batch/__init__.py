"""Province-scale batches: regions in a hierarchy (city, province), a province split into county regions with
cross-border halos, and batches run per county on Dask with roll-ups.

Layering: ``batch`` may import ``geo``, ``data`` and ``planning``; none of them imports ``batch``.
"""
