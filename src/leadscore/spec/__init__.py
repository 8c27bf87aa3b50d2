"""What a model is (schema), and how it is read from YAML (load)."""

from leadscore.spec.load import load_model, parse_model
from leadscore.spec.schema import ScoringModel

__all__ = ["ScoringModel", "load_model", "parse_model"]
