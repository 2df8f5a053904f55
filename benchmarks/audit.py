"""Audit log speed: appends per second (fsynced, and not), verification rate, inclusion-proof size.

    python benchmarks/audit.py                 # 1,000,000 entries
    python benchmarks/audit.py --entries 100000

There is no anchor tool: the figures stand on their own (an fsync per append is bounded by the disk).
The log is written under benchmarks/.work/audit/ and removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bastion.audit import AuditLog, AuditSigner, prove_inclusion, verify_log
from bastion.audit.merkle import verify_inclusion

WORK = Path(__file__).resolve().parent / ".work" / "audit"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="size of the log to verify")
    parser.add_argument("--durable-appends", type=int, default=2000, help="fsynced appends to time")
    args = parser.parse_args(argv)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    signer = AuditSigner.open(WORK / "keys")
    results: dict[str, float | int] = {}
    try:
        durable = AuditLog(WORK / "durable", durable=True)
        started = time.perf_counter()
        for i in range(args.durable_appends):
            durable.append("scan", actor="bench", target=f"models/m{i}.pt", outcome="pass", details={"findings": i})
        results["durable_appends_per_s"] = args.durable_appends / (time.perf_counter() - started)

        log = AuditLog(WORK / "big", durable=False, signer=signer)
        started = time.perf_counter()
        for i in range(args.entries):
            log.append("scan", actor=f"user{i % 7}", target=f"models/m{i}.pt", outcome="pass", details={"findings": i % 5})
        log.checkpoint(signer)
        results["buffered_appends_per_s"] = args.entries / (time.perf_counter() - started)
        results["log_bytes"] = sum(s.stat().st_size for s in log.segments())

        started = time.perf_counter()
        verification = verify_log(log, signer.public_key)
        elapsed = time.perf_counter() - started
        assert verification.intact, verification.problem
        results["verify_entries_per_s"] = verification.entries / elapsed
        results["verify_seconds"] = elapsed
        results["checkpoints_verified"] = verification.checkpoints

        proof = prove_inclusion(log, args.entries // 3)
        path = [bytes.fromhex(node) for node in proof.path]
        root = bytes.fromhex(proof.checkpoint.root)
        assert verify_inclusion(proof.seq, proof.checkpoint.size, bytes.fromhex(proof.leaf), path, root)
        results["inclusion_proof_hashes"] = len(path)
        results["inclusion_proof_bytes"] = 32 * len(path)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    print(f"entries: {args.entries:,}  (log {results['log_bytes'] / 1e6:.0f} MB)")
    print(f"appends/s, fsync each:        {results['durable_appends_per_s']:,.0f}")
    print(f"appends/s, no fsync:          {results['buffered_appends_per_s']:,.0f}")
    print(
        f"verification:                 {results['verify_entries_per_s']:,.0f} entries/s "
        f"({results['verify_seconds']:.1f} s, {results['checkpoints_verified']} signed checkpoints)"
    )
    print(f"inclusion proof:              {results['inclusion_proof_hashes']} hashes = {results['inclusion_proof_bytes']} bytes")
    print(json.dumps(results), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
