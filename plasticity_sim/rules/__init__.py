"""The rule library: every rule written once, as equations in Brian2 syntax."""

from .feedback import BP, BP_NOMASK, DFA, DRTP, FA, FEEDBACK_RULES, SIGN_SYMMETRY
from .registry import RULES, get_rule, register
from .rule import Pathway, Rule

__all__ = ["Rule", "Pathway", "RULES", "get_rule", "register", "FEEDBACK_RULES", "BP", "FA",
           "SIGN_SYMMETRY", "DFA", "DRTP", "BP_NOMASK"]
