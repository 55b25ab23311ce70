"""revops: revenue operations for Core Lightning routing nodes.

``revops/`` holds the pure domain logic (values in, decisions out, time
passed in) and the plugin entry point; concurrency lives in ``actors/``;
the simulated lightningd and market live in ``revops.sim``.
"""

__version__ = "0.1.0"
