"""pcgrad.distributed: gradients computed in shards on a dask cluster equal the
single-process ones, and so does a short training run."""
import numpy
import pytest

pytest.importorskip("dask.distributed", reason="the distributed extra (dask[distributed]) "
                    "is not installed")

import pcgrad  # noqa: E402
from pcgrad import distributed, optim  # noqa: E402

RNG = numpy.random.default_rng(11)
PARAMS = {"W1": RNG.standard_normal((6, 8)), "b1": numpy.zeros(8), "W2": RNG.standard_normal((8, 3))}
X, LABELS = RNG.standard_normal((37, 6)), RNG.integers(0, 3, 37)


def make_loss():
    """The loss, defined in a closure so that cloudpickle sends it to the
    workers by value (this test module is not importable there)."""
    import pcgrad.numpy as np
    from pcgrad import nn

    def loss(params, x, labels):
        h = np.tanh(x @ params["W1"] + params["b1"])
        return nn.softmax_cross_entropy(h @ params["W2"], labels)

    return loss


@pytest.fixture(scope="module")
def client():
    with distributed.cluster(workers=2) as client:
        yield client


def assert_trees_close(a, b, rtol):
    for x, y in zip(pcgrad.pytree.flatten(a)[0], pcgrad.pytree.flatten(b)[0]):
        numpy.testing.assert_allclose(x, y, rtol=rtol, atol=1e-14)


@pytest.mark.parametrize("schedule", ["sweep", "jacobi"])
def test_distributed_gradient_equals_the_single_process_gradient(client, schedule):
    loss = make_loss()
    value, grads = distributed.value_and_grad(loss, client, schedule=schedule)(PARAMS, X, LABELS)
    expected_value, expected = pcgrad.value_and_grad(loss, schedule=schedule)(PARAMS, X, LABELS)
    assert abs(value - expected_value) <= 1e-12 * abs(expected_value)
    assert_trees_close(grads, expected, rtol=1e-12)


def test_a_sum_loss_is_summed_over_shards(client):
    import pcgrad.numpy as np
    loss = lambda w, x: np.sum(np.tanh(x @ w) ** 2)  # noqa: E731
    w = RNG.standard_normal((6, 2))
    _, g = distributed.value_and_grad(loss, client, reduction="sum")(w, X)
    numpy.testing.assert_allclose(g, pcgrad.grad(loss)(w, X), rtol=1e-12)


def test_a_distributed_training_run_gives_the_single_process_parameters(client):
    loss = make_loss()
    sharded = distributed.value_and_grad(loss, client)
    single = pcgrad.value_and_grad(loss)
    opt = optim.momentum(0.1, mu=0.9)
    runs = []
    for value_and_grad in (sharded, single):
        params, state = PARAMS, opt.init(PARAMS)
        for step in range(5):
            rows = slice(8 * step, 8 * step + 16)
            _, grads = value_and_grad(params, X[rows], LABELS[rows])
            params, state = opt.step(params, grads, state)
        runs.append(params)
    assert_trees_close(runs[0], runs[1], rtol=1e-10)


def test_cluster_needs_workers_or_a_scheduler_address():
    with pytest.raises(ValueError, match="either workers=N .* or scheduler=ADDRESS"):
        with distributed.cluster():
            pass


def test_cluster_rejects_a_worker_count_that_is_not_positive():
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        with distributed.cluster(workers=0):
            pass


def test_value_and_grad_rejects_an_unknown_reduction():
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        distributed.value_and_grad(make_loss(), None, reduction="max")


def test_value_and_grad_rejects_differentiating_the_batch():
    with pytest.raises(ValueError, match="must point at the parameters"):
        distributed.value_and_grad(make_loss(), None, argnums=1)


def test_value_and_grad_rejects_unknown_options_before_reaching_the_workers():
    with pytest.raises(TypeError, match="Unknown option 'step'"):
        distributed.value_and_grad(make_loss(), None, step=0.1)


def test_a_cluster_without_workers_is_reported_after_waiting(monkeypatch):
    from dask.distributed import Client, LocalCluster
    monkeypatch.setattr(distributed, "WORKER_WAIT", 0.5)
    loss = make_loss()
    with LocalCluster(n_workers=0, processes=True, host="127.0.0.1",
                      dashboard_address=None) as empty, Client(empty) as client:
        with pytest.raises(RuntimeError, match="The dask cluster has no workers"):
            distributed.value_and_grad(loss, client)(PARAMS, X, LABELS)
