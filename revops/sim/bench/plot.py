"""The economics benchmark's picture: cumulative net profit per policy over
simulated time for one scenario and seed. Needs matplotlib (the ``bench``
extra: ``pip install -e '.[bench]'``); imported only when a plot is asked for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

COLOURS = {"revops": "#d62728", "static": "#7f7f7f", "proportional": "#1f77b4",
           "median-balance": "#2ca02c", "oracle-static": "#9467bd"}


def plot_cumulative_net(runs: Sequence[dict[str, Any]], scenario: str, seed: int, path: str,
                        days: float) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    chosen = [r for r in runs if "error" not in r and r["scenario"] == scenario
              and r["seed"] == seed]
    if not chosen:
        raise SystemExit(f"revops-sim bench economics: nothing to plot for scenario "
                         f"{scenario!r} seed {seed}")
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    for r in chosen:
        xs = [p[0] for p in r["series"]]
        ys = [p[1] / 1000 for p in r["series"]]
        ax.plot(xs, ys, label=r["policy"], color=COLOURS.get(r["policy"]),
                linewidth=2.2 if r["policy"] == "revops" else 1.4,
                linestyle="--" if r["policy"] == "oracle-static" else "-")
    ax.set_xlabel("simulated days")
    ax.set_ylabel("cumulative net profit (sat)")
    ax.set_title(f"revops-sim bench economics: {scenario}, seed {seed}, {days:g} days")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
