"""The rebalancer: EV-priced circular rebalancing under a budget that holds (pure logic)."""
