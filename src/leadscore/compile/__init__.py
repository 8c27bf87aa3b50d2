"""Model -> executable form. No I/O here: engines bind the tables and run the result."""

from leadscore.compile.ibis_compiler import (
    EVENT_COLUMNS,
    ScoreQuery,
    account_scores,
    compile_model,
)

__all__ = ["EVENT_COLUMNS", "ScoreQuery", "account_scores", "compile_model"]
