"""The fee engine: the Alpha Sequence per channel, gossip-aware broadcasting, per-peer policies, and the mempool (Vegas) reflex (pure logic)."""
