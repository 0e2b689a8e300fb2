"""Compile and train sections that ``kspec check`` refuses or accepts, shared
by tests/test_training_spec.py (the diagnostics, no keras) and
tests/test_training_keras.py (Keras refuses and accepts the same ones).

Each case is a model with one or two outputs plus ``compile`` and ``train``
lines; ``expected`` is the one diagnostic as ``line:column code message |
hint``, or ``None`` when the sections are fine. ``fit``: Keras decides only
when training starts (lists against outputs), not when it builds the objects.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ACCEPTED", "CASES", "REFUSED", "Case"]

_MODELS = {
    1: "model net {\n  input x: (4,)\n  h = x -> Dense(8)\n  output score = h -> Dense(1)\n  # one output\n}\n",
    2: "model net {\n  input x: (4,)\n  h = x -> Dense(8)\n  output score = h -> Dense(1)\n"
       "  output label = h -> Dense(1)\n}\n",
}


@dataclass(frozen=True)
class Case:
    id: str
    outputs: int
    compile: tuple[str, ...]
    train: tuple[str, ...] = ()
    expected: str | None = None
    fit: bool = False

    @property
    def text(self) -> str:
        """The spec: lines 1-6 the model, the compile section from line 7
        (settings from line 8), then the train section."""
        out = _MODELS[self.outputs] + "compile net {\n" + "".join(f"  {s}\n" for s in self.compile) + "}\n"
        if self.train:
            out += "train net {\n" + "".join(f"  {s}\n" for s in self.train) + "}\n"
        return out


def _c(id: str, outputs: int, compile: str | tuple[str, ...], expected: str | None = None, *,
       train: str | tuple[str, ...] = (), fit: bool = False) -> Case:
    def lines(v: str | tuple[str, ...]) -> tuple[str, ...]:
        return (v,) if isinstance(v, str) else v

    return Case(id, outputs, lines(compile), lines(train), expected, fit)


_LOSS = "loss = mse"

CASES: list[Case] = [
    # -- lists of losses, loss weights and metrics against the outputs (Keras: when training starts)
    _c("loss_list_longer_than_outputs", 2, "loss = [mse, mse, mse]",
       "8:3 K304 'loss' lists 3 losses but model 'net' has 2 outputs | "
       "give one loss per output (score, label), or one loss for them all", fit=True),
    _c("two_weights_one_loss", 2, (_LOSS, "loss_weights = [1.0, 0.5]"),
       "9:3 K304 'loss_weights' gives 2 weights for 1 loss | a single loss is one loss for every output, "
       "with one weight: give one loss per output to weight them", fit=True),
    _c("one_weight_two_losses", 2, ("loss = {score: mse, label: mse}", "loss_weights = [1.0]"),
       "9:3 K304 'loss_weights' gives 1 weight for 2 losses | give one weight per loss, 2 in all", fit=True),
    _c("three_weights_two_losses", 2, ("loss = [mse, mse]", "loss_weights = [1.0, 2.0, 3.0]"),
       "9:3 K304 'loss_weights' gives 3 weights for 2 losses | give one weight per loss, 2 in all", fit=True),
    _c("weights_single_output", 1, (_LOSS, "loss_weights = [1.0, 2.0]"),
       "9:3 K304 'loss_weights' gives 2 weights for 1 loss | give one weight", fit=True),
    _c("loss_mapping_misses_output", 2, "loss = {score: mse}",
       "8:3 K304 'loss' gives no loss for output 'label' of model 'net' | Keras needs every output in a loss "
       "mapping: map it to none to train it without a loss", fit=True),
    _c("weight_mapping_misses_output", 2, ("loss = {score: mse, label: mse}", "loss_weights = {score: 1.0}"),
       "9:3 K304 'loss_weights' gives no weight for output 'label' of model 'net' | "
       "'loss' maps every output to a loss, so each needs a weight", fit=True),
    _c("one_metric_two_outputs", 2, (_LOSS, "metrics = [mae]"),
       "9:3 K304 'metrics' lists 1 metric but model 'net' has 2 outputs | with several outputs Keras takes a "
       "list as one metric per output: give 2 (for score, label), or map outputs to lists of metrics", fit=True),
    _c("three_weighted_metrics_two_outputs", 2, (_LOSS, "weighted_metrics = [mae, mse, mape]"),
       "9:3 K304 'weighted_metrics' lists 3 metrics but model 'net' has 2 outputs | with several outputs Keras "
       "takes a list as one metric per output: give 2 (for score, label), or map outputs to lists of metrics",
       fit=True),
    _c("empty_loss_list", 2, "loss = []",
       "8:3 K302 invalid compile setting 'loss': an empty list gives no loss | give a loss, or one per output",
       fit=True),
    # Keras takes a shorter list of losses: the first outputs get them, the others none.
    _c("loss_list_shorter_than_outputs", 2, "loss = [mse]", fit=True),
    _c("one_weight_single_loss", 2, (_LOSS, "loss_weights = [1.0]"), fit=True),
    _c("weights_for_mapping_with_none", 2, ("loss = {score: mse, label: none}", "loss_weights = [1.0, 0.5]"),
       fit=True),
    _c("weight_mapping_for_loss_list", 2, ("loss = [mse, mse]", "loss_weights = {score: 1.0, label: 2.0}"),
       fit=True),
    _c("weight_and_loss_mappings", 2, ("loss = {label: mse, score: mse}", "loss_weights = {score: 1.0, label: 0.5}"),
       fit=True),
    _c("one_metric_per_output", 2, (_LOSS, "metrics = [mae, mse]", "weighted_metrics = {label: [mae]}"), fit=True),
    _c("lists_on_single_output", 1, ("loss = [mse, mse]", "loss_weights = [1.0, 0.5]", "metrics = [mae, mse, mape]"),
       fit=True),
    # -- unknown keywords (Keras: when it builds the object)
    _c("optimizer_keyword_typo", 1, ("optimizer = RMSprop(learnig_rate=1e-3)", _LOSS),
       "8:23 K302 invalid optimizer RMSprop(...): unexpected argument 'learnig_rate' | did you mean 'learning_rate'?"),
    _c("loss_keyword_typo", 1, "loss = BinaryCrossentropy(from_logit=true)",
       "8:29 K302 invalid loss BinaryCrossentropy(...): unexpected argument 'from_logit' | "
       "did you mean 'from_logits'?"),
    _c("metric_keyword_typo", 1, (_LOSS, "metrics = [AUC(curve_type=\"PR\")]"),
       "9:18 K302 invalid metric AUC(...): unexpected argument 'curve_type' | did you mean 'curve'?"),
    _c("metric_keyword_typo_short", 1, (_LOSS, "metrics = [SparseTopKCategoricalAccuracy(kk=3)]"),
       "9:44 K302 invalid metric SparseTopKCategoricalAccuracy(...): unexpected argument 'kk' | "
       "did you mean 'k'?"),
    _c("callback_keyword_typo", 1, _LOSS, train="callbacks = [EarlyStopping(monitor=\"val_loss\", patiense=2)]",
       expected="11:50 K302 invalid callback EarlyStopping(...): unexpected argument 'patiense' | "
       "did you mean 'patience'?"),
    _c("schedule_keyword_typo", 1, ("optimizer = Adam(learning_rate=ExponentialDecay(initial_learning_rate=0.01, "
                                    "decay_step=100, decay_rate=0.9))", _LOSS),
       "8:79 K302 invalid learning-rate schedule ExponentialDecay(...): unexpected argument 'decay_step' | "
       "did you mean 'decay_steps' or 'decay_rate'?"),
    _c("optimizer_legacy_lr", 1, ("optimizer = Adam(lr=0.01)", _LOSS),
       "8:20 K302 invalid optimizer Adam(...): unexpected argument 'lr' | Adam takes learning_rate, beta_1, "
       "beta_2, epsilon, amsgrad, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum, "
       "ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name"),
    # -- too many positional arguments, missing or doubled ones
    _c("loss_too_many_positional", 1, "loss = Huber(2.0, \"sum\", \"huber\", none, 1)",
       "8:10 K302 invalid loss Huber(...): takes at most 4 positional arguments (delta, reduction, name, dtype), "
       "got 5 | None"),
    _c("callback_too_many_positional", 1, _LOSS, train="callbacks = [TerminateOnNaN(true, false)]",
       expected="11:16 K302 invalid callback TerminateOnNaN(...): takes at most 1 positional argument "
       "(raise_error), got 2 | None"),
    _c("schedule_missing_argument", 1, ("optimizer = Adam(learning_rate=CosineDecay(0.01))", _LOSS),
       "8:34 K302 invalid learning-rate schedule CosineDecay(...): needs argument 'decay_steps' | None"),
    _c("callback_missing_argument", 1, _LOSS, train="callbacks = [ModelCheckpoint(save_best_only=true)]",
       expected="11:16 K302 invalid callback ModelCheckpoint(...): needs argument 'filepath' | None"),
    _c("optimizer_argument_twice", 1, ("optimizer = Adam(0.01, learning_rate=0.1)", _LOSS),
       "8:26 K302 invalid optimizer Adam(...): argument 'learning_rate' is given twice | None"),
    _c("metric_name_twice", 1, (_LOSS, "metrics = [auc(200, \"ROC\", \"interpolation\", \"my_auc\")]"),
       "9:14 K302 invalid metric auc(...): argument 'name' is given twice | kspec passes name='auc' to a metric "
       "written in lower case; give name=... instead"),
    _c("metric_function_called", 1, (_LOSS, "metrics = [huber(delta=2.0)]"),
       "9:14 K302 invalid metric huber(...): 'huber' takes no arguments here | "
       "write it as a plain name, or use its class"),
    _c("call_that_is_no_schedule", 1, _LOSS, train="callbacks = [EarlyStopping(monitor=Foo(1))]",
       expected="11:38 K303 unknown learning-rate schedule 'Foo' | None"),
    # -- argument values Keras refuses in the constructor
    _c("loss_reduction", 1, "loss = BinaryCrossentropy(reduction=\"avg\")",
       "8:29 K302 invalid loss BinaryCrossentropy(...): 'reduction' must be one of 'sum_over_batch_size', 'sum', "
       "'mean', 'mean_with_sample_weight', 'none' or none, got 'avg' | None"),
    _c("rmse_reduction", 1, "loss = rmse(reduction=\"auto\")",
       "8:15 K302 invalid loss rmse(...): 'reduction' must be one of 'sum_over_batch_size', 'sum', 'mean', "
       "'mean_with_sample_weight', 'none' or none, got 'auto' | None"),
    _c("plateau_factor", 1, _LOSS, train="callbacks = [ReduceLROnPlateau(monitor=\"loss\", factor=1.5)]",
       expected="11:50 K302 invalid callback ReduceLROnPlateau(...): 'factor' must be a number below 1.0, "
       "got 1.5 | None"),
    _c("integer_learning_rate", 1, ("optimizer = SGD(learning_rate=1)", _LOSS),
       "8:19 K302 invalid optimizer SGD(...): 'learning_rate' must be a float (such as 0.001) or a learning-rate "
       "schedule, got 1 | None"),
    _c("two_clips", 1, ("optimizer = SGD(clipnorm=1.0, clipvalue=0.5)", _LOSS),
       "8:33 K302 invalid optimizer SGD(...): give only one of 'clipnorm', 'clipvalue' and 'global_clipnorm', "
       "got 'clipnorm' and 'clipvalue' | None"),
    _c("gradient_accumulation_of_one", 1, ("optimizer = Adam(gradient_accumulation_steps=1)", _LOSS),
       "8:20 K302 invalid optimizer Adam(...): 'gradient_accumulation_steps' must be an integer of at least 2 "
       "(or none), got 1 | None"),
    _c("ema_momentum_above_one", 1, ("optimizer = Adam(use_ema=true, ema_momentum=1.5)", _LOSS),
       "8:34 K302 invalid optimizer Adam(...): 'ema_momentum' must be a number from 0 to 1 when 'use_ema' is "
       "true, got 1.5 | None"),
    _c("schedule_without_steps", 1, ("optimizer = Adam(learning_rate=ExponentialDecay(0.01, 0, 0.9))", _LOSS),
       "8:34 K302 invalid learning-rate schedule ExponentialDecay(...): 'decay_steps' must be a number above 0, "
       "got 0 | None"),
    _c("restarts_without_steps", 1, ("optimizer = Adam(learning_rate=CosineDecayRestarts(0.01, 0))", _LOSS),
       "8:34 K302 invalid learning-rate schedule CosineDecayRestarts(...): 'first_decay_steps' must be a number "
       "above 0, got 0 | None"),
    _c("piecewise_lengths", 1, ("optimizer = Adam(learning_rate=PiecewiseConstantDecay([100], values=[0.01]))",
                                _LOSS),
       "8:64 K302 invalid learning-rate schedule PiecewiseConstantDecay(...): 'values' must be one value more "
       "than there are 'boundaries', got [0.01] | None"),
    _c("auc_curve", 1, (_LOSS, "metrics = [AUC(curve=\"Pr\")]"),
       "9:18 K302 invalid metric AUC(...): 'curve' must be one of 'ROC', 'PR' or 'PRGAIN', got 'Pr' | "
       "did you mean 'pr'?"),
    _c("auc_thresholds", 1, (_LOSS, "metrics = [AUC(num_thresholds=1)]"),
       "9:18 K302 invalid metric AUC(...): 'num_thresholds' must be an integer above 1, got 1 | None"),
    _c("precision_at_recall", 1, (_LOSS, "metrics = [PrecisionAtRecall(1.5)]"),
       "9:14 K302 invalid metric PrecisionAtRecall(...): 'recall' must be a number from 0 to 1, got 1.5 | None"),
    _c("checkpoint_suffix", 1, _LOSS, train="callbacks = [ModelCheckpoint(\"best\")]",
       expected="11:16 K302 invalid callback ModelCheckpoint(...): 'filepath' must be a path ending in .keras or .h5 "
       "(.weights.h5 with save_weights_only=true), got 'best' | None"),
    _c("checkpoint_weights_suffix", 1, _LOSS,
       train="callbacks = [ModelCheckpoint(filepath=\"best.keras\", save_weights_only=true)]",
       expected="11:32 K302 invalid callback ModelCheckpoint(...): 'filepath' must be a path ending in .keras or .h5 "
       "(.weights.h5 with save_weights_only=true), got 'best.keras' | None"),
    _c("checkpoint_save_freq", 1, _LOSS, train="callbacks = [ModelCheckpoint(\"best.keras\", save_freq=\"batch\")]",
       expected="11:46 K302 invalid callback ModelCheckpoint(...): 'save_freq' must be 'epoch' or a number of batches, "
       "got 'batch' | None"),
    _c("backup_dir_empty", 1, _LOSS, train="callbacks = [BackupAndRestore(\"\")]",
       expected="11:16 K302 invalid callback BackupAndRestore(...): 'backup_dir' must be a directory path, not empty, "
       "got '' | None"),
    # -- calls Keras takes
    _c("adam_keywords", 1, ("optimizer = Adam(learning_rate=1e-3, beta_1=0.8)", _LOSS)),
    _c("adam_positional", 1, ("optimizer = adam(1e-3, 0.8)", _LOSS)),
    _c("adam_legacy_decay", 1, ("optimizer = Adam(decay=0.1)", _LOSS)),  # Keras warns and ignores it
    _c("schedule_positional", 1, ("optimizer = Adam(CosineDecay(0.01, 1000))", _LOSS)),
    _c("schedule_keywords", 1, ("optimizer = SGD(learning_rate=PiecewiseConstantDecay([100], [0.01, 0.001]), "
                                "momentum=0.9, clipnorm=1.0, global_clipnorm=none)", _LOSS)),
    _c("loss_from_logits", 1, "loss = BinaryCrossentropy(from_logits=true, reduction=none)"),
    _c("loss_function_name_called", 1, "loss = binary_crossentropy(from_logits=true)"),
    _c("huber_positional", 1, "loss = Huber(2.0, \"sum\")"),
    _c("metrics_keywords", 1, (_LOSS, "metrics = [SparseTopKCategoricalAccuracy(k=3), top_k_categorical_accuracy(k=2), "
                                      "AUC(curve=\"pr\"), auc(num_thresholds=1, thresholds=[0.5])]")),
    _c("callbacks_keywords", 1, _LOSS, train=(
        "callbacks = [EarlyStopping(monitor=\"val_loss\", patience=3, restore_best_weights=true),",
        "             ModelCheckpoint(\"best.keras\", save_best_only=true), ModelCheckpoint(\"last.h5\"),",
        "             ModelCheckpoint(\"w.weights.h5\", save_weights_only=true, save_freq=5), TerminateOnNaN(true),",
        "             CSVLogger(\"log.csv\", separator=\";\"), BackupAndRestore(\"backup\")]")),
    # ReduceLROnPlateau takes any keyword into **kwargs and ignores it: so does kspec check.
    _c("plateau_ignores_keywords", 1, _LOSS, train="callbacks = [ReduceLROnPlateau(factor=0.5, patiense=2)]"),
]

REFUSED = [c for c in CASES if c.expected is not None]
ACCEPTED = [c for c in CASES if c.expected is None]
