"""Layerwise self-supervised rules: every hidden layer learns from its own local signal.

Each is a three-factor rule, dW_ij = (modulator) x (post-synaptic / dendritic term) x
(pre-synaptic rate), and nothing crosses layers backwards. Every hidden population has the
context of its pair (``r_ctx``, ``a_ctx``: the other view, the previous presentation, or the
sibling position) and ``positive`` (1 for a positive pair, 0 for a negative). The readout
learns with the delta rule on the output error (the "local readout"); it reads the top layer
only and sends nothing back. Notation of docs/rules.md.
"""

from __future__ import annotations

from .rule import Pathway, Rule

LOCAL_READOUT = dict(output="delta = err : 1", readout_update="-delta_post * r_pre")

# The predictor W_pred (a lateral projection from the context to the layer), starting at 0,
# and its transpose for the retrodiction term.
PREDICTOR = [
    Pathway("pred", "lateral", "wp * r_ctx_pre", synapses={"wp": "0"},
            update="gamma_post * r_post * r_ctx_pre"),
    Pathway("retro", "lateral_T", "wp * r_post", via="pred"),
]
CONTRASTIVE_SIGNALS = """
    delta = gamma * pred * fprime(a) : 1             # dendritic prediction x own derivative
    delta_ctx = gamma * retro * fprime(a_ctx) : 1    # retrodiction: the context's side
"""
CONTRASTIVE_UPDATE = "delta_post * r_pre + retrodiction * delta_ctx_post * r_ctx_pre"


def predictive_rule(name: str, summary: str, score: str, reference: str) -> Rule:
    """A contrastive rule with CLAPP's predictor: ``score`` defines u and the third factor
    gamma; the dendritic signals, the retrodiction term and the local readout are shared."""
    return Rule(name=name, family="self_supervised", summary=summary,
                hidden=score + CONTRASTIVE_SIGNALS, pathways=PREDICTOR, update=CONTRASTIVE_UPDATE,
                params={"retrodiction": 1.0}, third_factor="gamma", reference=reference,
                **LOCAL_READOUT)


# The published hinge, averaged over positions, with the positive pair and the mean of the
# negatives weighted equally (the engine averages over all pairs of a minibatch: the factor
# 1 + negatives and the 1/negatives undo that).
CLAPP = predictive_rule(
    "clapp",
    summary="CLAPP as published: at every position p a score u_p = z_p^T W_pred c_p (W_pred a "
            "1x1 projection shared over positions); hinge max(0, 1 - u_p) on positives, "
            "max(0, 1 + u_p) on negatives, averaged over positions, the positive and the mean "
            "of the negatives weighted equally; third factor gamma_p = -dhinge/du_p in {+1, -1, "
            "0} per position; W_pred += gamma z c^T, W += gamma (W_pred c) f'(a) x (+ the "
            "retrodiction term, unless the context is fixed). Negatives: the context of "
            "another tree of the minibatch at the same position (the public code's "
            "sample_negs_locally_same_everywhere option; its default draws a random location)",
    score="""
        u = channel_sum(r * pred) : 1                                 # z_p . W_pred c_p
        gamma = (1 + negatives) * (positive * int(u < 1) - (1 - positive) * int(u > -1) / negatives) / positions : 1
    """,
    reference="Illing, Ventura, Bellec, Gerstner, NeurIPS 2021 (EPFL-LCN/pub-illing2021-neurips)",
)

CLAPP_LAYER = predictive_rule(
    "clapp_layer",
    summary="CLAPP with one score per layer: u = z^T W_pred c summed over every position, one "
            "gamma in {+1, -1, 0} for the whole layer; each pair (positive or negative) "
            "weighted alike. The library's CLAPP before the published per-position score",
    score="""
        u = layer_sum(r * pred) : 1                                   # z . W_pred c
        gamma = positive * int(u < 1) - (1 - positive) * int(u > -1) : 1
    """,
    reference="Illing, Ventura, Bellec, Gerstner, NeurIPS 2021",
)

CLAPP_NCE = predictive_rule(
    "clapp_nce",
    summary="graded contrastive rule: CLAPP's score with a logistic (noise-contrastive) loss, "
            "-log s(u) on positives and -log s(-u) on each of several negatives; third factor "
            "gamma = positive - s(u), graded instead of CLAPP's {+1, -1, 0}",
    score="""
        u = layer_sum(r * pred) : 1
        gamma = positive - 1 / (1 + exp(-u)) : 1
    """,
    reference="Gutmann and Hyvarinen 2010 (NCE); Oord et al. 2018 (InfoNCE); Illing et al. 2021",
)

CLAPP_TOP = Rule(
    name="clapp_top",
    family="self_supervised",
    summary="CLAPP++ 'direct feedback': every layer predicts the context's top-layer "
            "representation, u_l = z_l^T W_l c_top; the same hinge and third factor; the "
            "context is held fixed",
    hidden="""
        u = layer_sum(r * pred) : 1
        gamma = positive * int(u < 1) - (1 - positive) * int(u > -1) : 1
        delta = gamma * pred * fprime(a) : 1
    """,
    pathways=[Pathway("pred", "direct", "wp * r_ctx_pre", synapses={"wp": "0"}, source="top",
                      update="gamma_post * r_post * r_ctx_pre")],
    update="delta_post * r_pre",
    third_factor="gamma",
    reference="Wu, Bellec, Delrocq, Gerstner, ICML 2026 (arXiv 2601.21683)",
    **LOCAL_READOUT,
)

# Decorrelation through a lateral projection whose weights are the covariance of the centred
# features zc (off the diagonal), a local trace: with eps = 1 the covariance of the previous
# minibatch, with eps < 1 a running average (shared over positions in a CNN, whose average
# over positions makes it the covariance of channels).
def decorrelation(name: str, feature: str, synapse: str) -> Pathway:
    return Pathway(name, "lateral", f"{synapse} * od * {feature}_pre",
                   synapses={synapse: "0", "od": "1 - eye"},
                   update=f"eps * od * {feature}_post * {feature}_pre - eps * {synapse}",
                   rate="direct")


# The features a non-contrastive rule's statistics are taken on: pooled over positions (one
# value per channel and presentation: the public codes' default for deep networks) or per
# position and channel (pooled = 0).
FEATURES = """
    z = pooled * position_mean(r) + (1 - pooled) * r : 1
    z_ctx = pooled * position_mean(r_ctx) + (1 - pooled) * r_ctx : 1
    zm = z - batch_mean(z) : 1                        # centred on the minibatch, per unit
    zc = z - batch_mean(position_mean(z)) : 1         # centred per channel (covariance)
"""

LPL = Rule(
    name="lpl",
    family="self_supervised",
    summary="Latent Predictive Learning as published (public code, with its erratum): per layer "
            "L = pull MSE(z, sg z_ctx) + push (-mean_i log(Var_i + 1e-4)) + decorr "
            "sum_{i!=k} C_ik^2 / (M^2 - M) (weights 1, 1, 10) on the layer's features pooled "
            "over positions (pooled = 0: per position and channel, covariance over positions "
            "and presentations); explicit rule dW = [-2 pull (z - z_ctx)/M + 2 push (z - "
            "mean)/(M (Var + 1e-4)) - 4 decorr sum_k C_ik (z_k - mean_k)/(M^2 - M)] f'(a) x / "
            "positions. Deviations: minibatch statistics divide by B, not B - 1 (a factor 1.03 "
            "at B = 32); C is a trace of the previous minibatch's covariance (eps = 1), not the "
            "current one; the context is the target (stop-gradient), as in the paper, where the "
            "code symmetrises over both views; the predictive term is off across a saccade",
    hidden=FEATURES + """
        var = batch_mean(zm**2) : 1
        delta = (-2 * pull * positive * (z - z_ctx) / channels + 2 * push * zm / (channels * (var + eps_var)) - 4 * decorr_coeff * decorr / (channels**2 - channels)) * fprime(a) / positions : 1
    """,
    pathways=[decorrelation("decorr", "zc", "cov")],
    update="delta_post * r_pre",
    params={"pull": 1.0, "push": 1.0, "decorr_coeff": 10.0, "pooled": 1.0, "eps": 1.0,
            "eps_var": 1e-4},
    third_factor="positive",
    reference="Halvagal and Zenke, Nat. Neurosci. 2023 (fmi-basel/latent-predictive-learning, "
              "with its erratum)",
    **LOCAL_READOUT,
)

VICREG_LOCAL = Rule(
    name="vicreg_local",
    family="self_supervised",
    summary="VICReg as published, applied to each layer: L = 25 MSE(z, z') + 25 [v(Z) + v(Z')]/2 "
            "+ 1 [c(Z) + c(Z')], v = mean_j max(0, sd_target - sqrt(Var_j + 1e-4)), c = "
            "sum_{i!=j} C_ij^2 / M, on features pooled over positions (pooled = 0: per position "
            "and channel); both branches learn (the view's through its own forward pass). "
            "Deviations: minibatch statistics divide by B, not B - 1; each branch's C is a "
            "trace of its previous minibatch's covariance (eps = 1). sd_target: the rates are "
            "in arbitrary units, so the target sets their scale (docs/rules.md, 'Self-supervised and Hebbian rules')",
    hidden=FEATURES + """
        zm_ctx = z_ctx - batch_mean(z_ctx) : 1
        zc_ctx = z_ctx - batch_mean(position_mean(z_ctx)) : 1
        sd = sqrt(batch_mean(zm**2) + eps_sd) : 1
        sd_ctx = sqrt(batch_mean(zm_ctx**2) + eps_sd) : 1
        delta = (-2 * inv_coeff * positive * (z - z_ctx) / channels + var_coeff * int(sd < sd_target) * zm / (2 * channels * sd) - 4 * cov_coeff * decorr / channels) * fprime(a) / positions : 1
        delta_ctx = (-2 * inv_coeff * positive * (z_ctx - z) / channels + var_coeff * int(sd_ctx < sd_target) * zm_ctx / (2 * channels * sd_ctx) - 4 * cov_coeff * decorrc / channels) * fprime(a_ctx) / positions : 1
    """,
    pathways=[decorrelation("decorr", "zc", "cov"), decorrelation("decorrc", "zc_ctx", "covc")],
    update="delta_post * r_pre + both_branches * delta_ctx_post * r_ctx_pre",
    params={"inv_coeff": 25.0, "var_coeff": 25.0, "cov_coeff": 1.0, "sd_target": 1.0,
            "pooled": 1.0, "eps": 1.0, "eps_sd": 1e-4, "both_branches": 1.0},
    third_factor="positive",
    reference="Bardes, Ponce, LeCun, ICLR 2022; Siddiqui et al. 2023 (block-local)",
    **LOCAL_READOUT,
)

SELF_SUPERVISED_RULES = (CLAPP, CLAPP_LAYER, CLAPP_NCE, CLAPP_TOP, LPL, VICREG_LOCAL)
