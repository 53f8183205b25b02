import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import lcpfn
from lcpfn.errors import InvalidCurveError
from serve.batching import MicroBatcher


@pytest.fixture(scope="module")
def model():
    return lcpfn.load(threads=1)


def _curves(n):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        x = np.arange(1.0, 10.0 + 3 * i)
        out.append(dict(x=x, y=1.0 + 2.0 * x ** -rng.uniform(0.3, 0.9), x_query=[50.0, 100.0], direction="min"))
    return out


class _Recording:
    """A model whose batched calls are slow and counted, so that requests pile up behind the first."""

    def __init__(self, model):
        self.model, self.sizes, self.lock = model, [], threading.Lock()

    def predict_many(self, curves):
        with self.lock:
            self.sizes.append(len(curves))
        time.sleep(0.05)
        return self.model.predict_many(curves)

    def predict(self, **curve):
        return self.model.predict(**curve)


def test_concurrent_requests_share_batches_and_get_their_own_answers(model):
    recording = _Recording(model)
    batcher = MicroBatcher(recording, max_batch=8)
    curves = _curves(12)
    with ThreadPoolExecutor(12) as pool:
        preds = list(pool.map(batcher.predict, curves))
    batcher.close()
    assert sum(recording.sizes) == 12 and max(recording.sizes) > 1 and max(recording.sizes) <= 8
    for curve, pred in zip(curves, preds):
        alone = model.predict(**curve)
        np.testing.assert_allclose(pred.quantile([0.05, 0.5, 0.95]), alone.quantile([0.05, 0.5, 0.95]), rtol=1e-4, atol=1e-6)


def test_a_bad_curve_fails_alone_with_its_own_message(model):
    recording = _Recording(model)
    batcher = MicroBatcher(recording)
    good, bad = _curves(3), dict(x=[1.0, 3.0, 2.0], y=[1.0, 0.9, 0.8], x_query=[10.0])
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(batcher.predict, c) for c in [good[0], bad, good[1], good[2]]]
    batcher.close()
    with pytest.raises(InvalidCurveError, match=r"x must be strictly increasing, but x\[2\]=2"):
        futures[1].result()
    assert all(f.result().median.shape == (2,) for i, f in enumerate(futures) if i != 1)


def test_closed_batcher_refuses_work_and_bad_size_is_named(model):
    batcher = MicroBatcher(model)
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.predict(_curves(1)[0])
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(model, max_batch=0)


def test_submit_runs_the_follow_up_on_the_inference_thread_and_a_failing_one_fails_alone(model):
    batcher = MicroBatcher(_Recording(model))
    threads = []

    def median(pred):
        threads.append(threading.current_thread().name)
        return pred.median

    def broken(pred):
        raise ArithmeticError("follow-up failed")

    curves = _curves(3)
    futures = [batcher.submit(curves[0], then=median), batcher.submit(curves[1], then=broken), batcher.submit(curves[2])]
    results = [f.exception() or f.result() for f in futures]
    batcher.close()
    np.testing.assert_allclose(results[0], model.predict(**curves[0]).median, rtol=1e-4)
    assert isinstance(results[1], ArithmeticError)
    assert results[2].median.shape == (2,)
    assert threads == ["lcpfn-micro-batcher"]
