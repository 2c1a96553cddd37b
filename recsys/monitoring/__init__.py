"""Drift monitoring: compare new ratings and served traffic with the training snapshot.

``features`` turns ratings batches and the inference log into monitored columns (and builds
the serving reference: what the model serves to training users), ``drift`` runs the
Evidently reports and decides whether to retrain (with a cooldown), ``incoming`` keeps the
new ratings that completed retrains learnt from, and ``simulation`` replays MovieLens in
time order to measure what retraining on drift buys.
"""
