"""The error every anonymization mistake is raised as."""

from bastion.core import BastionError


class AnonymizeError(BastionError):
    """The input, the policy or the output path is unusable; the message names the file and what to do."""
