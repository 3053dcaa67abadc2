"""The project's one error type for mistakes a user can cause (bad file, bad JSON line, unknown model...).

It lives in the lowest package so that every layer can raise it; the message says what and where.
"""


class RagtuneError(Exception):
    """A user-caused error; str(error) is the message to show, no traceback needed."""
