"""The one exception type users see: the CLI prints it as a single line and exits 2."""


class FinesimError(Exception):
    """A problem with the user's input (file, field, model name, option), not a bug in finesim."""
