"""Experiment tracking and the model registry (MLflow).

* ``recsys.tracking.mlflow_runs``: where runs go (tracking URI, experiment per dataset), the
  data hash and git commit of a run, plots, and logging a parent run with one nested run
  per variant;
* ``recsys.tracking.pyfunc``: ``RecommenderPyfunc``, the one MLflow pyfunc wrapper of every
  variant (input: user ids and ``k``; output: ranked item ids and scores);
* ``recsys.tracking.registry``: the registered model of each dataset
  (``movie-recommender-<dataset>``), its ``challenger`` / ``champion`` aliases, promotion,
  ``load_champion`` and ``load_version``;
* ``recsys.tracking.manual``: promotion and rollback by hand (``force``, who and why);
* ``recsys.tracking.artifacts``: sha256 manifests of registered files and the verified,
  pickle-free loader ``load_registered`` (what serving uses).

MLflow is imported inside the functions (and at module level only in ``pyfunc``, whose
class must subclass ``mlflow.pyfunc.PythonModel``), so importing this package is cheap.
"""
