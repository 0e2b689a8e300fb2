"""Everything that touches Keras: lowering, reading Keras models back,
training, saving and data. Only this package imports keras, and only the
backend in use."""
