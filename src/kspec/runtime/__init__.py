"""Everything that touches Keras: lowering, reading Keras models back,
training, saving and data. Only this package imports keras, and only the
backend in use."""


class KerasUnavailable(Exception):
    """Keras, or the framework of the backend in use, is not installed: the
    command cannot build or load a model (exit 2, naming the extra)."""
