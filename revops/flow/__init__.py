"""Flow and profitability: forwards kept locally, daily buckets, flow classes, per-channel P&L, and the operator's dashboard (pure logic)."""
