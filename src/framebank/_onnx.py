"""tf2onnx handlers for the TensorFlow ops ONNX lacks: ``Log1p`` and ``Expm1``.

PCEN's log-space root uses both; without these handlers tf2onnx writes a node that
onnxruntime refuses to load. They are written as ``log(1 + x)`` and ``exp(x) - 1``,
exact to float32 rounding of ``1 + x``.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

_HANDLERS: list = []


def export_module(name: str) -> Any:
    """The module ``name`` (``tf2onnx``, ``onnxruntime``) of the ``export`` extra.

    Raises:
        ImportError: it is not installed, naming the install command (a raw
            ``ModuleNotFoundError`` from deep inside an export named none).
    """
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(
            f"ONNX needs the {name!r} package, from the 'export' extra: "
            'pip install "framebank[export]"'
        ) from err


def register_onnx_handlers() -> None:
    """tf2onnx handlers for ``Log1p`` and ``Expm1``, registered once."""
    if _HANDLERS:
        return
    export_module("tf2onnx")
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    def one(ctx: Any, node: Any) -> str:
        dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
        return ctx.make_const(utils.make_name("one"), np.array(1, dtype)).output[0]

    @tf_op("Log1p")
    class Log1p:
        @classmethod
        def version_1(cls, ctx: Any, node: Any, **kwargs: Any) -> None:
            added = ctx.make_node("Add", [node.input[0], one(ctx, node)])
            ctx.replace_inputs(node, [added.output[0]])
            node.type = "Log"

    @tf_op("Expm1")
    class Expm1:
        @classmethod
        def version_1(cls, ctx: Any, node: Any, **kwargs: Any) -> None:
            constant = one(ctx, node)
            node.type = "Exp"
            ctx.insert_new_node_on_output("Sub", node.output[0], inputs=[node.output[0], constant])

    _HANDLERS.extend([Log1p, Expm1])
