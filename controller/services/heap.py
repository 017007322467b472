"""Keep Python's cyclic garbage collector off the call path.

A full (generation 2) collection walks every container object alive: with the controller's
modules, SQLAlchemy's mappers, the phonenumbers metadata and the rate deck loaded, one took
50-110 ms here (bench/agi_decisions.py prints them), and every decision in flight waited for
it. `settle()` collects once, then freezes what is alive (gc.freeze): those objects are never
walked again. Called when the controller has started and whenever it loads a new rate deck.
Frozen objects are still freed by reference counting; only cycles among them would stay.
"""

from __future__ import annotations

import gc


def settle() -> None:
    gc.collect()
    gc.freeze()
