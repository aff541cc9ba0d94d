"""The inputs of the user's code: arrays drawn or given, rounded to the check's dtype.

Everything differentiated is a :class:`Slot`: a positional input (by index) or
a parameter of a module or layer (by name), held as float64 numpy values of
the dtype's numbers, so that finite differences in float64 start from exactly
the point the code sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GradcheckError
from ..tolerances import DTYPES


@dataclass
class Slot:
    """Something differentiated: a positional input (by index) or a parameter (by name)."""

    name: str
    key: int | str
    value: np.ndarray

    @property
    def size(self) -> int:
        return int(self.value.size)

    def element(self, flat: int) -> str:
        """``x[2, 1]`` for the flat index of an element (``x`` for a scalar)."""
        if not self.value.shape:
            return self.name
        idx = np.unravel_index(flat, self.value.shape)
        return f"{self.name}[{', '.join(map(str, idx))}]"


def make_inputs(spec: dict, rng: np.random.Generator, default_dtype: str):
    """Arrays for the ``inputs:`` mapping, in order: (names, arrays, differentiable names).

    Raises:
        GradcheckError: naming the input: no shape or value, low >= high, an unknown
            dtype, a complex or non-finite value (not supported yet: they would be
            checked as something else).
    """
    names, arrays, grads = [], [], []
    for name, item in spec.items():
        item = item or {}
        if not isinstance(item, dict):
            item = {"value": item}
        if "value" in item:
            raw = np.asarray(item["value"])
            if np.iscomplexobj(raw):
                raise GradcheckError(f"input {name!r}: complex values are not supported yet; "
                                     "check the real and imaginary parts as two real inputs")
            try:
                array = raw.astype(float)
            except (TypeError, ValueError):
                raise GradcheckError(f"input {name!r}: 'value' is not an array of numbers") \
                    from None
            if "shape" in item and tuple(item["shape"]) != array.shape:
                raise GradcheckError(f"input {name!r}: 'value' has shape {array.shape}, "
                                     f"'shape' says {tuple(item['shape'])}")
        elif "shape" in item:
            shape = tuple(int(s) for s in item["shape"])
            if item.get("normal"):
                array = rng.standard_normal(shape)
            else:
                low, high = float(item.get("low", -1.0)), float(item.get("high", 1.0))
                if not low < high:
                    raise GradcheckError(f"input {name!r}: needs low < high")
                array = rng.uniform(low, high, shape)
        else:
            raise GradcheckError(f"input {name!r}: give 'shape' (random) or 'value'")
        dtype = item.get("dtype") or default_dtype
        if dtype not in DTYPES:
            raise GradcheckError(f"input {name!r}: unsupported dtype {dtype!r}; choose "
                                 f"{', '.join(DTYPES)}")
        if not np.all(np.isfinite(array)):
            raise GradcheckError(f"input {name!r}: holds inf or NaN; finite differences "
                                 "cannot step from there (give finite values)")
        if array.size == 0:
            raise GradcheckError(f"input {name!r}: has no elements (shape {array.shape}): "
                                 "there is no derivative to check")
        names.append(name)
        arrays.append(round_to(array, dtype))
        if item.get("grad", True):
            grads.append(name)
    return names, arrays, grads


def round_to(array: np.ndarray, dtype: str) -> np.ndarray:
    """The array in ``dtype``; half precision as the float64 values of its rounded numbers
    (numpy has no bfloat16), so finite differences in float64 start from the same point."""
    if dtype == "float16":
        return array.astype(np.float16).astype(np.float64)
    if dtype == "bfloat16":  # the top 16 bits of float32, rounded to nearest even
        bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
        bits = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) \
            & np.uint32(0xFFFF0000)
        return bits.view(np.float32).astype(np.float64)
    return array.astype(dtype)
