"""Queries over the models, one small module per table.

Each function runs in the StoreActor's thread on its open connection, and
hands back frozen dataclasses or plain values, never a Model instance.
Transactions are the caller's (the StoreActor wraps every write in
``db.atomic()``), so several queries can make one unit of work.
"""
