"""The features revops is made of, each declaring what it adds to the
plugin's surface: its tunables and the rules between them, its ``revenue-*`` commands, and its
Prometheus series. The backbone (``revops/config.py``,
``revops/commands.py``, ``revops/metrics.py``) puts them together, so a
feature is added by writing its own modules and listing it here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from revops.commandspec import CommandSpec
from revops.optionspec import NotAbove, OptionSpec


@dataclass(frozen=True)
class Feature:
    name: str  # also the attribute of Metrics holding this feature's series
    options: tuple[OptionSpec, ...] = ()
    rules: tuple[NotAbove, ...] = ()  # cross-key rules among its tunables
    commands: tuple[CommandSpec, ...] = ()
    # registry -> an object holding this feature's series (or None)
    metrics: Callable[[Any], Any] | None = None


def _load() -> tuple[Feature, ...]:
    from revops.fees.feature import FEATURE as FEES
    from revops.flow.feature import FEATURE as FLOW
    from revops.rebalance.feature import FEATURE as REBALANCE
    return (FEES, FLOW, REBALANCE)


FEATURES: tuple[Feature, ...] = _load()
