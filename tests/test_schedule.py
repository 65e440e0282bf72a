"""LPL's published training: a warm-up then cosine learning-rate schedule, stepped per epoch,
and weight decay that spares the biases."""

import pytest
import torch

from plasticity_sim import ParameterError
from plasticity_sim.backends.torch.train import Trainer, train
from plasticity_sim.model import Model, Training
from plasticity_sim.rhm import Grammar

G = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)


def rate(settings: Training, lr: float, epoch: int) -> float:
    a, b = settings.lr_at(epoch)
    return a * lr + b


def test_warmup_cosine_follows_the_published_formula():
    s = Training(lr_schedule="warmup_cosine", warmup_epochs=10, start_lr=0.0, final_lr=1e-6,
                 epochs=110)
    lr = 1e-3
    # warm-up: start_lr at epoch 0, lr at epoch W - 1, linear in between
    assert rate(s, lr, 0) == 0.0
    assert rate(s, lr, 9) == pytest.approx(lr, rel=1e-12)
    assert rate(s, lr, 3) == pytest.approx(3 / 9 * lr, rel=1e-12)
    # cosine: lr at epoch W, halfway between lr and final_lr at the middle of the decay,
    # final_lr at the cap
    assert rate(s, lr, 10) == pytest.approx(lr, rel=1e-12)
    assert rate(s, lr, 60) == pytest.approx((lr + 1e-6) / 2, rel=1e-12)
    assert rate(s, lr, 110) == pytest.approx(1e-6, rel=1e-9)
    after = [rate(s, lr, e) for e in range(10, 110)]
    assert all(x > y for x, y in zip(after, after[1:]))
    assert Training().lr_at(5) == (1.0, 0.0)


def test_a_scheduled_step_is_the_step_at_the_scheduled_rate():
    model = Model.for_rule("bp", width=16, batch_size=8, momentum=0.0)
    x = torch.rand(1, 8, 8, 4, dtype=torch.float32)
    t = torch.nn.functional.one_hot(torch.arange(8) % 4, 4).to(torch.float32)[None, :, None, :]
    halved = Trainer(model, G, [0], lr=0.1)
    halved.schedule = (0.5, 0.0)
    plain = Trainer(model, G, [0], lr=0.05)
    halved.step(x, t)
    plain.step(x, t)
    for name in plain.plastic:
        assert torch.equal(halved.S[name], plain.S[name])
    still = Trainer(model, G, [0], lr=0.1)
    before = {n: still.S[n].clone() for n in still.plastic}
    still.schedule = (0.0, 0.0)  # start_lr = 0: the first epoch of a warm-up does not learn
    still.step(x, t)
    assert all(torch.equal(before[n], still.S[n]) for n in still.plastic)


def test_the_first_warmup_epoch_from_zero_learns_nothing_in_a_run():
    kw = dict(width=16, batch_size=16, epochs=4, optimizer="adam")
    warm_rec = train(Model.for_rule("bp", lr_schedule="warmup_cosine", warmup_epochs=2, **kw), G,
                 P=128, seeds=[0], lr=1e-2, n_test=0, n_val=100, probes=False, quiet=True)
    flat = train(Model.for_rule("bp", **kw), G, P=128, seeds=[0], lr=1e-2, n_test=0,
                 n_val=100, probes=False, quiet=True)
    warm, flat = warm_rec.to_dataset(), flat.to_dataset()
    untrained = float(warm.initial_loss[0])
    # the epoch's loss is read on its batches as the weights change: unchanged at rate 0
    assert float(warm.train_loss[0, 0]) == pytest.approx(untrained, rel=1e-5)
    assert float(flat.train_loss[0, 0]) < untrained - 1e-3
    assert warm_rec.config["model"]["training"]["lr_schedule"] == "warmup_cosine"


def test_weight_decay_can_spare_the_biases():
    x = torch.rand(1, 8, 8, 4, dtype=torch.float32)
    t = torch.nn.functional.one_hot(torch.arange(8) % 4, 4).to(torch.float32)[None, :, None, :]
    after = {}
    for decay, spare in ((0.0, False), (0.1, False), (0.1, True)):
        model = Model.for_rule("bp", width=16, batch_size=8, momentum=0.0, bias=True,
                               weight_decay=decay, decay_biases=not spare)
        trainer = Trainer(model, G, [0], lr=0.1)
        trainer.S["s0_bias"].fill_(0.5)  # a bias that decay would shrink
        trainer.step(x, t)
        after[decay, spare] = {n: trainer.S[n].clone() for n in trainer.plastic}
    none, all_, spared = after[0.0, False], after[0.1, False], after[0.1, True]
    assert torch.equal(spared["s0_bias"], none["s0_bias"])
    assert not torch.equal(all_["s0_bias"], none["s0_bias"])
    assert torch.equal(spared["s0_w"], all_["s0_w"])
    assert not torch.equal(spared["s0_w"], none["s0_w"])


def test_lpl_spares_its_biases_as_its_public_code_does():
    assert Model.for_rule("lpl").training.decay_biases is False
    assert Model.for_rule("bp").training.decay_biases is True


@pytest.mark.parametrize("changes, name", [
    (dict(lr_schedule="cosine"), "lr_schedule"),
    (dict(lr_schedule="warmup_cosine", warmup_epochs=50, epochs=50), "warmup_epochs"),
    (dict(warmup_epochs=-1), "warmup_epochs"),
    (dict(final_lr=-1e-6), "final_lr"),
    (dict(start_lr=-1.0), "start_lr"),
])
def test_bad_schedules_are_refused_by_name(changes, name):
    with pytest.raises(ParameterError, match=name):
        Training(**changes)

