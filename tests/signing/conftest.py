"""Fixtures for the signing tests: a key pair made by ``bastion keys generate`` and a small model directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bastion.signing import KeyPair, generate_key_pair


@pytest.fixture
def key_pair(tmp_path: Path) -> KeyPair:
    return generate_key_pair(tmp_path / "keys")


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A model directory: weights in two shards, a config, a nested tokenizer file, an empty file and git metadata."""
    root = tmp_path / "model"
    (root / "tokenizer").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "model-00001.safetensors").write_bytes(os.urandom(3 << 20))
    (root / "model-00002.safetensors").write_bytes(os.urandom(1 << 20))
    (root / "config.json").write_text('{"hidden_size": 8}\n')
    (root / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    (root / "EMPTY").write_bytes(b"")
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    return root
