"""What the tests share: waiting on conditions (:mod:`.waiting`) and in-memory emitter sinks
(:mod:`.recording`). Fixtures live in ``tests/conftest.py``."""
