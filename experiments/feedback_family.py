"""Accuracy vs training-set size for the feedback family on the reference RHM (issue 3).

v = n_classes = m = 4, s = 2, L = 3 (n_classes * m^L = 256), CNN width 128, P from 64 to
4096, 3 seeds (each seed draws its own training and test sets, stream and weights), every
rule at its default hyperparameters (plasticity_sim.model.RULE_DEFAULTS), plus DRTP with
ReLU units (its default is tanh). At P = 1024 the runs also measure the cosine between each
rule's delta_l and backprop's for the same input.

    python experiments/feedback_family.py [--out experiments/results] [--seeds 0-2]
    python experiments/feedback_family.py --report   # table and figure from the saved file

Writes feedback_family.nc (dims rule, P, seed), feedback_family.png/.pdf, and prints the
P* table (markdown).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from plasticity_sim.cli import parse_seeds
from plasticity_sim.curves import accuracy_curves, p_star_table, plot_curves
from plasticity_sim.io import open_dataset, write_dataset
from plasticity_sim.model import Model
from plasticity_sim.rhm import Grammar

GRAMMAR = dict(v=4, n_classes=4, m=4, s=2, L=3, seed=0)
P_GRID = [64, 128, 256, 512, 1024, 2048, 4096]
MODELS = {
    "bp": Model.for_rule("bp", width=128),
    "fa": Model.for_rule("fa", width=128),
    "sign_symmetry": Model.for_rule("sign_symmetry", width=128),
    "bp_nomask": Model.for_rule("bp_nomask", width=128),
    "dfa": Model.for_rule("dfa", width=128),
    "drtp": Model.for_rule("drtp", width=128),
    "drtp_relu": Model.for_rule("drtp", width=128, activation="relu"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--seeds", default="0-2")
    parser.add_argument("--report", action="store_true", help="only redo table and figure")
    args = parser.parse_args()
    path = args.out / "feedback_family.nc"
    if args.report:
        result = open_dataset(path)
    else:
        result = accuracy_curves(MODELS, Grammar(**GRAMMAR), P_GRID, parse_seeds(args.seeds),
                                 alignment_at=1024)
        write_dataset(result, path)
    plot_curves(result, args.out / "feedback_family",
                title="feedback family; RHM v=n_c=m=4, s=2, L=3; CNN width 128")
    print(p_star_table(result))
    print(f"\n{path}: {result.attrs.get('wall_time_s')} s")


if __name__ == "__main__":
    main()
