"""The rule library, by name."""

from __future__ import annotations

from ..errors import ParameterError
from .feedback import FEEDBACK_RULES
from .hebbian import HEBBIAN_RULES
from .rule import Rule
from .self_supervised import SELF_SUPERVISED_RULES

RULES: dict[str, Rule] = {rule.name: rule for rule in
                          FEEDBACK_RULES + SELF_SUPERVISED_RULES + HEBBIAN_RULES}


#: the rules this package defines, as defined (``register`` cannot replace them here)
LIBRARY: dict[str, Rule] = dict(RULES)


def is_library_rule(rule: Rule) -> bool:
    """Whether ``rule`` is one of the library's rules (its parameters may differ): only then
    do the library's defaults for that name (learning rates, model settings) apply. A
    user's rule that shares a library rule's name but not its equations is not one."""
    own = LIBRARY.get(rule.name)
    if own is None:
        return False
    return Rule(**{**rule.to_kwargs(), "params": dict(own.params), "summary": own.summary,
                   "reference": own.reference}) == own


def get_rule(name: str) -> Rule:
    """The library rule (or a registered user rule) called ``name``."""
    if name not in RULES:
        raise ParameterError("rule", f"must be one of {', '.join(RULES)}; got {name!r}")
    return RULES[name]


def register(rule: Rule) -> Rule:
    """Add a rule to the library (a model file's rule, or a user's)."""
    RULES[rule.name] = rule
    return rule
