"""Inputs of the model-scan benchmark, generated once into the work directory and reused.

File names carry their size parameter, so ``--quick`` and full runs keep separate files, and a file is
only reused when it was completely written (every file is written to a temporary name, then renamed).
"""

from __future__ import annotations

import io
import json
import os
import pickletools
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Input:
    """One benchmark input file."""

    name: str
    """Short label used in tables and the results file."""
    path: Path
    description: str
    opcodes: int | None = None
    """Pickle opcodes in the file's (main) pickle, counted with pickletools.genops."""
    members: int | None = None
    """Members of a zip container."""

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "path": str(self.path),
            "bytes": self.size,
            "description": self.description,
            "opcodes": self.opcodes,
            "members": self.members,
        }


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Create ``path`` with ``write(tmp)`` unless it already exists; an interrupted run leaves only a .tmp behind."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)
    return path


def big_state_dict(workdir: Path, size_mb: int) -> Input:
    """A state_dict of eight large float32 tensors (torch.save, zip format): scanning it should not read the tensors."""
    path = workdir / f"state_dict-{size_mb}MB.pt"

    def write(tmp: Path) -> None:
        import torch

        gen = torch.Generator().manual_seed(0)
        per_tensor = size_mb * 1024 * 1024 // 4 // 8
        cols = 4096
        state = {f"layers.{i}.weight": torch.randn(per_tensor // cols, cols, generator=gen) for i in range(8)}
        torch.save(state, tmp)

    _atomic(path, write)
    return Input("state_dict", path, f"torch state_dict, 8 float32 tensors, {size_mb} MB")


def many_tensors(workdir: Path, count: int) -> tuple[Input, Input]:
    """A state_dict of ``count`` tiny tensors: the pickle is opcode-heavy (~30 opcodes per tensor).

    Returns the .pt zip and its data.pkl extracted as a standalone pickle (named .pkl so that the
    anchors, which choose a scanner by extension, scan it)."""
    pt = workdir / f"many_tensors-{count}.pt"
    pkl = workdir / f"many_tensors-{count}.data.pkl"

    def write_pt(tmp: Path) -> None:
        import torch

        state = {f"blocks.{i}.norm.bias": torch.full((4,), float(i)) for i in range(count)}
        torch.save(state, tmp)

    def write_pkl(tmp: Path) -> None:
        with zipfile.ZipFile(pt) as zf:
            member = next(n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl")
            tmp.write_bytes(zf.read(member))

    _atomic(pt, write_pt)
    _atomic(pkl, write_pkl)
    opcodes = count_opcodes(pkl)
    members = _count_members(pt)
    return (
        Input("many_tensors.pt", pt, f"torch state_dict, {count} tiny tensors", opcodes=opcodes, members=members),
        Input("many_tensors.pkl", pkl, f"its data.pkl alone ({count} tensors)", opcodes=opcodes),
    )


def many_members_zip(workdir: Path, count: int) -> Input:
    """A stored zip of ``count`` tiny .npy members (an .npz in all but name): container overhead dominates."""
    path = workdir / f"many_members-{count}.zip"

    def write(tmp: Path) -> None:
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, np.arange(4, dtype=np.float32))
        member = buf.getvalue()
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for i in range(count):
                zf.writestr(f"arrays/{i:06d}.npy", member)

    _atomic(path, write)
    return Input("many_members.zip", path, f"zip of {count} tiny .npy members", members=count)


def count_opcodes(path: Path) -> int:
    """Opcodes of the pickle in ``path`` (pickletools.genops parses, never executes); cached beside the file."""
    cache = path.with_name(path.name + ".opcodes.json")
    stat = path.stat()
    key = {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    try:
        cached = json.loads(cache.read_text())
        if cached.get("key") == key:
            return int(cached["opcodes"])
    except (OSError, ValueError, KeyError):
        pass
    with path.open("rb") as f:
        opcodes = sum(1 for _ in pickletools.genops(f))
    cache.write_text(json.dumps({"key": key, "opcodes": opcodes}))
    return opcodes


def _count_members(path: Path) -> int:
    with zipfile.ZipFile(path) as zf:
        return len(zf.infolist())
