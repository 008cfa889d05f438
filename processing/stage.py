"""The streaming contract every stage of ``processing/`` keeps (docs/architecture.md, "The streaming contract").

- ``update(...)``: feed the next piece of the stream (a chunk of samples, epoch features, one epoch...) and get
  what it completes;
- ``finish()``: the end of the stream: get what is still held back (the same kind of result as ``update``;
  empty when the stage holds nothing back). The stage may then be reset or dropped;
- ``reset()``: forget everything but the parameters: the state of a new stream;
- ``snapshot()`` / ``restore(snapshot)``: the whole state, taken and put back, so that a stream can be rewound
  or forked (``restore`` then ``update`` gives what ``update`` gave after the ``snapshot``).

Parameters are fixed at construction (a frozen dataclass or keyword-only arguments); everything else is state.
Most stages take :class:`SnapshotState`'s snapshot: a deep copy of every attribute, so no part of the state
can be missed. A snapshot lives in memory; the alert rules' state also has a JSON form that survives a restart
(:meth:`processing.alerts.AlertRules.state`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Stage(Protocol):
    """A streaming stage: ``update``, ``finish``, ``reset``, ``snapshot``, ``restore`` (see the module)."""

    def update(self, *args: Any, **kwargs: Any) -> Any: ...
    def finish(self) -> Any: ...
    def reset(self) -> None: ...
    def snapshot(self) -> Any: ...
    def restore(self, snapshot: Any) -> None: ...


@dataclass(frozen=True)
class Snapshot:
    """The whole state of one stage object: ``owner`` is its class's qualified name, ``values`` deep copies of
    its attributes (do not modify them; :meth:`SnapshotState.restore` copies them again)."""

    owner: str
    values: dict[str, Any]


class SnapshotState:
    """``snapshot()`` / ``restore()`` for a stage whose state is its attributes (the contract's state getter and
    setter; nested stages are copied with it).

    >>> class Counter(SnapshotState):
    ...     def __init__(self) -> None:
    ...         self.n = 0
    >>> c = Counter()
    >>> saved = c.snapshot()
    >>> c.n = 5
    >>> c.restore(saved)
    >>> c.n
    0
    """

    def snapshot(self) -> Snapshot:
        """A deep copy of every attribute of this object."""
        return Snapshot(type(self).__qualname__, copy.deepcopy(vars(self)))

    def restore(self, snapshot: Snapshot) -> None:
        """Put back the state :meth:`snapshot` took (of an object of the same class). ValueError otherwise."""
        if not isinstance(snapshot, Snapshot) or snapshot.owner != type(self).__qualname__:
            owner = snapshot.owner if isinstance(snapshot, Snapshot) else type(snapshot).__name__
            raise ValueError(f"{type(self).__qualname__}.restore: a snapshot of {owner} does not fit")
        values = copy.deepcopy(snapshot.values)
        vars(self).clear()
        vars(self).update(values)
