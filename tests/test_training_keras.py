"""Keras agrees with ``kspec check`` on compile and train sections: each
section the check refuses (tests/_training_cases.py) Keras refuses too when
kspec builds its objects (or, for lists of losses, loss weights and metrics,
when training starts), and each section the check accepts Keras takes. The
static checks are skipped here: the spec goes straight to kspec's runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _training_cases import CASES, Case
from kspec.compiler.pipeline import expand, parse_text
from kspec.spec.diagnostics import KspecError
from kspec.spec.settings import CompileSettings, TrainSettings

#: What Keras (or kspec's runtime, building what Keras takes) says about each refused case.
KERAS_SAYS = {
    "loss_list_longer_than_outputs": "The path: (2,) in the `loss` argument, can't be found",
    "two_weights_one_loss": "`loss_weights` must match the number of losses, got 1 losses and 2 weights",
    "one_weight_two_losses": "`loss_weights` must match the number of losses, got 2 losses and 1 weights",
    "three_weights_two_losses": "`loss_weights` must match the number of losses, got 2 losses and 3 weights",
    "weights_single_output": "`loss_weights` must match the number of losses, got 1 losses and 2 weights",
    "loss_mapping_misses_output": "Expected keys ['score', 'label'] in loss dict",
    "weight_mapping_misses_output": "nothing given for 'label'",
    "one_metric_two_outputs": "tuple arity mismatch; expected: 2, got: 1",
    "three_weighted_metrics_two_outputs": "tuple arity mismatch; expected: 2, got: 3",
    "empty_loss_list": "No loss to compute",
    "optimizer_keyword_typo": "Argument(s) not recognized: {'learnig_rate': 0.001}",
    "loss_keyword_typo": "got an unexpected keyword argument 'from_logit'",
    "metric_keyword_typo": "got an unexpected keyword argument 'curve_type'",
    "metric_keyword_typo_short": "got an unexpected keyword argument 'kk'",
    "callback_keyword_typo": "got an unexpected keyword argument 'patiense'",
    "schedule_keyword_typo": "got an unexpected keyword argument 'decay_step'",
    "optimizer_legacy_lr": "Argument(s) not recognized: {'lr': 0.01}",
    "loss_too_many_positional": "takes from 1 to 5 positional arguments but 6 were given",
    "callback_too_many_positional": "takes from 1 to 2 positional arguments but 3 were given",
    "schedule_missing_argument": "missing 1 required positional argument: 'decay_steps'",
    "callback_missing_argument": "missing 1 required positional argument: 'filepath'",
    "optimizer_argument_twice": "got multiple values for argument 'learning_rate'",
    "metric_name_twice": "got multiple values for argument 'name'",
    "metric_function_called": "'huber' takes no arguments here",
    "call_that_is_no_schedule": "'Foo(...)' is not allowed here",
    "loss_reduction": "Invalid value for argument `reduction`",
    "rmse_reduction": "Invalid value for argument `reduction`",
    "plateau_factor": "ReduceLROnPlateau does not support a factor >= 1.0",
    "integer_learning_rate": "Argument `learning_rate` should be float",
    "two_clips": "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set",
    "gradient_accumulation_of_one": "`gradient_accumulation_steps` must be an integer >= 2",
    "ema_momentum_above_one": "`ema_momentum` must be in the range [0, 1]",
    "schedule_without_steps": "Argument `decay_steps` must be > 0",
    "restarts_without_steps": "Argument `first_decay_steps` must be > 0",
    "piecewise_lengths": "The length of boundaries should be 1 less than the length of values",
    "auc_curve": "Invalid AUC curve value",
    "auc_thresholds": "Argument `num_thresholds` must be an integer > 1",
    "precision_at_recall": "Argument `recall` must be in the range [0, 1]",
    "checkpoint_suffix": "The filepath provided must end in `.keras`",
    "checkpoint_weights_suffix": "the filepath provided must end in `.weights.h5`",
    "checkpoint_save_freq": "Unrecognized save_freq: batch",
    "backup_dir_empty": "Empty `backup_dir` argument passed",
}


def _keras_verdict(case: Case) -> str | None:
    """What Keras says about the case's sections (``None``: fine)."""
    from kspec.runtime.lower import lower_model
    from kspec.runtime.training import compile_model, fit, make_callbacks

    spec = expand(parse_text(case.text, file="t.kspec"))  # no check: Keras decides
    model = lower_model(spec, "net")
    (compile_section,) = spec.compile
    train_section = spec.train[0] if spec.train else None
    try:
        settings = CompileSettings.model_validate(compile_section.settings)
        compile_model(model, settings, compile_section)
        train = TrainSettings.model_validate(train_section.settings if train_section else {})
        make_callbacks(train, train_section)
        if case.fit:
            rng = np.random.default_rng(0)
            x = rng.random((8, 4), dtype="float32")
            ys = {name: rng.random((8, 1), dtype="float32") for name in model.output_names}
            fit(model, x, ys if len(ys) > 1 else next(iter(ys.values())), TrainSettings(epochs=1, batch_size=8),
                verbose=0)
    except KspecError as exc:
        return exc.diagnostics[0].message
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_keras_refuses_what_check_refuses(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # callbacks write files
    verdict = _keras_verdict(case)
    if case.expected is None:
        assert verdict is None
    else:
        assert verdict is not None, f"Keras accepts what kspec check refuses: {case.expected}"
        assert KERAS_SAYS[case.id] in verdict


def test_every_refused_case_says_why_keras_refuses() -> None:
    assert set(KERAS_SAYS) == {c.id for c in CASES if c.expected is not None}
