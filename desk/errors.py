"""Errors of the service desk: each an :class:`geo.errors.ElderMapError` (Chinese message, English ``en``)."""

from __future__ import annotations

from geo.errors import ElderMapError


class DeskError(ElderMapError, ValueError):
    """An order or a desk request is invalid (a field, a state, an unknown id)."""


class OrderNotFoundError(DeskError, LookupError):
    """No order of that id in the region's order log."""


class StaleOrderError(DeskError):
    """The order is not in the state the caller expected: someone else changed it first (optimistic check)."""


class CarerBusyError(DeskError):
    """The carer already has an active order whose window overlaps (dispatch refused)."""


class OrderStoreError(ElderMapError, RuntimeError):
    """The order log cannot be read or written (database locked, disk, connection)."""
