"""Drift monitoring: compare new ratings and served traffic with the training snapshot.

``features`` turns ratings batches and the inference log into monitored columns (and builds
the serving reference: what the model serves to training users), ``trigger`` holds the
like-with-like drift statistics and the champion's quality signal, ``drift`` runs the
Evidently reports (``evidently_drift``) and decides whether to retrain (with a cooldown,
and the retrain budget of ``budget``, kept by ``state``), ``incoming`` keeps the
reference (the processed ratings plus the batches completed retrains learnt from), and
``simulation`` replays a dataset in time order to measure what each retraining policy buys
(``simulation_report`` writes it up).
"""
