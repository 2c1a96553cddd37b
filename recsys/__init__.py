"""movierec's recommender library.

``recsys`` is a typed library: data contract, fetching and preparation, validation,
recommenders behind one protocol, evaluation, shilling defence, availability lookup and
monitoring. It imports no orchestration framework (Prefect, BentoML, DVC); flows, the
service and the CLI are thin layers over it. Heavy frameworks (TensorFlow, MLflow,
Great Expectations, Evidently) are imported lazily inside the functions that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"
