import pytest
import torch

from plasticity_sim.network import Conv, Dense, Local

E, B = 2, 3


@pytest.fixture(autouse=True)
def float64():
    """These checks run in float64; the default goes back afterwards (it is process-wide)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)

CASES = {
    "dense": Dense((4, 3), (1, 5)),
    "dense_pool": Dense((4, 3), (1, 5), pool=True),
    "dense_to_layer": Dense((1, 3), (4, 2)),
    "local": Local((8, 3), (4, 5), s=2),
    "conv": Conv((9, 2), (3, 4), s=3),
}


def draw(proj, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(E, *proj.weight_shape(), generator=g)
    x = torch.randn(E, B, *proj.in_shape, generator=g)
    y = torch.randn(E, B, *proj.out_shape, generator=g)
    return w, x, y


@pytest.mark.parametrize("name", CASES)
def test_transpose_is_the_adjoint_and_outer_is_the_weight_gradient(name):
    proj = CASES[name]
    w, x, y = draw(proj)
    fwd = proj.forward(w, x)
    assert fwd.shape == (E, B, *proj.out_shape)
    # <forward(w, x), y> = <x, transpose(w, y)>
    assert torch.allclose((fwd * y).sum(), (x * proj.transpose(w, y)).sum())
    # d<forward(w, x), y>/dw = outer(y, x)
    w.requires_grad_(True)
    (grad,) = torch.autograd.grad((proj.forward(w, x) * y).sum(), w)
    assert torch.allclose(grad, proj.outer(y, x))


def test_conv_matches_torch_conv1d():
    proj = Conv((9, 2), (3, 4), s=3)
    w, x, _ = draw(proj)
    # our patch index is offset * C_in + channel; conv1d wants (C_out, C_in, s)
    kernel = w[0].view(4, 3, 2).permute(0, 2, 1)
    ref = torch.nn.functional.conv1d(x[0].transpose(1, 2), kernel, stride=3)  # (B, C_out, Q)
    assert torch.allclose(proj.forward(w, x)[0], ref.transpose(1, 2))


def test_local_matches_an_explicit_loop():
    proj = Local((8, 3), (4, 5), s=2)
    w, x, _ = draw(proj)
    out = proj.forward(w, x)
    for q in range(4):
        patch = torch.cat([x[:, :, 2 * q], x[:, :, 2 * q + 1]], dim=-1)  # (E,B,2*C)
        assert torch.allclose(out[:, :, q], torch.einsum("eok,ebk->ebo", w[:, q], patch))


def test_pooling_readout_averages_positions():
    proj = CASES["dense_pool"]
    w, x, _ = draw(proj)
    assert torch.allclose(proj.forward(w, x)[:, :, 0], x.mean(2) @ w.transpose(1, 2))


def test_conv_bias_is_shared_local_bias_is_not():
    assert CASES["conv"].bias_shape() == (1, 4) and CASES["local"].bias_shape() == (4, 5)
    y = torch.ones(E, B, 3, 4)
    assert torch.equal(CASES["conv"].bias_outer(y), torch.full((E, 1, 4), 3.0 * B))
