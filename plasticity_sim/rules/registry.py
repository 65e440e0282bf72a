"""The rule library, by name."""

from __future__ import annotations

from ..errors import ParameterError
from .feedback import FEEDBACK_RULES
from .hebbian import HEBBIAN_RULES
from .rule import Rule
from .self_supervised import SELF_SUPERVISED_RULES

RULES: dict[str, Rule] = {rule.name: rule for rule in
                          FEEDBACK_RULES + SELF_SUPERVISED_RULES + HEBBIAN_RULES}


def get_rule(name: str) -> Rule:
    if name not in RULES:
        raise ParameterError("rule", f"must be one of {', '.join(RULES)}; got {name!r}")
    return RULES[name]


def register(rule: Rule) -> Rule:
    """Add a rule to the library (a model file's rule, or a user's)."""
    RULES[rule.name] = rule
    return rule
