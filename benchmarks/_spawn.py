"""Launcher that runs one measured command and reports its wall time and rusage (used by harness.run_once).

Why a launcher: on Linux a child's ``ru_maxrss`` starts from the RSS of the process that spawned it (exec
keeps the old address space's high-water mark), so a benchmark process holding torch would give every tool
a ~300 MB floor. This launcher is a bare interpreter (``python -S -I``, ~10 MB), so that is the floor instead.

    python -S -I _spawn.py RESULT_FD COMMAND [ARG...]

Writes ``wall_s status ru_maxrss_kib cpu_s`` to RESULT_FD; the command inherits stdin/stdout/stderr.
Standard library only, no site: it must stay small.
"""

import os
import sys
import time


def main() -> int:
    fd, argv = int(sys.argv[1]), sys.argv[2:]
    os.set_inheritable(fd, False)  # the tool must not hold the report pipe open (a leftover daemon would hang us)
    start = time.perf_counter()
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ)
    except OSError as exc:
        os.write(fd, f"error {exc}".encode())
        return 127
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    os.write(fd, f"{wall!r} {os.waitstatus_to_exitcode(status)} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime!r}".encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
