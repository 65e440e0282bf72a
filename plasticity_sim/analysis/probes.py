"""Linear probes: how much of the class each layer makes linearly available.

For every member and every layer (the input, then each hidden layer), a multinomial
logistic regression is fitted on the frozen, standardized features of the labelled training
inputs, for each L2 penalty of ``DECAYS`` (strongest first, each fit starting from the
previous solution); each member keeps the penalty with the best accuracy on its validation
set, and that probe is tested once on the test set. Each member is fitted on its own, by
L-BFGS, so that its probe does not depend on the ensemble it ran in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

#: L2 penalties tried, strongest first; the validation set chooses one per member and layer
DECAYS = (1e-1, 1e-2, 1e-3, 1e-4)


@dataclass
class ProbeResult:
    """Per member (E,): the chosen penalty and the accuracies of the probe that has it."""

    decay: np.ndarray
    val_accuracy: np.ndarray
    test_accuracy: np.ndarray


def fit_probe(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor,
              val_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor, n_classes: int,
              decays=DECAYS, max_iter: int = 200) -> ProbeResult:
    """Probes fitted on (E, N, D) features with (E, N) labels, the penalty chosen on
    validation (the first of equals, i.e. the strongest). Without a validation set there is
    nothing to choose on: the penalty is 1e-3. Each member's probe is fitted on its own (a
    joint L-BFGS would couple the members through its line search and curvature pairs, so
    that a member's probe would depend on the ensemble it ran in)."""
    if val_x.shape[1] == 0:
        decays = (1e-3,)
    E = train_x.shape[0]
    best = ProbeResult(np.full(E, np.nan), np.full(E, -np.inf), np.full(E, np.nan))
    for e in range(E):
        one = slice(e, e + 1)
        decay, val, test = _fit_member(train_x[one], train_y[one], val_x[one], val_y[one],
                                       test_x[one], test_y[one], n_classes, decays, max_iter)
        best.decay[e], best.val_accuracy[e], best.test_accuracy[e] = decay, val, test
    return best


def _fit_member(train_x, train_y, val_x, val_y, test_x, test_y, n_classes, decays, max_iter):
    """(penalty, validation accuracy, test accuracy) of one member's chosen probe."""
    mean = train_x.double().mean(1, keepdim=True)
    std = train_x.double().std(1, keepdim=True).clamp_min(1e-6)
    scale = lambda a: (a.double() - mean) / std  # noqa: E731
    train_x, val_x, test_x = scale(train_x), scale(val_x), scale(test_x)
    _, _, D = train_x.shape
    weights = torch.zeros(1, D, n_classes, dtype=torch.float64, device=train_x.device,
                          requires_grad=True)
    bias = torch.zeros(1, 1, n_classes, dtype=torch.float64, device=train_x.device,
                       requires_grad=True)
    best = (np.nan, -np.inf, np.nan)
    for decay in decays:
        _fit(train_x, train_y, weights, bias, n_classes, decay, max_iter)
        with torch.no_grad():
            val = _accuracy(val_x, val_y, weights, bias)[0]
            test = _accuracy(test_x, test_y, weights, bias)[0]
        if val > best[1] or np.isnan(best[0]) and np.isnan(val):
            best = (decay, val, test)
    return best


def _fit(x, y, weights, bias, n_classes, decay, max_iter):
    E, N, _ = x.shape
    opt = torch.optim.LBFGS([weights, bias], max_iter=max_iter, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-9)

    def closure():
        opt.zero_grad()
        logits = torch.bmm(x, weights) + bias
        loss = torch.nn.functional.cross_entropy(logits.reshape(E * N, n_classes), y.reshape(-1),
                                                 reduction="sum") / N
        loss = loss + decay * (weights ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)


def _accuracy(x, y, weights, bias) -> np.ndarray:
    if x.shape[1] == 0:
        return np.full(x.shape[0], np.nan)
    predicted = (torch.bmm(x, weights) + bias).argmax(2)
    return (predicted == y).double().mean(1).cpu().numpy()


def probe_layers(trainer, train, val, test, rows=None) -> list[ProbeResult]:
    """Probes of the input itself, then of every hidden layer; ``train``, ``val`` and
    ``test`` are (x, labels) pairs of encoded inputs of every live member, or of the live
    ``rows`` only (``Trainer.synapses``)."""
    n_classes = trainer.grammar.n_classes
    S = trainer.synapses(rows)
    with torch.no_grad():
        layers = [[x.flatten(2)] + [r.flatten(2) for r in trainer.net.represent(S, x)]
                  if x.shape[1] else None for x, _ in (train, val, test)]
    empty = [a[:, :0] for a in layers[0]]  # an empty set: no rows, each layer's width
    layers = [found if found is not None else empty for found in layers]
    return [fit_probe(a, train[1], b, val[1], c, test[1], n_classes) for a, b, c in zip(*layers)]
