"""Data-parallel gradients on a dask.distributed cluster.

A batch is split along its first axis into one shard per worker; every
worker relaxes its shard's gradient with ``pcgrad.value_and_grad`` and the
shards' values and gradients are combined, weighted by shard size. For a
loss that is a mean over the batch rows (``reduction="mean"``) or a sum over
them (``reduction="sum"``) the result is the full batch's value and
gradient, up to rounding. Needs the ``distributed`` extra
(``pip install "pcgrad[distributed]"``).

    from pcgrad import distributed
    with distributed.cluster(workers=2) as client:          # a LocalCluster of 2 processes
        loss_and_grad = distributed.value_and_grad(loss, client)
        value, grads = loss_and_grad(params, x_batch, y_batch)

``cluster(scheduler="tcp://host:8786")`` connects to a running cluster
instead. The function (and what it closes over) is sent to the workers with
cloudpickle, so define it at module level or in the script that runs.
"""
import contextlib
from typing import Any, Callable, Iterator

import numpy

from . import api
from .options import options_from
from .pytree import flatten

REDUCTIONS = ("mean", "sum")


def _client_class() -> Any:
    try:
        from dask.distributed import Client
    except ImportError as error:
        raise ImportError("pcgrad.distributed needs dask.distributed: pip install "
                          '"pcgrad[distributed]" (or "dask[distributed]").') from error
    return Client


@contextlib.contextmanager
def cluster(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A dask ``Client``: of a new LocalCluster of ``workers`` processes (one
    thread each, on 127.0.0.1, no dashboard), or connected to the running
    scheduler at address ``scheduler``. The cluster it started, if any, is
    closed on exit.
    """
    Client = _client_class()
    if (workers is None) == (scheduler is None):
        raise ValueError("cluster takes either workers=N (start a local cluster) or "
                         "scheduler=ADDRESS (connect to a running one), not both or neither.")
    if scheduler is not None:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    from dask.distributed import LocalCluster
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer; got {workers!r}.")
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as local, Client(local) as client:
        client.wait_for_workers(workers)  # on a loaded machine they may still be joining
        yield client


WORKER_WAIT = 60.0  # seconds a cluster without workers is given to get one


def _workers(client: Any) -> list[str]:
    """The addresses of the cluster's workers, waiting up to WORKER_WAIT
    seconds for a first one to join."""
    workers = sorted(client.scheduler_info()["workers"])
    if not workers:
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT)
        except TimeoutError:
            raise RuntimeError(f"The dask cluster has no workers: none joined within "
                               f"{WORKER_WAIT:g} s. Start some (e.g. `dask worker "
                               f"{client.scheduler.address}`) or use "
                               "distributed.cluster(workers=N).") from None
        workers = sorted(client.scheduler_info()["workers"])
    return workers


def _shard_value_and_grad(f: Callable[..., Any], argnums: Any, options: dict[str, Any],
                          args: tuple[Any, ...]) -> Any:
    """One worker's share: the value and gradient of f on its shard."""
    return api.value_and_grad(f, argnums, **options)(*args)


def value_and_grad(f: Callable[..., Any], client: Any, argnums: int = 0, data: int = 1,
                   reduction: str = "mean", **options: Any) -> Callable[..., Any]:
    """Like ``pcgrad.value_and_grad(f, argnums, **options)``, computed in shards
    on the workers of ``client``.

    The positional arguments from index ``data`` on are the batch: each is
    split along its first axis into one shard per worker (numpy.array_split);
    the arguments before it (the parameters) go to every worker. ``f`` must be
    a mean over the batch rows (``reduction="mean"``: shard results weighted
    by shard size) or a sum (``reduction="sum"``). ``options`` are the
    relaxation options of ``pcgrad.grad`` (schedule, eta, ...).

    >>> import numpy, pcgrad.numpy as np
    >>> from pcgrad import distributed
    >>> loss = lambda w, x: np.mean((x @ w) ** 2)
    >>> with distributed.cluster(workers=2) as client:                # doctest: +SKIP
    ...     value, g = distributed.value_and_grad(loss, client)(numpy.ones(2), numpy.eye(2))
    >>> g                                                             # doctest: +SKIP
    array([1., 1.])
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'mean' or 'sum' (how f combines the batch rows); "
                         f"got {reduction!r}.")
    options_from(options)  # unknown or invalid options fail here, not on the workers
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if any(n >= data for n in nums):
        raise ValueError(f"argnums {argnums!r} must point at the parameters, the arguments "
                         f"before data={data}; the batch arguments are split, not "
                         "differentiated.")

    def sharded(*args: Any) -> tuple[Any, Any]:
        workers = _workers(client)
        shared, batch = args[:data], [numpy.asarray(b) for b in args[data:]]
        if not batch:
            raise ValueError(f"No batch to split: f was called with {len(args)} positional "
                             f"arguments and data={data}.")
        rows = len(batch[0])
        shards = [numpy.array_split(b, min(len(workers), rows)) for b in batch]
        futures = [client.submit(_shard_value_and_grad, f, argnums, options,
                                 shared + tuple(parts), workers=[worker], pure=False)
                   for worker, parts in zip(workers, zip(*shards))]
        weights = [len(parts[0]) / rows if reduction == "mean" else 1.0
                   for parts in zip(*shards)]
        results = client.gather(futures)
        value = sum(w * numpy.asarray(v) for w, (v, _) in zip(weights, results))
        leaves, unflatten = flatten(results[0][1])
        total = [sum(w * numpy.asarray(flatten(g)[0][k]) for w, (_, g) in zip(weights, results))
                 for k in range(len(leaves))]
        return value, unflatten(total)

    return sharded
