"""The feedback family: rules that send the output error back to the hidden layers.

Every rule updates each forward projection by dw = -delta_post * r_pre (third factor x
post-synaptic term x pre-synaptic rate, the third factor being folded into delta); they
differ only in how delta reaches a hidden layer. Notation of ../shared/REFERENCES.md.
"""

from __future__ import annotations

from .rule import Pathway, Rule

DELTA_RULE = "-delta_post * r_pre"
OUTPUT_DELTA = "delta = err : 1"

BP = Rule(
    name="bp",
    summary="backpropagation: delta_l = f'(a_l) * W_{l+1}^T delta_{l+1}, through the "
            "transposed forward weights; every mask above gates the error",
    hidden="delta = fprime(a) * fb : 1",
    output=OUTPUT_DELTA,
    pathways=[Pathway("fb", "transpose", "w * delta_post")],
    update=DELTA_RULE,
    reference="Rumelhart, Hinton, Williams 1986",
)

FA = Rule(
    name="fa",
    summary="feedback alignment: backprop's path with a fixed random B_{l+1} in place of "
            "W_{l+1}^T; keeps every mask above",
    hidden="delta = fprime(a) * fb : 1",
    output=OUTPUT_DELTA,
    pathways=[Pathway("fb", "transpose", "b * delta_post", synapses={"b": "randn / sqrt(fan_out)"})],
    update=DELTA_RULE,
    reference="Lillicrap, Cownden, Tweed, Akerman 2016",
)

SIGN_SYMMETRY = Rule(
    name="sign_symmetry",
    summary="sign symmetry: feedback sign(W_{l+1})^T times a fixed scale, recomputed as W changes",
    hidden="delta = fprime(a) * fb : 1",
    output=OUTPUT_DELTA,
    # scale sqrt(2/pi/fan_in) = E|w| at initialization, so the feedback starts at W's magnitude
    pathways=[Pathway("fb", "transpose", "sqrt(2 / (pi * fan_in)) * sign(w) * delta_post")],
    update=DELTA_RULE,
    reference="Liao, Leibo, Poggio 2016; Xiao et al. 2018",
)

DFA = Rule(
    name="dfa",
    summary="direct feedback alignment: delta_l = f'(a_l) * B_l e, one fixed random B_l per "
            "layer; only the layer's own mask",
    hidden="delta = fprime(a) * fb : 1",
    output=OUTPUT_DELTA,
    pathways=[Pathway("fb", "direct", "b * err_pre", synapses={"b": "randn / sqrt(fan_in)"})],
    update=DELTA_RULE,
    reference="Nokland 2016",
)

DRTP = Rule(
    name="drtp",
    summary="direct random target projection: delta_l = -f'(a_l) * B_l y*, the one-hot target "
            "as a proxy of the error's sign",
    hidden="delta = fprime(a) * fb : 1",
    output=OUTPUT_DELTA,
    # -y* stands for e = p - y*, whose sign is that of -y* on every output unit that matters
    # (Frenkel et al.); with B's symmetric distribution the sign only orients the measured
    # alignment with backprop, not what the rule can learn
    pathways=[Pathway("fb", "direct", "-b * target_pre", synapses={"b": "randn / sqrt(fan_in)"})],
    update=DELTA_RULE,
    reference="Frenkel, Lefebvre, Bol 2021",
)

BP_NOMASK = Rule(
    name="bp_nomask",
    summary="ablation: backprop's path with the masks of the layers above replaced by their "
            "batch average, so the error is no longer gated per input (own mask kept)",
    hidden="""
        delta = fprime(a) * fb : 1
        relay = batch_mean(fprime(a)) * fb : 1   # what the layer below receives
    """,
    output="""
        delta = err : 1
        relay = err : 1
    """,
    pathways=[Pathway("fb", "transpose", "w * relay_post")],
    update=DELTA_RULE,
    reference="arXiv 2605.18557 (masking)",
)

FEEDBACK_RULES = (BP, FA, SIGN_SYMMETRY, DFA, DRTP, BP_NOMASK)
