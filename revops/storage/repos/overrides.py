"""Runtime config overrides: ``revenue-config set`` values that outlive restarts."""

from __future__ import annotations

from dataclasses import dataclass

from revops.storage.models import ConfigOverride


@dataclass(frozen=True)
class OverrideRow:
    key: str
    value: str  # the option's canonical string form; the config layer parses it
    source: str  # who set it: "rpc" for revenue-config
    updated_at: float


def _row(m: ConfigOverride) -> OverrideRow:
    return OverrideRow(key=m.key, value=m.value, source=m.source, updated_at=m.updated_at)


def all_rows() -> dict[str, OverrideRow]:
    return {m.key: _row(m) for m in ConfigOverride.select().order_by(ConfigOverride.key)}


def get(key: str) -> OverrideRow | None:
    m = ConfigOverride.get_or_none(ConfigOverride.key == key)
    return None if m is None else _row(m)


def upsert(key: str, value: str, source: str, now: float) -> None:
    (
        ConfigOverride.insert(key=key, value=value, source=source, updated_at=now)
        .on_conflict(
            conflict_target=[ConfigOverride.key],
            preserve=[ConfigOverride.value, ConfigOverride.source, ConfigOverride.updated_at],
        )
        .execute()
    )


def delete(key: str) -> bool:
    return ConfigOverride.delete().where(ConfigOverride.key == key).execute() > 0
