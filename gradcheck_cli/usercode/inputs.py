"""The arguments of the user's code, from a spec or the command line.

``inputs:`` are the positional arguments, in order; ``kwargs:`` the keyword ones.
Each value is one of:

* an array: ``{shape: [3, 4]}`` (uniform in [low, high], default [-1, 1], or
  ``normal: true``) or ``{value: [[...]]}``, with an optional ``dtype`` (a float
  dtype, ``complex128``/``complex64``, ``int64``/``int32``, ``bool``) and
  ``grad: false`` to hold a float array constant;
* a nested structure: a mapping of such values (``{dense: {w: {shape: [3, 2]}}}``)
  or a list of them (a tensor list);
* anything else -- a number, a string, ``true``, ``null``, a list of numbers -- is
  passed as that Python value, unchanged.

Float arrays are rounded to the check's dtype (half precision as the float64
values of its numbers, numpy having no bfloat16), so finite differences in
float64 start from exactly the point the code sees.
"""

from __future__ import annotations

import numpy as np

from ..errors import GradcheckError

ARRAY_KEYS = {"shape", "value", "low", "high", "normal", "dtype", "grad"}
FLOATS = ("float64", "float32", "float16", "bfloat16")
COMPLEX = {"complex128": "float64", "complex64": "float32"}
INTEGERS = {"int64": np.int64, "int32": np.int32, "int16": np.int16, "int8": np.int8,
            "uint8": np.uint8, "bool": np.bool_}


def is_array_spec(value) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= ARRAY_KEYS and (
        "shape" in value or "value" in value)


def make_arguments(inputs: dict, kwargs: dict, rng: np.random.Generator, dtype: str):
    """(args, kwargs, names, held): the call's arguments as numpy arrays and Python values,
    a name per positional argument, and the paths of float arrays held constant.

    Raises:
        GradcheckError: naming the input: no shape or value, low >= high, an unknown dtype.
    """
    held: list[str] = []
    args = [_value(v, name, rng, dtype, held) for name, v in inputs.items()]
    keywords = {name: _value(v, name, rng, dtype, held) for name, v in (kwargs or {}).items()}
    return args, keywords, list(inputs), held


def _value(item, path: str, rng, dtype: str, held: list):
    if is_array_spec(item):
        array = _array(item, path, rng, dtype)
        if not item.get("grad", True):
            if np.issubdtype(array.dtype, np.inexact):
                held.append(path)
        return array
    if isinstance(item, dict):
        if set(item) & ARRAY_KEYS and not set(item) <= ARRAY_KEYS:
            stray = sorted(set(item) - ARRAY_KEYS)[0]
            raise GradcheckError(f"input {path!r}: unknown key {stray!r} (an array takes "
                                 f"{', '.join(sorted(ARRAY_KEYS))})")
        if set(item) & ARRAY_KEYS:
            raise GradcheckError(f"input {path!r}: give 'shape' (random) or 'value'")
        return {k: _value(v, f'{path}["{k}"]', rng, dtype, held) for k, v in item.items()}
    if isinstance(item, list) and any(isinstance(v, dict) for v in item):
        return [_value(v, f"{path}[{i}]", rng, dtype, held) for i, v in enumerate(item)]
    return item  # a number, a string, a bool, None, a list of numbers: as given


def _array(item: dict, path: str, rng, default_dtype: str) -> np.ndarray:
    dtype = str(item.get("dtype") or default_dtype)
    if dtype not in FLOATS and dtype not in COMPLEX and dtype not in INTEGERS:
        raise GradcheckError(f"input {path!r}: unsupported dtype {dtype!r}; choose "
                             f"{', '.join((*FLOATS, *COMPLEX, *INTEGERS))}")
    if "value" in item:
        try:
            array = np.asarray(item["value"], dtype=complex if dtype in COMPLEX else None)
        except (TypeError, ValueError):
            raise GradcheckError(f"input {path!r}: 'value' is not an array of numbers") from None
        if array.dtype == object:
            raise GradcheckError(f"input {path!r}: 'value' is not an array of numbers")
        if "shape" in item and tuple(item["shape"]) != array.shape:
            raise GradcheckError(f"input {path!r}: 'value' has shape {array.shape}, "
                                 f"'shape' says {tuple(item['shape'])}")
    else:
        shape = tuple(int(s) for s in item["shape"])
        array = _draw(item, path, rng, shape, dtype)
        if dtype in COMPLEX:
            array = array + 1j * _draw(item, path, rng, shape, dtype)
    if dtype in INTEGERS:
        if "value" not in item:
            array = np.rint(array)
        return array.astype(INTEGERS[dtype])
    if dtype in COMPLEX:
        real = COMPLEX[dtype]
        return round_to(array.real.astype(float), real) + 1j * round_to(array.imag.astype(float),
                                                                        real)
    if np.iscomplexobj(array):
        raise GradcheckError(f"input {path!r}: complex values need dtype complex128 or "
                             "complex64")
    return round_to(array.astype(float), dtype)


def _draw(item: dict, path: str, rng, shape: tuple, dtype: str) -> np.ndarray:
    if item.get("normal"):
        return rng.standard_normal(shape)
    low, high = float(item.get("low", -1.0)), float(item.get("high", 1.0))
    if not low < high:
        raise GradcheckError(f"input {path!r}: needs low < high")
    if dtype in INTEGERS:  # integers in [low, high]
        return rng.integers(int(np.ceil(low)), int(np.floor(high)) + 1, shape).astype(float)
    return rng.uniform(low, high, shape)


def round_to(array: np.ndarray, dtype: str) -> np.ndarray:
    """The array in ``dtype``; half precision as the float64 values of its rounded numbers
    (numpy has no bfloat16), so finite differences in float64 start from the same point."""
    array = np.asarray(array, dtype=np.float64)
    if dtype == "float16":
        return array.astype(np.float16).astype(np.float64)
    if dtype == "bfloat16":  # the top 16 bits of float32, rounded to nearest even
        with np.errstate(over="ignore"):
            bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
        bits = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) \
            & np.uint32(0xFFFF0000)
        return bits.view(np.float32).astype(np.float64)
    if dtype == "float32":
        return array.astype(np.float32).astype(np.float64)
    return array
