"""Plain Hebbian baselines with no pairs: Oja's rule and BCM with a sliding threshold."""

from __future__ import annotations

from .rule import Rule
from .self_supervised import LOCAL_READOUT

OJA = Rule(
    name="oja",
    family="hebbian",
    summary="Oja: dw = y (x - y w), Hebbian growth bounded by a decay in y^2",
    hidden="",
    update="r_post * r_pre - r_post**2 * w",
    reference="Oja 1982",
    **LOCAL_READOUT,
)

BCM = Rule(
    name="bcm",
    family="hebbian",
    summary="BCM: dw = y (y - theta) x, the threshold theta a running average of y^2: "
            "depression below it, potentiation above",
    hidden="",
    update="r_post * (r_post - theta_post) * r_pre",
    state="theta = theta + eps * (batch_mean(r**2) - theta) : 1",
    state_init={"theta": 1.0},
    params={"eps": 0.01},
    reference="Bienenstock, Cooper, Munro 1982",
    **LOCAL_READOUT,
)

HEBBIAN_RULES = (OJA, BCM)
