"""The P&L an operator can look at: ``revops-report --html FILE``.

Reads the plugin's SQLite database read-only (never lightningd) and writes
one static HTML file with inline SVG charts: no script, no CDN, nothing
fetched, so it opens on a node with no network.

- ``facts``: the rows read from the database, as plain values
- ``read``: opening the database read-only and reading the facts
- ``pnl``: the figures computed from the facts (pure)
- ``svg``: the chart primitives (pure)
- ``page``: the HTML page (pure)
- ``cli``: the command line
"""
