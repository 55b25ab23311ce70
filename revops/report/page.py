"""The report as one static HTML page (pure: a Report in, a string out).

No script and nothing fetched: styles are inline, charts are inline SVG,
and the page's Content-Security-Policy forbids loading anything, so a
browser shows it the same on a node with no network. Amounts are shown in
sat with their msat (``1,234.567``) and carried exactly in ``data-msat``
attributes for whoever reads the page with a program.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from html import escape

from revops import __version__
from revops.flow.buckets import DAY
from revops.rebalance.realized import WINDOWS
from revops.report import svg
from revops.report.pnl import FEE_CHARTS, ChannelPnl, LedgerRow, Report, top_channels

GREEN, RED, BLUE, GREY, ORANGE = "#2f9e44", "#e03131", "#1971c2", "#868e96", "#f08c00"
CHANNEL_BARS = 40  # channels drawn in the per-channel chart (the table lists all)
FEE_CHARTS_OPEN = 6

CSS = """
body{font-family:system-ui,sans-serif;color:#1f2933;background:#f8f9fa;margin:0}
main{max-width:960px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:24px;margin:8px 0 2px}h2{font-size:19px;margin:32px 0 6px;
border-bottom:2px solid #dee2e6;padding-bottom:4px}h3{font-size:14px;margin:14px 0 4px}
p.meta{color:#5c6670;margin:2px 0 12px;font-size:13px}p.note{color:#5c6670;font-size:13px}
.tiles{display:grid;grid-template-columns:repeat(4,1fr);gap:10px;margin:14px 0}
.tile{background:#fff;border:1px solid #dee2e6;border-radius:6px;padding:10px 12px}
.tile .k{font-size:12px;color:#5c6670}.tile .v{font-size:19px;font-weight:600;margin-top:2px}
.pos{color:#2b8a3e}.neg{color:#c92a2a}
figure{background:#fff;border:1px solid #dee2e6;border-radius:6px;margin:10px 0;
padding:8px 8px 2px}figcaption{font-size:13px;font-weight:600;margin:0 0 4px 4px}
table{border-collapse:collapse;width:100%;font-size:12px;background:#fff}
th,td{padding:3px 6px;border-bottom:1px solid #e9ecef;text-align:left;white-space:nowrap}
th{background:#f1f3f5;position:sticky;top:0}td.num,th.num{text-align:right;
font-variant-numeric:tabular-nums}.scroll{max-height:420px;overflow:auto;
border:1px solid #dee2e6;border-radius:6px}details{margin:6px 0}
summary{cursor:pointer;font-size:13px;padding:4px 0}.two{display:grid;
grid-template-columns:1fr 1fr;gap:10px}code{font-size:12px}
"""


def sat(msat: int) -> str:
    """Exact sat with the msat after the point: 1234567 -> '1,234.567'."""
    sign = "-" if msat < 0 else ""
    whole, rest = divmod(abs(int(msat)), 1000)
    return f"{sign}{whole:,}.{rest:03d}"


def sat_round(msat: int) -> str:
    return f"{round(msat / 1000):,}"


def date(day: int) -> str:
    return datetime.fromtimestamp(day * DAY, tz=timezone.utc).strftime("%Y-%m-%d")


def stamp(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def short_date(day: float) -> str:
    return datetime.fromtimestamp(day * DAY, tz=timezone.utc).strftime("%m-%d")


def money(msat: int | None, field: str, cls: str = "") -> str:
    if msat is None:
        return f'<td class="num" data-field="{field}">-</td>'
    tone = " neg" if msat < 0 else ""
    return (f'<td class="num{tone}{cls}" data-field="{field}" data-msat="{int(msat)}">'
            f"{sat(msat)}</td>")


def count(n: int, field: str) -> str:
    return f'<td class="num" data-field="{field}" data-value="{int(n)}">{int(n):,}</td>'


def render(report: Report, generated_at: float | None = None) -> str:
    parts = [_head(report), _header(report, generated_at), _tiles(report),
             _pnl_section(report), _channels_section(report), _fees_section(report),
             _ledger_section(report), _capacity_section(report), "</main></body></html>\n"]
    return "".join(parts)


def _head(report: Report) -> str:
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>revops P&amp;L</title><style>{CSS}</style></head><body><main>")


def _header(report: Report, generated_at: float | None) -> str:
    if report.first_day is None:
        period = "no data yet"
    else:
        period = (f"{date(report.first_day)} to {date(report.last_day or report.first_day)} "
                  f"({len(report.days)} days)")
    return (f"<h1>revops: profit and loss</h1>"
            f'<p class="meta">Database <code>{escape(report.path)}</code> (schema '
            f"v{report.schema_version}), read-only. Period: <span id=\"period\">{period}"
            f"</span>; data as of {stamp(report.as_of)}. Generated {stamp(generated_at)} by "
            f"revops {escape(__version__)}. Amounts in sat (msat after the point).</p>")


def _tile(key: str, value: str, ident: str, msat: int | None = None, tone: str = "") -> str:
    data = f' data-msat="{int(msat)}"' if msat is not None else ""
    return (f'<div class="tile"><div class="k">{escape(key)}</div>'
            f'<div class="v {tone}" id="{ident}"{data}>{value}</div></div>')


def _tiles(r: Report) -> str:
    t = r.ledger_total
    margin = f"{100 * r.net_msat / r.revenue_msat:.1f} %" if r.revenue_msat else "-"
    tone = "pos" if r.net_msat > 0 else "neg" if r.net_msat < 0 else ""
    realized7 = t.get("realized_ev_7d_msat", 0)
    tiles = [
        _tile("Revenue (sat)", sat(r.revenue_msat), "total-revenue", r.revenue_msat),
        _tile("Costs (sat)", sat(r.costs_msat), "total-costs", r.costs_msat),
        _tile("Net profit (sat)", sat(r.net_msat), "total-net", r.net_msat, tone),
        _tile("Margin", margin, "total-margin"),
        _tile("Settled forwards", f"{r.settled:,}", "total-settled"),
        _tile("Channels", f"{len(r.channels):,}", "total-channels"),
        _tile("Rebalances ok / failed", f"{t.get('succeeded', 0)} / {t.get('failed', 0)}",
              "total-rebalances"),
        _tile("Refills: predicted / realized 7d EV (sat)",
              f"{sat_round(t.get('predicted_ev_msat', 0))} / {sat_round(realized7)}",
              "total-refill-ev"),
    ]
    return f'<div class="tiles">{"".join(tiles)}</div>'


def _figure(caption: str, chart: str, ident: str) -> str:
    return f'<figure id="{ident}"><figcaption>{escape(caption)}</figcaption>{chart}</figure>'


def _pnl_section(r: Report) -> str:
    out = ['<section id="net-profit"><h2>Net profit over time</h2>']
    if not r.days:
        out.append('<p class="note">No forwards, costs or snapshots recorded yet.</p>'
                   "</section>")
        return "".join(out)
    out.append('<p class="note">Revenue is the fees earned by settled forwards, counted on '
               "the day each was received (the daily buckets); costs are what was recorded "
               "against channels that day (rebalance fees, opens, closes). The dashed line is "
               "the daily snapshots' own cumulative revenue minus costs, as the plugin "
               "recorded them.</p>")
    daily = svg.time_chart(
        [svg.Series("revenue", [(d.day, d.revenue_msat / 1000) for d in r.days], GREEN,
                    "bars", tips=[f"{date(d.day)}: revenue {sat(d.revenue_msat)} sat"
                                  for d in r.days]),
         svg.Series("costs", [(d.day, d.costs_msat / 1000) for d in r.days], RED, "bars",
                    tips=[f"{date(d.day)}: costs {sat(d.costs_msat)} sat" for d in r.days])],
        x_format=short_date, label="daily revenue and costs, sat")
    out.append(_figure("Daily revenue and costs (sat)", daily, "chart-daily"))
    cum = r.cumulative_net()
    lines = [svg.Series("net, cumulative (buckets - costs)",
                        [(d + 1, v / 1000) for d, v in cum], BLUE, "line",
                        tips=[f"end of {date(d)}: {sat(v)} sat" for d, v in cum])]
    if r.snapshots:
        base = r.snapshots[0]
        pts = [(s.ts / DAY, (s.revenue_msat - s.costs_msat
                             - (base.revenue_msat - base.costs_msat)) / 1000)
               for s in r.snapshots]
        # Snapshots count what was known before the period: start them at its first.
        lines.append(svg.Series("snapshots (from the first in the period)", pts, ORANGE,
                                "line", dashed=True,
                                tips=[f"snapshot {stamp(s.ts)}: revenue {sat(s.revenue_msat)}"
                                      f", costs {sat(s.costs_msat)}" for s in r.snapshots]))
    out.append(_figure("Cumulative net profit (sat)",
                       svg.time_chart(lines, x_format=short_date,
                                      label="cumulative net profit, sat"), "chart-cumulative"))
    if r.snapshots:
        tlv = svg.time_chart(
            [svg.Series("local balance", [(s.ts / DAY, s.local_balance_msat / 1000)
                                          for s in r.snapshots], BLUE, "line"),
             svg.Series("local + on-chain", [(s.ts / DAY, s.tlv_msat / 1000)
                                             for s in r.snapshots], GREY, "line",
                        dashed=True)],
            x_format=short_date, label="node value from snapshots, sat", y_zero=False)
        out.append(_figure("What the node holds, from the daily snapshots (sat)", tlv,
                           "chart-tlv"))
    rows = []
    running = 0
    for d in r.days:
        running += d.net_msat
        rows.append(f'<tr data-day="{d.day}"><td>{date(d.day)}</td>'
                    + money(d.revenue_msat, "revenue") + money(d.costs_msat, "costs")
                    + money(d.net_msat, "net") + money(running, "cumulative")
                    + count(d.settled, "settled") + "</tr>")
    out.append('<details><summary>Every day</summary><div class="scroll"><table id="days">'
               '<tr><th>day</th><th class="num">revenue</th><th class="num">costs</th>'
               '<th class="num">net</th><th class="num">cumulative</th>'
               '<th class="num">settled</th></tr>' + "".join(rows)
               + "</table></div></details></section>")
    return "".join(out)


def _peer(c: ChannelPnl) -> str:
    return escape(c.peer_id[:16] + "…") if c.peer_id else "(no actor: closed?)"


def _channels_section(r: Report) -> str:
    out = ['<section id="channels"><h2>Revenue and costs per channel</h2>']
    if not r.channels:
        return "".join(out) + '<p class="note">No channels yet.</p></section>'
    drawn = top_channels(r.channels, CHANNEL_BARS)
    drawn.sort(key=lambda c: (-c.net_msat, c.scid))
    bars = [svg.BarRow(c.scid, c.revenue_msat / 1000, c.costs.total_msat / 1000,
                       c.net_msat / 1000,
                       f"{c.scid}: revenue {sat(c.revenue_msat)}, costs "
                       f"{sat(c.costs.total_msat)}, net {sat(c.net_msat)} sat")
            for c in drawn]
    note = (f" ({len(drawn)} of {len(r.channels)} channels: those with the most revenue "
            "or cost)" if len(drawn) < len(r.channels) else "")
    out.append(_figure(f"Revenue (right), costs (left) and net (tick), sat{note}",
                       svg.diverging_bars(bars, label="revenue and costs per channel, sat"),
                       "chart-channels"))
    rows = []
    for c in r.channels:
        rows.append(f'<tr data-scid="{escape(c.scid)}"><td>{escape(c.scid)}</td>'
                    f"<td>{_peer(c)}</td>" + money(c.revenue_msat, "revenue")
                    + money(c.costs.rebalance_msat, "rebalance")
                    + money(c.costs.open_msat + c.costs.close_msat + c.costs.other_msat,
                            "other_costs")
                    + money(c.net_msat, "net") + count(c.totals.settled_out, "settled_out")
                    + money(c.totals.out_volume_msat, "volume_out") + "</tr>")
    out.append('<div class="scroll"><table id="channel-table"><tr><th>channel</th>'
               '<th>peer</th><th class="num">revenue</th><th class="num">rebalance costs</th>'
               '<th class="num">open/close/other</th><th class="num">net</th>'
               '<th class="num">settled out</th><th class="num">volume out</th></tr>'
               + "".join(rows) + "</table></div></section>")
    return "".join(out)


def _fees_section(r: Report) -> str:
    out = ['<section id="fees"><h2>Fee history against forwards</h2>',
           '<p class="note">Per channel: the fee it had (each change lightningd accepted), '
           "and the forwards it sold each day (settled, as the outgoing channel). A dashed "
           "line is what dry-run cycles would have set.</p>"]
    chosen = [c for c in top_channels(r.channels, FEE_CHARTS) if c.scid in r.histories]
    if not chosen:
        return "".join(out) + '<p class="note">No fee changes or forwards yet.</p></section>'
    x_range = None if r.first_day is None else (r.first_day, (r.last_day or r.first_day) + 1)
    for i, c in enumerate(chosen):
        h = r.histories[c.scid]
        series = [svg.Series("settled forwards out / day", [(d, n) for d, n, _ in h.days],
                             "#a5d8ff", "bars",
                             tips=[f"{date(d)}: {n} forwards, {sat(f)} sat fees"
                                   for d, n, f in h.days])]
        if h.fees:
            series.append(svg.Series("fee (ppm)", [(s.ts / DAY, s.fee_ppm) for s in h.fees],
                                     RED, "step", axis="right"))
        if h.dry_run:
            series.append(svg.Series("dry run (ppm)", [(s.ts / DAY, s.fee_ppm)
                                                       for s in h.dry_run],
                                     GREY, "step", axis="right", dashed=True))
        if not any(s.points for s in series):
            continue
        # Every channel on the same time axis as the rest of the page.
        chart = svg.time_chart(series, x_format=short_date, y2_format=svg.plain, height=200,
                               label=f"fee and forwards of {c.scid}", x_range=x_range)
        opened = " open" if i < FEE_CHARTS_OPEN else ""
        changes = len(h.fees) - 1 if h.fees else 0
        out.append(f'<details{opened} data-scid="{escape(c.scid)}"><summary>'
                   f"<b>{escape(c.scid)}</b>: revenue {sat(c.revenue_msat)} sat, "
                   f"{c.totals.settled_out:,} forwards out, {max(0, changes)} fee changes"
                   f"</summary><figure>{chart}</figure></details>")
    rest = len(r.histories) - len(chosen)
    if rest > 0:
        out.append(f'<p class="note">{rest} more channels are not drawn; '
                   "<code>lightning-cli revenue-history CHANNEL</code> lists any one.</p>")
    out.append("</section>")
    return "".join(out)


def _ledger_section(r: Report) -> str:
    t = r.ledger_total
    out = ['<section id="ledger"><h2>Rebalance ledger</h2>']
    if not r.ledger:
        return "".join(out) + '<p class="note">No rebalances yet.</p></section>'
    out.append(
        f'<p class="note" id="ledger-total" data-predicted-msat="{t["predicted_ev_msat"]}" '
        f'data-realized-7d-msat="{t["realized_ev_7d_msat"]}" '
        f'data-realized-30d-msat="{t["realized_ev_30d_msat"]}" data-fee-msat="{t["fee_msat"]}">'
        f"{t['succeeded']} refills succeeded ({t['failed']} failed, {t['open']} in flight): "
        f"{sat(t['moved_msat'])} sat moved for {sat(t['fee_msat'])} sat in fees. Predicted EV "
        f"{sat(t['predicted_ev_msat'])} sat; realized EV {sat(t['realized_ev_7d_msat'])} sat "
        f"over 7 days and {sat(t['realized_ev_30d_msat'])} sat over 30 days "
        f"({t['open_7d']} and {t['open_30d']} of them still within their window: figures "
        "to date). Realized EV is the revenue the refilled liquidity earned (the first "
        "forwards out of the channel after the refill, up to its amount) minus the refill's "
        "fee.</p>")
    done = [row for row in r.ledger if row.job.state == "succeeded"]
    points = [(row.job.predicted_ev_msat / 1000, (row.realized_msat[7] or 0) / 1000,
               f"job {row.job.id} into {row.job.dest_scid}: predicted "
               f"{sat(row.job.predicted_ev_msat)}, realized 7d {sat(row.realized_msat[7] or 0)}"
               f"{'' if row.complete[7] else ' (to date)'}")
              for row in done]
    ordered = sorted(done, key=lambda row: (row.job.completed_at or 0, row.job.id))
    ids = [row.job.id for row in ordered]

    def job_label(i: float) -> str:
        return f"#{ids[int(i)]}" if 0 <= int(i) < len(ids) and i == int(i) else ""

    per_job = svg.time_chart(
        [svg.Series("fee paid", [(i, (row.job.fee_msat or 0) / 1000)
                                 for i, row in enumerate(ordered)], RED, "bars"),
         svg.Series("predicted EV", [(i, row.job.predicted_ev_msat / 1000)
                                     for i, row in enumerate(ordered)], BLUE, "bars"),
         svg.Series("realized EV 7d", [(i, (row.realized_msat[7] or 0) / 1000)
                                       for i, row in enumerate(ordered)], GREEN, "bars")],
        x_format=job_label, label="each refill: fee, predicted and realized EV, sat",
        width=440, height=300)
    out.append('<div class="two">'
               + _figure("Predicted vs realized EV over 7 days, per refill (sat)",
                         svg.scatter(points, label="predicted vs realized EV",
                                     x_name="predicted EV (sat)",
                                     y_name="realized EV 7d (sat)"), "chart-ledger")
               + (_figure("Each refill, oldest first: fee, predicted and realized EV 7d "
                          "(sat)", per_job, "chart-ledger-jobs") if done else "") + "</div>")
    out.append('<div class="scroll"><table id="ledger-table"><tr><th>job</th>'
               '<th>completed (UTC)</th><th>state</th><th>from → to</th>'
               '<th class="num">amount</th><th class="num">fee</th>'
               '<th class="num">predicted EV</th><th class="num">realized EV 7d</th>'
               '<th class="num">realized EV 30d</th><th>reason</th></tr>'
               + "".join(_ledger_row(row) for row in r.ledger) + "</table></div>"
               '<p class="note">* to date: the window is still open, and the figure only '
               "grows until it closes.</p></section>")
    return "".join(out)


def _ledger_row(row: LedgerRow) -> str:
    j = row.job
    done = "-" if j.completed_at is None else stamp(j.completed_at)[:16]
    cells = [f'<tr data-job="{j.id}"><td>{j.id}</td><td>{done}</td>'
             f"<td>{escape(j.state)}</td><td>{escape(j.source_scid)} →<br>"
             f"{escape(j.dest_scid)}</td>",
             money(j.moved_msat if j.state == "succeeded" else j.amount_msat, "amount"),
             money(j.fee_msat, "fee"), money(j.predicted_ev_msat, "predicted_ev")]
    for w in WINDOWS:
        v = row.realized_msat[w]
        mark = "" if v is None or row.complete[w] else " to-date"
        cell = money(v, f"realized_{w}d", mark)
        if mark:
            cell = cell.replace("</td>", "*</td>")
        cells.append(cell)
    cells.append(f'<td title="{escape(j.reason)}">{escape(j.reason[:40])}</td></tr>')
    return "".join(cells)


def _capacity_section(r: Report) -> str:
    out = ['<section id="capacity"><h2>Capacity planner</h2>']
    if not r.capacity_advice or not any(t.rows for t in r.capacity_advice):
        out.append('<p class="note" id="capacity-none">Not built yet: this database holds no '
                   "capacity advice. When revops has a capacity planner (which channels to "
                   "close, grow or open, and what each is expected to return), its advice "
                   "appears here.</p></section>")
        return "".join(out)
    for t in r.capacity_advice:
        out.append(f"<h3>{escape(t.name)}</h3>" + _table(t.columns, t.rows))
    out.append("</section>")
    return "".join(out)


def _table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'
