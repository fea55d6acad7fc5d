"""How a worker keeps its lease on a run: when it renews, and when it must give up and stop its command.

A worker renews its lease every third of it. A renewal is a write, and a write may have to wait for the
database's writer (on SQLite the writer queue and the busy timeout; ``writer_wait``). If a renewal can wait
that long, the lease must outlast the renewal interval plus that wait, or a worker that is alive but waiting
behind a long writer loses its run to another worker while its command still runs (two executions of one
step). A worker that cannot renew stops its command ``stop_margin`` before its lease would expire, and gives
the command ``kill_grace`` between SIGTERM and SIGKILL, so the command is gone before anybody may take over.
Hence: ``lease - stop_margin > writer_wait + renew_every``, i.e. (with the fractions below) lease > 2 × writer_wait.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PolicyError

RENEW_FRACTION = 1 / 3  # a renewal every third of the lease
STOP_FRACTION = 1 / 6  # unrenewed, the worker stops its command when a sixth of the lease is left
MAX_KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL of a step's process group, at most


@dataclass(frozen=True)
class LeaseTiming:
    lease: float  # seconds
    writer_wait: float  # how long one write may wait for the database's writer, seconds

    @property
    def renew_every(self) -> float:
        return self.lease * RENEW_FRACTION

    @property
    def stop_margin(self) -> float:
        return self.lease * STOP_FRACTION

    @property
    def kill_grace(self) -> float:
        return min(MAX_KILL_GRACE, self.stop_margin / 2)

    @property
    def shortest_lease(self) -> float:
        """The shortest lease that a renewal waiting ``writer_wait`` still reaches in time."""
        return self.writer_wait / (1 - RENEW_FRACTION - STOP_FRACTION)


def lease_timing(lease: float, writer_wait: float, *, where: str = "deploy.lease") -> LeaseTiming:
    """The timing of a ``lease`` on a database whose writes wait up to ``writer_wait``; a ``PolicyError`` naming
    the setting when the lease is too short for a renewal to survive that wait."""
    timing = LeaseTiming(lease, writer_wait)
    if lease <= 0 or lease - timing.stop_margin <= writer_wait + timing.renew_every:
        raise PolicyError(
            f"{where} is {lease:g} s, too short: a worker renews its lease every third of it, and a renewal may "
            f"wait {writer_wait:g} s for the database's writer; the lease must outlast that wait plus the renewal "
            f"interval plus the sixth of it in which a worker that could not renew stops its command, so more "
            f"than {timing.shortest_lease:g} s on this database (e.g. {where}: {_suggest(timing.shortest_lease)})")
    return timing


def _suggest(shortest: float) -> str:
    return f"{max(1, int(shortest * 1.5 + 0.999))}s"
