"""What the Dask runner refuses to send to a worker (``flows.dask_cluster.shipped_data``),
and the address check that fails before any connection attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from pydantic import BaseModel

from flows.dask_cluster import ClusterError, check_cluster, shipped_data
from flows.stages.train import SplitPaths

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Holder:
    name: str
    table: Any


class Config(BaseModel):
    weights: Any = None


def test_paths_and_settings_pass() -> None:
    parameters = {"variant": "ease", "params": {"regularization": 200.0, "ks": [5, 10]},
                  "split": SplitPaths("/data/train.parquet", "/data/test.parquet"),
                  "k": 10, "small": np.zeros(8)}
    assert shipped_data(parameters) == []


@pytest.mark.parametrize(("value", "where", "what"), [
    ({"train": pd.DataFrame({"a": [1, 2]})}, "['train']", "a pandas DataFrame (2 x 1)"),
    ({"x": [Holder("h", pd.Series([1.0]))]}, "['x'][0].table", "a pandas Series (1)"),
    ({"cfg": Config(weights=np.zeros((512, 512)))}, "['cfg'].weights", "a numpy array"),
    ({"m": sp.random(2000, 2000, density=0.1, format="csr")}, "['m']", "a sparse matrix"),
])
def test_tables_and_arrays_are_found_where_they_are(value: Any, where: str, what: str) -> None:
    found = shipped_data(value)
    assert len(found) == 1 and found[0].startswith(f"{where}: {what}"), found


@pytest.mark.parametrize("address", ["scheduler", "tcp://", "tcp://:8786", "tcp://host"])
def test_a_malformed_address_is_refused_without_connecting(address: str) -> None:
    with pytest.raises(ClusterError, match="is not a scheduler address"):
        check_cluster(address, [])
