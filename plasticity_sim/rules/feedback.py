"""The feedback family: rules that send the output error back to the hidden layers.

Every rule updates each forward projection by dw = -delta_post * r_pre (third factor x
post-synaptic term x pre-synaptic rate, the third factor being folded into delta); they
differ only in the pathway by which a signal reaches a hidden layer. Notation of
docs/rules.md.
"""

from __future__ import annotations

from .rule import Pathway, Rule

DELTA_RULE = "-delta_post * r_pre"
OWN_MASK = "delta = fprime(a) * fb : 1"
OUTPUT_DELTA = "delta = err : 1"
FIXED_RANDOM = "randn / sqrt(fan_in)"


def _feedback_rule(name: str, summary: str, pathway: Pathway, reference: str) -> Rule:
    """delta_l = f'(a_l) * fb_l, with fb_l delivered by ``pathway``."""
    return Rule(name=name, summary=summary, hidden=OWN_MASK, output=OUTPUT_DELTA,
                pathways=[pathway], update=DELTA_RULE, reference=reference)


BP = _feedback_rule(
    "bp", "backpropagation: delta_l = f'(a_l) * W_{l+1}^T delta_{l+1}, through the transposed "
    "forward weights; every mask above gates the error",
    Pathway("fb", "transpose", "w * delta_post"), "Rumelhart, Hinton, Williams 1986")

FA = _feedback_rule(
    "fa", "feedback alignment: backprop's path with a fixed random B_{l+1} in place of "
    "W_{l+1}^T; keeps every mask above. B is drawn like the forward weights it stands for, "
    "N(0, 1/fan_in) of W_{l+1} (Lillicrap et al. draw W and B from one distribution; so do "
    "the public implementations of Xiao et al. 2018 and Sanfiz and Akrout 2021)",
    Pathway("fb", "transpose", "b * delta_post", synapses={"b": "randn / sqrt(fan_in)"}),
    "Lillicrap, Cownden, Tweed, Akerman 2016")

SIGN_SYMMETRY = _feedback_rule(
    "sign_symmetry", "sign symmetry: feedback sign(W_{l+1})^T / sqrt(fan_in), recomputed as W "
    "changes: the signs of the forward weights at the root-mean-square magnitude of their "
    "initialization (the scale of Xiao et al. 2018's public code, 1/sqrt(fan_in))",
    Pathway("fb", "transpose", "sign(w) * delta_post / sqrt(fan_in)"),
    "Liao, Leibo, Poggio 2016; Xiao et al. 2018")

DFA = _feedback_rule(
    "dfa", "direct feedback alignment: delta_l = f'(a_l) * B_l e, one fixed random B_l per "
    "layer; only the layer's own mask. B_l is N(0, 1/n_classes): fan_in of the projection "
    "from the output units",
    Pathway("fb", "direct", "b * err_pre", synapses={"b": FIXED_RANDOM}), "Nokland 2016")

DRTP = _feedback_rule(
    "drtp", "direct random target projection: delta_l = -f'(a_l) * B_l y*, the one-hot target "
    "as a proxy of the error's sign",
    # -y* stands for e = p - y*, whose sign is that of -y* on the units that matter (Frenkel
    # et al.); B's distribution is symmetric, so the sign orients the measured alignment with
    # backprop, not what the rule can learn
    Pathway("fb", "direct", "-b * target_pre", synapses={"b": FIXED_RANDOM}),
    "Frenkel, Lefebvre, Bol 2021")

BP_NOMASK = Rule(
    name="bp_nomask",
    summary="ablation: backprop's path with the masks of the layers above replaced by their "
            "batch average, so the error is no longer gated per input (own mask kept)",
    hidden=OWN_MASK + """
        relay = batch_mean(fprime(a)) * fb : 1   # what the layer below receives
    """,
    output=OUTPUT_DELTA + """
        relay = err : 1
    """,
    pathways=[Pathway("fb", "transpose", "w * relay_post")],
    update=DELTA_RULE,
    reference="arXiv 2605.18557 (masking)",
)

FEEDBACK_RULES = (BP, FA, SIGN_SYMMETRY, DFA, DRTP, BP_NOMASK)
