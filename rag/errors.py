"""Domain errors. Each message is one sentence that tells the user what to do next."""


__all__ = ["BackendUnavailable", "BuildGone", "IndexStateError", "IngestError", "InputError", "LLMError", "ModelError",
           "NotFoundError", "RagError", "TooLargeError"]

class RagError(Exception):
    """Base class: the CLI and API print ``str(err)`` instead of a traceback."""

    status = 500  # HTTP status the API maps this error to


class InputError(RagError):
    """The user's input (question, option, file) is not acceptable."""

    status = 400


class TooLargeError(InputError):
    """A question or upload is over its documented size limit."""

    status = 413


class IngestError(RagError):
    """One file could not be read or cleaned; the rest of the batch goes on."""

    status = 422


class NotFoundError(RagError):
    """A document id, file or index that was asked for does not exist."""

    status = 404


class IndexStateError(RagError):
    """The index is missing, corrupt, or was built with another model; rebuild it."""

    status = 503


class BackendUnavailable(IndexStateError):
    """The index server (Milvus) cannot be reached; the app recovers when it is back."""


class BuildGone(IndexStateError):
    """The build a loaded snapshot points at was dropped; load the live one again."""


class ModelError(RagError):
    """The embedding model cannot be found or loaded."""

    status = 503


class LLMError(RagError):
    """The optional LLM server failed, timed out or answered garbage."""

    status = 502
