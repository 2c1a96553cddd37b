"""Data validation with Great Expectations: suites generated from the data contract.

``suites`` builds the expectation suites from ``recsys.data.schema`` and the registry (and
writes them to ``expectations/``); ``validate.validate_tables`` runs them on ratings, items
and users tables and builds the Data Docs. Great Expectations is imported only inside the
functions that need it.
"""

from __future__ import annotations

from recsys.validation.validate import (
    UnreadableTableError,
    ValidationError,
    ValidationResult,
    validate_tables,
)

__all__ = ["UnreadableTableError", "ValidationError", "ValidationResult", "validate_tables"]
