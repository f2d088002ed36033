"""gRPC sweeps: a protobuf map has no order, so the ingress fixes the grid's key order (combination ids
follow it) -- the strategy's declared parameters, then the order options, then other keys by name."""
from __future__ import annotations

import itertools

import pytest

from deployments.grpc_api.ingress import grid_in_order, sweep_body
from deployments.protos import backtest_pb2 as bt
from deployments.protos import common_pb2 as cm

GRID = {"fast": [5, 10], "slow": [30, 60], "sl_stop": [0.03, 0.08], "tp_stop": [0.1, 0.3]}


def _request(keys) -> bt.SweepRequest:
    req = bt.SweepRequest(strategy="trend_following")
    for k in keys:  # the map filled in this order
        req.grid[k].values.extend(cm.Scalar(integer=v) if isinstance(v, int) else cm.Scalar(number=v)
                                  for v in GRID[k])
    return req


@pytest.mark.parametrize("keys", list(itertools.permutations(GRID)))
def test_every_insertion_order_gives_the_declared_order(keys):
    body = sweep_body(_request(keys))
    assert list(body["grid"]) == ["fast", "slow", "sl_stop", "tp_stop"]
    assert body["grid"] == GRID


def test_unknown_keys_and_strategies_come_last_by_name():
    req = _request(["tp_stop", "fast"])
    req.grid["zeta"].values.append(cm.Scalar(integer=1))
    req.grid["alpha"].values.append(cm.Scalar(integer=2))
    assert list(grid_in_order("trend_following", req.grid)) == ["fast", "tp_stop", "alpha", "zeta"]
    assert list(grid_in_order("no_such_strategy", req.grid)) == ["tp_stop", "alpha", "fast", "zeta"]
