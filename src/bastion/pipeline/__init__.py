"""The pipeline: bastion.yaml, the runner, its steps, caching and lineage."""
