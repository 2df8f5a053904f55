"""The error the artifact store raises."""

from bastion.core import BastionError


class StoreError(BastionError):
    """A blob or reference cannot be stored or read: the store is unreachable or full, a blob is missing,
    altered or still under retention, or a name is malformed. The message names the blob and what to do."""
