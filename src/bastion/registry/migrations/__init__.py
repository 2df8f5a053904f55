"""Alembic migrations of the registry's database, run by ``bastion.registry.database`` whenever it is opened."""
