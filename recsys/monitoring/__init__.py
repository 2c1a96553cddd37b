"""Drift monitoring: compare new ratings and served traffic with the training snapshot.

``features`` turns ratings batches and the inference log into monitored columns, ``drift``
runs the Evidently reports and decides whether to retrain (with a cooldown), and
``simulation`` replays MovieLens in time order to measure what retraining on drift buys.
"""
