"""The fidelity check: revops-sim against a real lightningd, call for call.

``revops-sim fidelity`` (command.py) sends the calls revops and the peer
plugins rely on (probes.py) to a real node and to the simulated one, with
the same parameters and the same mistakes, records the notifications both
send a plugin (recorder.py), and compares answers by shape, errors by code
and message (compare.py). The real node is either a regtest graph of our
own (regtest.py, through pyln-testing) or an operator's node by its
lightning dir; the simulated one runs a scenario shaped like that graph
(simside.py). check.py runs it all and writes the report. Where the two
differ the simulator is what changes; the few differences that are
harmless are listed, each with its reason, in compare.ALLOWED.
"""
