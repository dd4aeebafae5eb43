"""Plain nn.Modules and their registry.

Every model exposes `forward_features(x) -> dict[name, map]` (named intermediate maps, so
interpretability hooks tap layers without monkey-patching) and `forward_head(features) -> output`.
"""

from deepwild.models.registry import build_model, list_models

__all__ = ["build_model", "list_models"]
