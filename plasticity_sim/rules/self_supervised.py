"""Layerwise self-supervised rules: every hidden layer learns from its own local signal.

Each is a three-factor rule, dW_ij = (modulator) x (post-synaptic / dendritic term) x
(pre-synaptic rate), and nothing crosses layers backwards. Every hidden population has the
context of its pair (``r_ctx``, ``a_ctx``: the other view, the previous presentation, or the
sibling position) and ``positive`` (1 for a positive pair, 0 for a negative). The readout
learns with the delta rule on the output error (the "local readout"); it reads the top layer
only and sends nothing back. Notation of ../shared/REFERENCES.md.
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

CLAPP = Rule(
    name="clapp",
    family="self_supervised",
    summary="CLAPP: score u = z^T W_pred c; hinge max(0, 1 - u) on positives, max(0, 1 + u) on "
            "negatives; third factor gamma = -dhinge/du in {+1, -1, 0}; W_pred += gamma z c^T, "
            "W += gamma (W_pred c) f'(a) x (+ the retrodiction term, unless the context is fixed)",
    hidden="""
        u = layer_sum(r * pred) : 1                                   # z . W_pred c
        gamma = positive * int(u < 1) - (1 - positive) * int(u > -1) : 1
    """ + CONTRASTIVE_SIGNALS,
    pathways=PREDICTOR,
    update=CONTRASTIVE_UPDATE,
    params={"retrodiction": 1.0},
    third_factor="gamma",
    reference="Illing, Ventura, Bellec, Gerstner, NeurIPS 2021",
    **LOCAL_READOUT,
)

CLAPP_NCE = Rule(
    name="clapp_nce",
    family="self_supervised",
    summary="graded contrastive rule: CLAPP's score with a logistic (noise-contrastive) loss, "
            "-log s(u) on positives and -log s(-u) on each of several negatives; third factor "
            "gamma = positive - s(u), graded instead of CLAPP's {+1, -1, 0}",
    hidden="""
        u = layer_sum(r * pred) : 1
        gamma = positive - 1 / (1 + exp(-u)) : 1
    """ + CONTRASTIVE_SIGNALS,
    pathways=PREDICTOR,
    update=CONTRASTIVE_UPDATE,
    params={"retrodiction": 1.0},
    third_factor="gamma",
    reference="Gutmann and Hyvarinen 2010 (NCE); Oord et al. 2018 (InfoNCE); Illing et al. 2021",
    **LOCAL_READOUT,
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

# Decorrelation through a lateral projection whose weights are a running covariance of the
# centred rates (off the diagonal), kept as a local trace.
DECORRELATION = Pathway("decorr", "lateral", "cov * od * zc_pre",
                        synapses={"cov": "0", "od": "1 - eye"},
                        update="eps * od * zc_post * zc_pre - eps * cov", rate="direct")

LPL = Rule(
    name="lpl",
    family="self_supervised",
    summary="Latent Predictive Learning: dW ~ [-(z - z_prev) + l1 (z - mean)/var - "
            "l2 sum_k C_ik (z_k - mean_k)] f'(a) x, with running mean, variance and covariance "
            "as local traces; no negatives (the predictive term is off across a saccade)",
    hidden="""
        zc = r - mu : 1
        delta = (-positive * (r - r_ctx) + lam1 * zc / (var + eps_var) - lam2 * decorr) * fprime(a) : 1
    """,
    pathways=[DECORRELATION],
    update="delta_post * r_pre",
    state="""
        mu = mu + eps * (batch_mean(r) - mu) : 1
        var = var + eps * (batch_mean((r - mu)**2) - var) : 1
    """,
    state_init={"mu": 0.0, "var": 1.0},
    params={"lam1": 1.0, "lam2": 1.0, "eps": 0.01, "eps_var": 0.001},
    third_factor="positive",
    reference="Halvagal and Zenke, Nat. Neurosci. 2023",
    **LOCAL_READOUT,
)

VICREG_LOCAL = Rule(
    name="vicreg_local",
    family="self_supervised",
    summary="layer-local VICReg: invariance between the two views (off across a saccade), a "
            "hinge keeping each unit's batch standard deviation above 1, and decorrelation "
            "(running covariance)",
    hidden="""
        m = batch_mean(r) : 1
        zc = r - m : 1
        sd = sqrt(batch_mean(zc**2) + eps_sd) : 1
        delta = (-2 * lam_inv * positive * (r - r_ctx) + lam_var * int(sd < 1) * zc / sd - lam_cov * decorr) * fprime(a) : 1
    """,
    pathways=[DECORRELATION],
    update="delta_post * r_pre",
    params={"lam_inv": 1.0, "lam_var": 1.0, "lam_cov": 1.0, "eps": 0.01, "eps_sd": 0.0001},
    third_factor="positive",
    reference="Bardes, Ponce, LeCun 2022; Siddiqui et al. 2023 (block-local)",
    **LOCAL_READOUT,
)

SELF_SUPERVISED_RULES = (CLAPP, CLAPP_NCE, CLAPP_TOP, LPL, VICREG_LOCAL)
