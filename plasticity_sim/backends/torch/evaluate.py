"""What a finished run records about itself: the readout and the probes on validation and
test, and, when asked, synonymic sensitivity and representational comparison.

Every run records both evaluators, so that a comparison of rules can use one for all:
the network's own readout (``readout_accuracy``) and a linear probe of every layer
(``probe_accuracy``, its penalty chosen on validation). ``test_accuracy`` and
``val_accuracy`` are those of the run's evaluator; the test set is read here, once.
"""

from __future__ import annotations

import numpy as np

from ...analysis.probes import ProbeResult, probe_layers
from ...analysis.representation import representational_similarity
from ...analysis.sensitivity import synonymic_sensitivity
from ...errors import require_int
from ...recording import LAYER_DOC, PROBE_LAYER_DOC

EVALUATORS = ("readout", "probe")
SOURCES = {"readout": "the network's own readout",
           "probe": "a linear probe of the top hidden layer (penalty chosen on validation)"}


def evaluate_run(rec, trainer, data, val, bad, evaluator, probes, sensitivity_samples,
                 representation_samples=0):
    """Add the final measurements to ``rec``; ``bad`` (E,) marks diverged members, whose
    measurements are NaN."""
    E = trainer.E
    nan = np.full(E, np.nan)
    test = trainer.encode(data.tests) if data.n_test else None
    readout = trainer.evaluate(*test) if test is not None else (nan.copy(), nan.copy())
    readout_val = trainer.evaluate(*val)[0] if val is not None else nan.copy()
    final_train = on_pools(trainer, data)
    for values in (*readout, readout_val, *final_train):
        values[bad] = np.nan
    rec.add("chance_accuracy", (), 1.0 / trainer.grammar.n_classes,
            "accuracy of guessing (1 / n_classes): the score of a diverged run")
    rec.add("final_train_accuracy", ("seed",), final_train[0],
            "accuracy of the network's readout on every training input after training")
    rec.add("test_loss", ("seed",), readout[1],
            "mean loss of the network's readout on the test set, in nats", "1")
    rec.add("readout_accuracy", ("seed",), readout[0], "test accuracy of the network's own readout")
    rec.add("readout_val_accuracy", ("seed",), readout_val,
            "validation accuracy of the network's own readout")
    chosen = {"readout": (readout[0], readout_val)}
    if probes:  # without a validation or test set, their accuracies are NaN
        results = _probes(trainer, data, val, test)
        stack = lambda name: np.stack([getattr(r, name) for r in results], axis=1)  # noqa: E731
        acc, acc_val, decay = stack("test_accuracy"), stack("val_accuracy"), stack("decay")
        for values in (acc, acc_val):
            values[bad] = np.nan
        rec.coord("probe_layer", np.arange(acc.shape[1]), PROBE_LAYER_DOC)
        rec.add("probe_accuracy", ("seed", "probe_layer"), acc,
                "test accuracy of a linear probe (logistic regression) on the layer's rates, "
                "fitted on the training inputs, its L2 penalty chosen on validation")
        rec.add("probe_val_accuracy", ("seed", "probe_layer"), acc_val,
                "validation accuracy of the chosen linear probe")
        rec.add("probe_decay", ("seed", "probe_layer"), decay, "L2 penalty of the probe, chosen "
                "on validation")
        chosen["probe"] = (acc[:, -1], acc_val[:, -1])
    rec.add("test_accuracy", ("seed",), chosen[evaluator][0],
            f"test accuracy of {SOURCES[evaluator]}", evaluator=evaluator)
    rec.add("val_accuracy", ("seed",), chosen[evaluator][1],
            f"validation accuracy of {SOURCES[evaluator]}", evaluator=evaluator)
    _on_test_inputs(rec, trainer, data, bad, "sensitivity_samples", sensitivity_samples,
                    synonymic_sensitivity, "sensitivity",
                    ("level", "level whose productions and all below are redrawn"),
                    "synonymic sensitivity: mean squared change of the layer's rates when the "
                    "productions at and below the level are redrawn, over that of unrelated inputs")
    _on_test_inputs(rec, trainer, data, bad, "representation_samples", representation_samples,
                    representational_similarity, "representational_similarity",
                    ("tree_level", "level of the hidden tree (L = the input)"),
                    "Spearman correlation of the layer's dissimilarity matrix with the latent "
                    "dissimilarity of the level")


def on_pools(trainer, data) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and mean loss of every member's readout (E,) on its own training inputs (each
    group of members of one P on its rows of the padded pool); every member live."""
    acc, loss = np.full(trainer.E, np.nan), np.full(trainer.E, np.nan)
    for members, n in _by_size(data):
        acc[members], loss[members] = trainer.evaluate(
            data.x[members, :n], data.t[members, :n], data.y[members, :n], rows=members)
    return acc, loss


def _by_size(data):
    """(members, rows of their pool) of each group of members of one P."""
    for members in data.groups():
        yield members, int(data.sizes[members[0]])


def _probes(trainer, data, val, test) -> list:
    """The probes of every layer, fitted on each member's own training inputs: one
    ProbeResult per layer, over every member."""
    empty = (data.x[:, :0], data.y[:, :0])
    val = val[::2] if val is not None else empty
    test = (test[0], test[2]) if test is not None else empty
    parts = []
    for members, n in _by_size(data):
        if len(members) == trainer.E:
            return probe_layers(trainer, (data.x[:, :n], data.y[:, :n]), val, test)
        pick = lambda pair: tuple(a[members] for a in pair)  # noqa: E731
        parts.append((members, probe_layers(trainer, (data.x[members, :n], data.y[members, :n]),
                                            pick(val), pick(test), rows=members)))
    layers = len(parts[0][1])
    results = [ProbeResult(np.full(trainer.E, np.nan), np.full(trainer.E, np.nan),
                           np.full(trainer.E, np.nan)) for _ in range(layers)]
    for members, found in parts:
        for whole, part in zip(results, found):
            for name in ("decay", "val_accuracy", "test_accuracy"):
                getattr(whole, name)[members] = getattr(part, name)
    return results


def _on_test_inputs(rec, trainer, data, bad, setting, n, measure, name, level, long_name):
    """A (seed, layer, level) measure on the first ``n`` test inputs of every member."""
    n = min(require_int(setting, n, minimum=0), data.n_test)
    if not n:
        return
    values = measure(trainer, [t.take(slice(0, n)) for t in data.tests])
    values[bad] = np.nan
    rec.coord("layer", np.arange(1, values.shape[1] + 1), LAYER_DOC)
    rec.coord(level[0], np.arange(values.shape[2]), level[1])
    rec.add(name, ("seed", "layer", level[0]), values, long_name)
