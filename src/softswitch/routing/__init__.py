"""Routing (layer L2, pure): number rewrite rules now; prefix trees, ASR/ACD windows and gateway
selection come with the call path."""

from softswitch.routing.numbers import (
    RewriteError,
    RewriteRule,
    apply_rules,
    parse_rule,
    parse_rules,
)

__all__ = ["RewriteError", "RewriteRule", "apply_rules", "parse_rule", "parse_rules"]
