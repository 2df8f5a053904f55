"""The data scanner's dictionaries load safely when several threads need them at once (the pipeline scans and
profiles in parallel threads)."""

from __future__ import annotations

import subprocess
import sys

_LOAD_FROM_THREADS = """
import threading
from bastion.scanners.data import names, places

start = threading.Barrier(4)
errors = []

def load(dictionaries):
    start.wait()
    try:
        dictionaries()
    except BaseException as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=load, args=(f,)) for f in (names.dictionaries, places.dictionaries) * 2]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert not errors, errors
assert names.dictionaries().first and places.dictionaries().places
"""


def test_name_and_place_dictionaries_load_from_concurrent_threads() -> None:
    # A fresh interpreter each time: the dictionaries are cached once loaded, and the race is in the first import.
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", _LOAD_FROM_THREADS], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
