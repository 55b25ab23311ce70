"""Node ids that are real public keys: compressed secp256k1 points.

lightningd parses every node id it is given (``param_node_id`` runs
``pubkey_from_hexstr``), so a 33-byte value whose x is not on the curve is
refused; and every id it shows is a point, which plugins that parse keys
rely on. :func:`on_curve` is that check (the curve's x has a y when
``x^3 + 7`` is a square mod p); the sim's derived ids are made to pass it.
"""

from __future__ import annotations

import re

P = 2**256 - 2**32 - 977  # secp256k1's field prime
_COMPRESSED = re.compile(r"^0[23][0-9a-fA-F]{64}$")


def on_curve(node_id: str) -> bool:
    """Is ``node_id`` a valid compressed public key?"""
    if not _COMPRESSED.match(node_id):
        return False
    x = int(node_id[2:], 16)
    if x >= P:
        return False
    rhs = (pow(x, 3, P) + 7) % P
    return rhs == 0 or pow(rhs, (P - 1) // 2, P) == 1
