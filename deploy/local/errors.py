"""The one error the local provisioning raises: its message tells the user what to do next."""


class ProvisionError(RuntimeError):
    """The host cannot build or run the local database; the text says why and what to do instead."""
