"""Nested inputs and outputs, flattened to leaves named by their path.

Real code takes and returns structures: tuples, lists, dicts, dataclasses,
namedtuples (torch's ``return_types``), and the frameworks' own pytrees (a JAX
``FrozenDict``). :func:`flatten` walks them into a list of :class:`Leaf`
objects -- each named by its path, ``params["dense"]["w"]``, ``out.indices``,
``xs[2]`` -- and a function that rebuilds the same structure around new leaves.
Anything that is not a container is a leaf: a tensor, a number, None, a string.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class Leaf:
    """One value inside a structure, and where it is."""

    path: str
    value: Any


def flatten(obj, path: str) -> tuple[list[Leaf], Callable[[list], Any]]:
    """(leaves, rebuild): the leaves of ``obj`` in order, and ``rebuild(values)`` making
    the same structure with the leaves replaced by ``values`` (same order)."""
    leaves: list[Leaf] = []
    builder = _walk(obj, path, leaves)

    def rebuild(values: list):
        it = iter(values)
        return builder(it)
    return leaves, rebuild


def _walk(obj, path: str, leaves: list) -> Callable:
    if isinstance(obj, dict):
        keys = list(obj)
        parts = [_walk(obj[k], f"{path}[{k!r}]".replace("'", '"'), leaves) for k in keys]
        kind = type(obj)
        return lambda it: _same(kind, dict(zip(keys, (p(it) for p in parts))))
    fields = _fields(obj)
    if fields:  # namedtuple, torch.return_types (a struct sequence)
        parts = [_walk(getattr(obj, f), f"{path}.{f}", leaves) for f in fields]
        kind = type(obj)
        return lambda it: _namedtuple(kind, [p(it) for p in parts])
    if isinstance(obj, (tuple, list)):
        parts = [_walk(v, f"{path}[{i}]", leaves) for i, v in enumerate(obj)]
        kind = type(obj)
        return lambda it: kind(p(it) for p in parts) if kind in (tuple, list) \
            else kind([p(it) for p in parts])
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        names = [f.name for f in dataclasses.fields(obj)]
        parts = [_walk(getattr(obj, n), f"{path}.{n}", leaves) for n in names]
        return lambda it: dataclasses.replace(obj, **{n: p(it) for n, p in zip(names, parts)})
    node = _jax_node(obj)
    if node is not None:
        children, treedef, names = node
        parts = [_walk(c, f"{path}{n}", leaves) for c, n in zip(children, names)]
        return lambda it: treedef.unflatten([p(it) for p in parts])
    leaves.append(Leaf(path, obj))
    return lambda it: next(it)


def _fields(obj) -> list[str] | None:
    if not isinstance(obj, tuple) or type(obj) is tuple:
        return None
    names = getattr(obj, "_fields", None) or getattr(type(obj), "__match_args__", None)
    return list(names) if names and len(names) == len(obj) else None


def _same(kind, mapping: dict):
    if kind is dict:
        return mapping
    try:
        return kind(mapping)
    except TypeError:  # a mapping type that cannot be built from a dict: a plain dict
        return mapping


def _namedtuple(kind, values: list):
    try:
        return kind(*values)
    except TypeError:  # torch.return_types take one sequence
        return kind(values)


def _jax_node(obj):
    """A registered JAX pytree node that is not a plain container (FrozenDict, a flax
    struct): its children, its treedef and each child's path suffix; None otherwise."""
    jax = sys.modules.get("jax")
    if jax is None or obj is None:
        return None
    tree_util = jax.tree_util
    try:
        children, treedef = tree_util.tree_flatten(obj, is_leaf=lambda x: x is not obj)
    except Exception:  # noqa: BLE001 -- not a pytree jax knows
        return None
    if treedef.num_nodes == 1 and treedef.num_leaves == 1 and children and children[0] is obj:
        return None  # a leaf
    try:
        keyed, _ = tree_util.tree_flatten_with_path(obj, is_leaf=lambda x: x is not obj)
        names = [tree_util.keystr(k) for k, _ in keyed]
    except Exception:  # noqa: BLE001 -- old jax: positions
        names = [f"[{i}]" for i in range(len(children))]
    return children, treedef, names
