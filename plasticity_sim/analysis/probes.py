"""Linear probes: how much of the class each layer makes linearly available.

For every member and every layer (the input, then each hidden layer), a multinomial
logistic regression is fitted on the frozen, standardized features of the labelled training
inputs and tested on held-out inputs. All members are fitted at once (their losses add up,
so their optima are independent) by L-BFGS.
"""

from __future__ import annotations

import numpy as np
import torch


def fit_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
              test_y: torch.Tensor, n_classes: int, weight_decay: float = 1e-3,
              max_iter: int = 200) -> np.ndarray:
    """Test accuracy (E,) of probes fitted on (E, N, D) features with (E, N) labels."""
    train_x, test_x = train_x.double(), test_x.double()
    mean = train_x.mean(1, keepdim=True)
    std = train_x.std(1, keepdim=True).clamp_min(1e-6)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    E, N, D = train_x.shape
    weights = torch.zeros(E, D, n_classes, dtype=torch.float64, device=train_x.device,
                          requires_grad=True)
    bias = torch.zeros(E, 1, n_classes, dtype=torch.float64, device=train_x.device,
                       requires_grad=True)
    opt = torch.optim.LBFGS([weights, bias], max_iter=max_iter, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-9)

    def closure():
        opt.zero_grad()
        logits = torch.bmm(train_x, weights) + bias
        loss = torch.nn.functional.cross_entropy(logits.reshape(E * N, n_classes),
                                                 train_y.reshape(-1), reduction="sum") / N
        loss = loss + weight_decay * (weights ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        predicted = (torch.bmm(test_x, weights) + bias).argmax(2)
    return (predicted == test_y).double().mean(1).cpu().numpy()


def probe_layers(trainer, train_x, train_y, test_x, test_y) -> np.ndarray:
    """Probe accuracy (E, 1 + hidden layers): the input itself, then every hidden layer."""
    n_classes = trainer.grammar.n_classes
    with torch.no_grad():
        train_layers = [train_x] + trainer.net.represent(trainer.S, train_x)
        test_layers = [test_x] + trainer.net.represent(trainer.S, test_x)
    out = [fit_probe(a.flatten(2), train_y, b.flatten(2), test_y, n_classes)
           for a, b in zip(train_layers, test_layers)]
    return np.stack(out, axis=1)
