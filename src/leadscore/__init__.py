"""leadscore: declarative lead scoring with reasons, in batch and online."""

from leadscore.model import ScoringModel, load_model, parse_model

__version__ = "0.1.0"
__all__ = ["ScoringModel", "__version__", "load_model", "parse_model"]
