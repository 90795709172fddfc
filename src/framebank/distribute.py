"""Data-parallel training: one small API over each backend's own engine.

framebank does not distribute anything itself. Each name picks an existing
engine:

============================  ===========  ==============================================
name                          backend      engine
============================  ===========  ==============================================
``None`` / ``"none"``         any          one device, no distribution
``"mirrored"``                tensorflow   ``tf.distribute.MirroredStrategy``: every GPU of
                                           this machine (all CPU devices when it has none)
``"multi_worker_mirrored"``   tensorflow   ``tf.distribute.MultiWorkerMirroredStrategy``;
                                           the cluster comes from ``TF_CONFIG``
``"data_parallel"``           jax          ``keras.distribution.DataParallel`` over every
                                           JAX device of every process
============================  ===========  ==============================================

Build, compile *and* fit the model inside :func:`distribution_scope`::

    with distribution_scope("mirrored") as dist:
        model = build_model()
        model.compile(...)
        model.fit(x, y, batch_size=global_batch(16, dist))

``batch_size`` given to ``fit`` is the *global* batch: each step splits it
across the replicas and averages the gradients over all of it, so with the same
global batch and seed N replicas take the same steps as one (up to the order of
float additions in the all-reduce).

TensorFlow and JAX are imported inside the functions, never at ``import framebank``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

import keras

__all__ = [
    "DISTRIBUTIONS",
    "distribution_scope",
    "get_distribution",
    "replica_count",
    "global_batch",
    "make_tf_config",
]

# name -> the backend whose engine it uses
DISTRIBUTIONS: dict[str, str] = {
    "mirrored": "tensorflow",
    "multi_worker_mirrored": "tensorflow",
    "data_parallel": "jax",
}

# A strategy owns devices and (multi-worker) a server: make each once per process.
_CACHE: dict[tuple, Any] = {}


def check_name(name: str | None) -> str | None:
    """``name`` (None for ``"none"``) if it names a strategy of the running backend."""
    if name is None or name == "none":
        return None
    if not isinstance(name, str) or name not in DISTRIBUTIONS:
        raise ValueError(
            f"Unknown distribution {name!r}. Expected None, 'none' or one of: "
            f"{', '.join(sorted(DISTRIBUTIONS))}. Received: distribution={name!r}"
        )
    backend = keras.backend.backend()
    if DISTRIBUTIONS[name] != backend:
        other = [n for n, b in DISTRIBUTIONS.items() if b == backend]
        hint = f" Under {backend} use: {', '.join(other)}." if other else ""
        raise ValueError(
            f"distribution={name!r} runs on KERAS_BACKEND={DISTRIBUTIONS[name]}. "
            f"Received: backend={backend!r}.{hint}"
        )
    return name


def _read_tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError(
            "distribution='multi_worker_mirrored' reads the cluster from the TF_CONFIG "
            "environment variable, which is not set. Set it on every worker, e.g. "
            "framebank.distribute.make_tf_config(['host1:12345', 'host2:12345'], index)."
        )
    try:
        config = json.loads(raw)
        workers = config["cluster"]["worker"]
        index = config["task"]["index"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(
            "TF_CONFIG must be JSON with cluster.worker (a list of host:port) and "
            f"task.index. Received: TF_CONFIG={raw!r}"
        ) from None
    if not (isinstance(index, int) and 0 <= index < len(workers)):
        raise ValueError(
            f"TF_CONFIG's task.index must name one of its {len(workers)} workers. "
            f"Received: index={index!r}"
        )
    return config


def get_distribution(name: str | None, devices: Sequence[str] | None = None) -> Any:
    """The engine object for ``name``: a ``tf.distribute.Strategy``, a Keras ``Distribution``
    or None.

    Args:
        name: see the module table.
        devices: for ``"mirrored"`` and ``"data_parallel"``, the devices to use
            (TF names such as ``"/gpu:0"``, or JAX devices / ``"cpu:0"``);
            default all of them.

    Raises:
        ValueError: an unknown name, a name of another backend, or
            ``"multi_worker_mirrored"`` without a valid ``TF_CONFIG``.
    """
    name = check_name(name)
    if name is None:
        return None
    key = (name, tuple(devices) if devices is not None else None)
    if key in _CACHE:
        return _CACHE[key]
    if name == "mirrored":
        import tensorflow as tf

        if devices is None:
            # All GPUs; a machine without any mirrors over its (logical) CPUs.
            gpus = tf.config.list_logical_devices("GPU")
            devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
        dist = tf.distribute.MirroredStrategy(devices=list(devices))
    elif name == "multi_worker_mirrored":
        import tensorflow as tf

        _read_tf_config()
        if any(k[0] == name for k in _CACHE):
            raise ValueError("A MultiWorkerMirroredStrategy already exists in this process")
        dist = _multi_worker_strategy(tf)
    else:  # data_parallel
        dist = keras.distribution.DataParallel(
            devices=list(devices) if devices is not None else None
        )
    _CACHE[key] = dist
    return dist


def _multi_worker_strategy(tf: Any) -> Any:
    """``MultiWorkerMirroredStrategy`` whose ``reduce`` accepts a nested structure.

    Why: with more than one worker, Keras 3.15's TF trainer calls ``reduce`` in
    two ways the collective reduce rejects, so ``fit`` fails:

    * at the start of ``fit`` (``_maybe_symbolic_build``) on the first
      ``(x, y)`` batch as one structure ("Attempt to convert a value
      (PerReplica...)"): reduced here leaf by leaf;
    * after every step on the scalar logs (the loss) with ``axis=0`` ("Invalid
      reduction dimension 0 for input with 0 dimensions"): a scalar has no
      batch axis, so it is reduced across replicas only (``axis=None``), which
      is what the mean of the loss means.

    Everything else is TensorFlow's strategy unchanged.
    """

    def rank(value: Any) -> int | None:
        leaf = value.values[0] if hasattr(value, "values") else value
        return getattr(getattr(leaf, "shape", None), "rank", None)

    class StructureReducingStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op: Any, value: Any, axis: Any = None) -> Any:
            if tf.nest.is_nested(value):
                parent = super()
                return tf.nest.map_structure(
                    lambda leaf: parent.reduce(reduce_op, leaf, axis), value
                )
            if axis is not None and rank(value) == 0:
                axis = None
            return super().reduce(reduce_op, value, axis)

    return StructureReducingStrategy()


@contextlib.contextmanager
def distribution_scope(
    name: str | None = None, devices: Sequence[str] | None = None
) -> Iterator[Any]:
    """Context manager: build, compile and fit inside it to train data-parallel.

    Yields the engine object (see :func:`get_distribution`); None for no distribution.

    Example::

        with distribution_scope(config.get("distribution")) as dist:
            model = build_model(); model.compile(...)
            model.fit(x, y, batch_size=global_batch(per_replica, dist))
    """
    dist = get_distribution(name, devices)
    if dist is None:
        yield None
        return
    with dist.scope():
        yield dist


def replica_count(dist: Any = None) -> int:
    """How many replicas share one global batch (1 without distribution).

    ``dist`` is what :func:`distribution_scope` yields, or a distribution name.
    """
    if isinstance(dist, str) or dist is None:
        dist = get_distribution(dist)
    if dist is None:
        return 1
    if hasattr(dist, "num_replicas_in_sync"):  # tf.distribute.Strategy
        return int(dist.num_replicas_in_sync)
    return int(dist.device_mesh.devices.size)  # keras.distribution.DataParallel


def global_batch(per_replica_batch: int, dist: Any = None) -> int:
    """The batch to give ``fit``: ``per_replica_batch`` times the replicas."""
    if (
        isinstance(per_replica_batch, bool)
        or not isinstance(per_replica_batch, int)
        or per_replica_batch < 1
    ):
        raise ValueError(
            "`per_replica_batch` must be a positive integer. "
            f"Received: per_replica_batch={per_replica_batch!r}"
        )
    return per_replica_batch * replica_count(dist)


def make_tf_config(workers: Sequence[str], index: int) -> str:
    """The ``TF_CONFIG`` JSON for worker ``index`` of a cluster of ``workers`` (``host:port``).

    Every worker gets the same list and its own index; worker 0 is the chief
    (it writes checkpoints and logs).
    """
    workers = list(workers)
    if not workers or not all(isinstance(w, str) and ":" in w for w in workers):
        raise ValueError(f"`workers` must be a list of 'host:port'. Received: workers={workers!r}")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(workers):
        raise ValueError(f"`index` must be in [0, {len(workers)}). Received: index={index!r}")
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
