"""Clients of the two platforms: OAuth refresh, rate limits, and their error shapes."""


class ConnectorError(Exception):
    """A platform call failed. `retryable` says whether trying again later can help."""

    retryable = False

    def __init__(self, message: str, *, retryable: bool | None = None):
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class ReconnectNeeded(ConnectorError):
    """The refresh token was refused (invalid_grant): a person must connect again."""


class Unavailable(ConnectorError):
    """Timeouts, connection errors, 5xx: worth another try."""

    retryable = True
