"""The model file: what a model is (schema, conditions), how it is read from YAML (load), and
what a valid model may not mean (advice)."""

from leadscore.model.load import load_model, parse_model
from leadscore.model.schema import ScoringModel

__all__ = ["ScoringModel", "load_model", "parse_model"]
