"""The error every user-facing mistake is raised as."""


class BastionError(Exception):
    """A problem the user can fix; the CLI prints its message on one line and exits with ``exit_code``."""

    exit_code: int = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
