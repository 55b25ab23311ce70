"""How a ``revenue-*`` command is described: name, parameters (bound by
name or position with CLN's rules), help text, and the actor that answers
it (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

from revops.jsonrpc import Param, usage


@dataclass(frozen=True)
class CommandSpec:
    name: str
    params: tuple[Param, ...]
    description: str
    # The actor that answers: "supervisor" or a coordinator's name.
    route: str = "supervisor"
    dev: bool = False  # only under revops-sim

    @property
    def usage(self) -> str:
        return usage(self.params)
