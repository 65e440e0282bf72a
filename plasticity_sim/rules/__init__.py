"""The rule library: every rule written once, as equations in Brian2 syntax."""

from .feedback import BP, BP_NOMASK, DFA, DRTP, FA, FEEDBACK_RULES, SIGN_SYMMETRY
from .hebbian import BCM, HEBBIAN_RULES, OJA
from .registry import RULES, get_rule, register
from .rule import Pathway, Rule
from .self_supervised import CLAPP, CLAPP_NCE, CLAPP_TOP, LPL, SELF_SUPERVISED_RULES, VICREG_LOCAL

__all__ = ["Rule", "Pathway", "RULES", "get_rule", "register", "FEEDBACK_RULES", "BP", "FA",
           "SIGN_SYMMETRY", "DFA", "DRTP", "BP_NOMASK", "SELF_SUPERVISED_RULES", "CLAPP", "CLAPP_NCE",
           "CLAPP_TOP", "LPL", "VICREG_LOCAL", "HEBBIAN_RULES", "OJA", "BCM"]
