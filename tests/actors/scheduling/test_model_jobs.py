"""Training as coordinator jobs (stored in the model registry) and live predictions."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from actors.models.registry import ModelNotFound, ModelRegistry
from kernels.ml import prediction_rows
from tests.actors.scheduling.test_coordinator import PANEL, _run_to_end, make

FEATURES = [{"name": "rsi", "params": {"timeperiod": 14}}, {"name": "roc", "params": {"timeperiod": 5}},
            {"name": "zscore", "params": {"timeperiod": 20}}]
TRAIN = {"dataset": "synthetic", "name": "ridge5", "model": "Ridge", "params": {"alpha": 1.0},
         "features": FEATURES, "horizon": 5, "task": "regression", "test_fraction": 0.25}


def test_three_concurrent_trainings_are_stored_and_predict_live(tmp_path):
    async def go():
        c = make(tmp_path, gpu_workers=2, cpu_workers=1)
        await c.start()
        jobs = [
            await c.submit("train", TRAIN, "NORMAL", "default"),
            await c.submit("train", {**TRAIN, "name": "logit5", "model": "LogisticRegression",
                                     "task": "classification", "params": {}}, "NORMAL", "default"),
            await c.submit("train", {**TRAIN, "name": "forest5", "model": "RandomForestRegressor",
                                     "params": {"n_estimators": 10, "max_depth": 4}}, "NORMAL", "default"),
        ]
        for job_id in jobs:
            status = await _run_to_end(c, job_id)
            assert status["state"] == "succeeded", status
        record = (await c.result(jobs[0])).record
        assert record["name"] == "ridge5" and record["version"] == 1 and record["backend"] == "cpu"
        assert np.isfinite(record["metrics"]["mse"]) and record["metrics"]["n"] > 0
        assert (await c.result(jobs[1])).record["metrics"]["accuracy"] is not None
        assert sorted(m["name"] for m in await c.list_models()) == ["forest5", "logit5", "ridge5"]

        # the registry on disk survives a restart of everything
        model, rec = ModelRegistry(tmp_path).load("ridge5")
        rows = prediction_rows(PANEL, FEATURES)
        live = await c.run_live("predict", {"dataset": "synthetic", "name": "ridge5"})
        np.testing.assert_allclose(live.result["predictions"], model.predict(rows.X), rtol=1e-12)
        assert live.result["symbols"] == [PANEL.symbols[i] for i in rows.asset] and live.result["version"] == 1
        by_rows = await c.run_live("predict", {"dataset": "synthetic", "name": "ridge5", "rows": rows.X[:3].tolist()})
        np.testing.assert_allclose(by_rows.result["predictions"], model.predict(rows.X[:3]), rtol=1e-12)

        # the forest predicts on the worker through the packed kernel: scikit-learn's numbers exactly
        forest, _ = ModelRegistry(tmp_path).load("forest5")
        assert forest.compiled
        live = await c.run_live("predict", {"dataset": "synthetic", "name": "forest5"})
        np.testing.assert_array_equal(live.result["predictions"], forest.estimator.predict(rows.X))

        # a second training of the same name is version 2
        again = await c.submit("train", {**TRAIN, "params": {"alpha": 2.0}}, "NORMAL", "default")
        assert (await _run_to_end(c, again))["state"] == "succeeded"
        assert (await c.get_model("ridge5"))["version"] == 2
        await c.shutdown()

    asyncio.run(go())


def test_bad_training_and_prediction_requests(tmp_path):
    async def go():
        c = make(tmp_path, gpu_workers=1, cpu_workers=0)
        await c.start()
        with pytest.raises(ValueError, match="unknown model|NotAModel"):
            await c.submit("train", {**TRAIN, "model": "NotAModel"}, "NORMAL", "default")
        with pytest.raises(ValueError):
            await c.submit("train", {**TRAIN, "params": {"alpha": -1}}, "NORMAL", "default")
        with pytest.raises(ValueError):
            await c.submit("train", {**TRAIN, "name": "../etc"}, "NORMAL", "default")
        with pytest.raises(ValueError):
            await c.submit("train", {**TRAIN, "features": []}, "NORMAL", "default")
        with pytest.raises(ModelNotFound):
            await c.run_live("predict", {"dataset": "synthetic", "name": "nothing"})
        job = await c.submit("train", TRAIN, "NORMAL", "default")
        assert (await _run_to_end(c, job))["state"] == "succeeded"
        with pytest.raises(ValueError):  # wrong feature count
            await c.run_live("predict", {"dataset": "synthetic", "name": "ridge5", "rows": [[1.0, 2.0]]})
        with pytest.raises(ValueError):  # NaN row
            await c.run_live("predict", {"dataset": "synthetic", "name": "ridge5", "rows": [[1.0, float("nan"), 0.0]]})
        await c.shutdown()

    asyncio.run(go())
