"""Bastion: a secure MLOps pipeline with security and compliance built into every stage."""

__version__ = "0.1.0"
