"""Losses kspec adds to Keras, registered so saved models reload without
``custom_objects``.

Keras has root mean squared error as a metric but not as a loss; kspec
provides :class:`RootMeanSquaredError` (spec name ``rmse``). It is a
``keras.losses.Loss`` subclass registered as ``kspec>RootMeanSquaredError``,
so a compiled model saved to ``.keras`` or ``.h5`` reloads with plain
``keras.models.load_model`` once kspec is imported (see
:mod:`kspec.runtime._hook`, which registers it as soon as keras is imported).
"""

from __future__ import annotations

from typing import Any

import keras

__all__ = ["CUSTOM_LOSSES", "RootMeanSquaredError"]


@keras.saving.register_keras_serializable(package="kspec", name="RootMeanSquaredError")
class RootMeanSquaredError(keras.losses.Loss):  # type: ignore[misc]  # keras is untyped
    """Root mean squared error as a loss: ``sqrt(mean((y_pred - y_true)**2))``
    over the whole batch (matching ``keras.metrics.RootMeanSquaredError``).

    The mean is taken over every element before the square root, so the
    reported loss equals the RMSE metric on the same batch."""

    def __init__(self, name: str = "rmse", reduction: str = "sum_over_batch_size", dtype: Any = None) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Per-sample mean squared error; the square root is taken after
        the batch reduction in :meth:`__call__`."""
        ops = keras.ops
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.cast(y_true, y_pred.dtype)
        return ops.mean(ops.square(y_pred - y_true), axis=-1)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        return keras.ops.sqrt(super().__call__(y_true, y_pred, sample_weight))

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}


#: Spec names of the losses kspec adds.
CUSTOM_LOSSES: dict[str, type] = {"rmse": RootMeanSquaredError, "root_mean_squared_error": RootMeanSquaredError}
