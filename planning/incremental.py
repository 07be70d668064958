"""Coverage kept up to date while a planner opens and closes facilities, without recomputing the city.

:class:`CoverageState` holds, for every elder, how many facilities reach them within the cutoff
(from one catchment matrix, built once). Opening a facility runs one Dijkstra limited to the
cutoff from its edge's two ends and raises the counts of the elders it reaches; closing one lowers
the counts of its catchment. An elder is covered while the count is above zero. Covered counts per
area are updated from the elders whose state flipped only.

The result always equals a full recompute with the same facilities (tested), because a count is an
exact "how many facilities within the cutoff", not a nearest time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import dijkstra

from geo.errors import PlanningInputError
from planning.catchments import catchment_matrix
from planning.network import Network, Snap
from planning.routing import edge_ends, times_from_nodes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """What one update did: elders newly covered (add) or newly uncovered (close), by position."""

    facility_id: str
    newly_covered: np.ndarray
    newly_uncovered: np.ndarray
    catchment_size: int


def single_catchment(network: Network, source: Snap, targets: Snap, *, cutoff_min: float,
                     target_ends: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Targets reachable within ``cutoff_min`` from one snapped source: (positions, minutes).

    One Dijkstra from the ends of the source's edge on the base graph (no graph rebuilt), limited to
    the cutoff; only targets on edges with a reached end are evaluated. ``target_ends`` (u and v node
    of each target's edge, -1 when unsnapped) can be passed to skip recomputing them.
    """
    if len(source) != 1:
        raise PlanningInputError("一次只能计算一个设施的服务范围", f"expected one source, got {len(source)}")
    if not source.snapped[0]:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    e = source.edge[:1]
    u, v, T, two_way = edge_ends(network, e)
    a, t = float(source.access_min[0]), float(source.t[0])
    starts = [int(v[0])]
    offsets = [a + (1 - t) * float(T[0])]
    if two_way[0] or t <= 0.0:  # against a oneway edge only from its start node
        starts.append(int(u[0]))
        offsets.append(a + t * float(T[0]))
    budget = cutoff_min - min(offsets)
    if budget < 0:
        node_dist = np.full(network.n_nodes, np.inf)
    else:
        d = dijkstra(network.graph, directed=True, indices=starts, limit=budget)
        node_dist = np.min(d + np.asarray(offsets)[:, None], axis=0)
    if target_ends is None:
        snapped = targets.snapped
        tu, tv, _, _ = edge_ends(network, np.where(snapped, targets.edge, 0))
        target_ends = (np.where(snapped, tu, -1), np.where(snapped, tv, -1))
    tu, tv = target_ends
    reached = np.isfinite(node_dist)
    near = (tu >= 0) & (reached[np.maximum(tu, 0)] | reached[np.maximum(tv, 0)])
    near |= targets.edge == e[0]  # targets on the source's own edge are reached along it
    rows = np.flatnonzero(near & targets.snapped)
    times, _ = times_from_nodes(network, node_dist, np.zeros(network.n_nodes, dtype=np.int64), source, targets,
                                rows, max_minutes=cutoff_min)
    keep = np.isfinite(times)
    return rows[keep], times[keep]


class CoverageState:
    """Who is covered within ``cutoff_min``, maintained under facility additions and closures.

    Parameters
    ----------
    network
        The travel-time network.
    facilities
        Snaps of the existing facilities, with their ``facility_ids`` (unique strings).
    elders
        Snaps of the elders.
    cutoff_min
        Service circle, minutes.
    area_group, area_codes
        Optional: each elder's area index into ``area_codes``; covered counts per area are then kept.
    """

    def __init__(self, network: Network, facilities: Snap, facility_ids: list[str] | np.ndarray, elders: Snap, *,
                 cutoff_min: float, area_group: np.ndarray | None = None, area_codes: np.ndarray | None = None):
        ids = [str(i) for i in facility_ids]
        if len(ids) != len(facilities):
            raise PlanningInputError("设施编号个数与设施数不一致", f"{len(ids)} ids for {len(facilities)} facilities")
        if len(set(ids)) != len(ids):
            raise PlanningInputError("设施编号重复", "facility ids must be unique")
        self.network = network
        self.elders = elders
        self.cutoff_min = float(cutoff_min)
        matrix = catchment_matrix(network, facilities, elders, cutoff_min=cutoff_min)
        self._members = {fid: matrix.indices[matrix.indptr[k]:matrix.indptr[k + 1]].copy()
                         for k, fid in enumerate(ids)}
        self.count = np.bincount(matrix.indices, minlength=len(elders)).astype(np.int32)
        snapped = elders.snapped
        tu, tv, _, _ = edge_ends(network, np.where(snapped, elders.edge, 0))
        self._ends = (np.where(snapped, tu, -1), np.where(snapped, tv, -1))
        self.area_group = area_group
        self.area_codes = area_codes
        if area_group is not None:
            n_areas = len(area_codes) if area_codes is not None else int(area_group.max()) + 1
            self.area_elders = np.bincount(area_group, minlength=n_areas)
            self.area_covered = np.bincount(area_group[self.count > 0], minlength=n_areas)
        log.info("coverage state: %d facilities, %d elders, %d covered within %g min", len(ids), len(elders),
                 int((self.count > 0).sum()), cutoff_min)

    @property
    def facility_ids(self) -> list[str]:
        return list(self._members)

    @property
    def covered(self) -> np.ndarray:
        """Bool per elder: at least one open facility within the cutoff."""
        return self.count > 0

    def add(self, facility_id: str, source: Snap) -> Change:
        """Open a facility at ``source`` (a one-point Snap on the same network)."""
        facility_id = str(facility_id)
        if facility_id in self._members:
            raise PlanningInputError(f"设施编号 {facility_id} 已存在", f"facility {facility_id!r} already open")
        reach, _ = single_catchment(self.network, source, self.elders, cutoff_min=self.cutoff_min,
                                    target_ends=self._ends)
        newly = reach[self.count[reach] == 0]
        self.count[reach] += 1
        self._members[facility_id] = reach
        if self.area_group is not None:
            self.area_covered += np.bincount(self.area_group[newly], minlength=len(self.area_covered))
        return Change(facility_id, newly, np.zeros(0, dtype=np.int64), len(reach))

    def close(self, facility_id: str) -> Change:
        """Close an open facility."""
        facility_id = str(facility_id)
        if facility_id not in self._members:
            raise PlanningInputError(f"没有编号为 {facility_id} 的设施", f"no open facility {facility_id!r}")
        reach = self._members.pop(facility_id)
        self.count[reach] -= 1
        lost = reach[self.count[reach] == 0]
        if self.area_group is not None:
            self.area_covered -= np.bincount(self.area_group[lost], minlength=len(self.area_covered))
        return Change(facility_id, np.zeros(0, dtype=np.int64), lost, len(reach))

    def catchment(self, facility_id: str) -> np.ndarray:
        """Elder positions an open facility reaches within the cutoff."""
        return self._members[str(facility_id)].copy()
