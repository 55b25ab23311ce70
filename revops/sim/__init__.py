"""The simulated lightningd and market (``revops-sim``).

A faithful stand-in for lightningd v26.06 towards a plugin: it starts the
plugin as a child process, speaks CLN's plugin protocol over its stdin and
stdout, serves lightningd's JSON-RPC on a Unix socket, and behind both runs
a seeded market model on a simulated clock.
"""
