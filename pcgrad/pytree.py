"""Pytrees: nested tuples, lists and dicts whose leaves are arrays or numbers."""
from __future__ import annotations
import functools
from typing import Any, Callable, Iterator

import numpy as np


def flatten(tree: Any) -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """Leaves of ``tree`` in a fixed order, and a function rebuilding it from them."""
    if _flat(tree):  # a leaf, or a plain tuple or list of leaves: no walk
        return ([tree], _only) if _leaf(tree) else (list(tree), type(tree))
    leaves: list[Any] = []

    def walk(node: Any) -> Callable[[Iterator[Any]], Any]:
        if isinstance(node, (tuple, list)):
            kids: Any = [walk(child) for child in node]  # a dict below
            kind: Any = type(node)
            if hasattr(node, "_fields"):  # namedtuple
                return lambda it: kind(*(k(it) for k in kids))
            return lambda it: kind(k(it) for k in kids)
        if isinstance(node, dict):
            kids = {key: walk(child) for key, child in node.items()}
            kind = type(node)
            return lambda it: kind((key, k(it)) for key, k in kids.items())
        if node is None:  # a node without leaves, as in JAX
            return lambda it: None
        leaves.append(node)
        return lambda it: next(it)

    build = walk(tree)
    return leaves, lambda new_leaves: build(iter(new_leaves))


def _leaf(node: Any) -> bool:
    return node is not None and not isinstance(node, (tuple, list, dict))


# Types that are leaves for certain: a tuple or list of only these is flat,
# found without a Python call per item (subclasses of tuple, list or dict are not)
_LEAF_TYPES = frozenset({np.ndarray, float, int, np.float64, np.float32})


def _flat(tree: Any) -> bool:
    """Whether ``tree`` is a leaf, or a plain tuple or list (not a namedtuple)
    of leaves: the common argument, flattened without a walk."""
    kind = type(tree)
    if kind is tuple or kind is list:
        return _LEAF_TYPES.issuperset(map(type, tree)) or all([_leaf(child) for child in tree])
    return _leaf(tree)


def _only(leaves: list[Any]) -> Any:
    return leaves[0]


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    leaves, unflatten = flatten(tree)
    return unflatten([fn(leaf) for leaf in leaves])


def leaf_paths(tree: Any, prefix: str = "") -> list[str]:
    """Names of the leaves of ``tree`` in ``flatten`` order, e.g. "[0]['W']"."""
    if _flat(tree):
        return [prefix] if _leaf(tree) else list(_item_paths(prefix, len(tree)))
    paths, stack = [], [(tree, prefix)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, (tuple, list)):
            stack.extend((child, f"{path}[{i}]") for i, child in reversed(list(enumerate(node))))
        elif isinstance(node, dict):
            stack.extend((child, f"{path}[{key!r}]") for key, child in reversed(list(node.items())))
        elif node is not None:
            paths.append(path)
    return paths


@functools.lru_cache(maxsize=256)
def _item_paths(prefix: str, n: int) -> tuple[str, ...]:
    """The names of the items of a flat tuple or list (made once: every call names them)."""
    return tuple([f"{prefix}[{i}]" for i in range(n)])
