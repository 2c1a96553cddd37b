"""Shilling (profile-injection) attacks: generate them, describe profiles, detect and filter fakes.

* ``attacks``: push, nuke and obfuscated attack generators with ground truth;
* ``features``: the classic profile attributes (RDMA, WDMA, WDA, LengthVar, DegSim, MeanVar,
  FMV, FMD, FMTD, TMF) plus rating entropy and filler popularity;
* ``detectors``: PCA-VarSelect, a supervised classifier trained on generated attacks, a
  target-item analysis, and their ensemble (the default);
* ``filter``: the pipeline step that moves flagged users' ratings to a quarantine table.

Submodules are imported on use; importing this package is cheap.
"""

from __future__ import annotations
