"""TensorFlow: everything gradcheck asks of TensorFlow, for expressions and for code.

Expressions: nested GradientTape (reverse) and ForwardAccumulator (forward).

Code (functions, ``tf.custom_gradient`` ops, Keras layers): reverse mode is a
``GradientTape`` (it runs custom gradients), forward mode a
``ForwardAccumulator``, second derivatives a tape inside a tape (reverse over
reverse) or a tape inside an accumulator (forward over reverse). A Keras
layer's trainable variables are its parameters; finite differences use a
float64 instance of the layer when it can be built.

TensorFlow's C++ log lines are silenced before it is imported.
"""

from __future__ import annotations

import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ..errors import GradcheckError  # noqa: E402
from . import DtypeMismatch, arithmetic, fold, numpy_kind, parse_device  # noqa: E402

tf.get_logger().setLevel("ERROR")


def _log_base(base):
    return lambda x: tf.math.log(x) / tf.math.log(tf.constant(base, x.dtype))


@functools.cache
def table() -> dict:
    """SymPy head -> tensorflow op. Built on first use: SymPy loads only for expression checks
    (user-code checks use this module for devices and dtypes alone)."""
    import sympy as sp
    from sympy.codegen.cfunctions import expm1, log1p, log2, log10

    from ..expression.functions import cbrt, relu, sigmoid, softplus
    return {
        **arithmetic(),
        sp.exp: tf.exp, sp.log: tf.math.log, log1p: tf.math.log1p, expm1: tf.math.expm1,
        log2: _log_base(2.0), log10: _log_base(10.0), "sqrt": tf.sqrt,
        sp.sin: tf.sin, sp.cos: tf.cos, sp.tan: tf.tan, sp.asin: tf.asin, sp.acos: tf.acos,
        sp.atan: tf.atan, sp.atan2: tf.atan2, sp.sinh: tf.sinh, sp.cosh: tf.cosh,
        sp.tanh: tf.tanh, sp.asinh: tf.asinh, sp.acosh: tf.acosh, sp.atanh: tf.atanh,
        # TensorFlow has no cube root: the real one, built from abs and pow
        cbrt: lambda x: tf.sign(x) * tf.abs(x) ** (1.0 / 3.0),
        sp.erf: tf.math.erf, sigmoid: tf.sigmoid, softplus: tf.nn.softplus, relu: tf.nn.relu,
        sp.Abs: tf.abs, sp.sign: tf.sign,
        sp.Max: fold(tf.maximum), sp.Min: fold(tf.minimum),
    }


DTYPES = {"float64": tf.float64, "float32": tf.float32, "float16": tf.float16,
          "bfloat16": tf.bfloat16}


class Adapter:
    name = "tensorflow"

    @property
    def table(self) -> dict:
        return table()

    def __init__(self, device: str, dtype: str):
        self.dtype_name = dtype
        self.version = tf.__version__
        self.dtype = DTYPES[dtype]
        kind, index = parse_device(device)
        gpus = tf.config.list_physical_devices("GPU")
        if kind == "gpu" and not gpus:
            raise GradcheckError(f"tensorflow: no GPU for --device {device}: "
                                 "tf.config.list_physical_devices('GPU') is empty")
        if kind == "gpu" and index is not None and index >= len(gpus):
            raise GradcheckError(f"tensorflow: no GPU {index}; found {len(gpus)}")
        if kind == "gpu" or (kind == "auto" and gpus):
            self.device = f"/GPU:{index or 0}"
        else:
            self.device = "/CPU:0"
        self.device_name = self.device

    def context(self):
        return tf.device(self.device)

    def tensor(self, values):
        return tf.constant(values, dtype=self.dtype)

    def constant(self, value: float):
        return tf.constant(value, dtype=self.dtype)

    def to_numpy(self, t):
        return np.asarray(t.numpy(), dtype=np.float64)

    def grad(self, fn, i):
        def derivative(*xs):
            with tf.GradientTape() as tape:
                tape.watch(xs[i])
                y = tf.reduce_sum(fn(*xs))
            return tape.gradient(y, xs[i], unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return derivative

    def jvp(self, fn, i):
        def directional(*xs):
            with tf.autodiff.ForwardAccumulator(xs[i], tf.ones_like(xs[i])) as acc:
                y = fn(*xs)
            out = acc.jvp(y, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return out
        return directional

    def compile(self, fn, mode: str):
        """Forward mode as one tf.function: eager ForwardAccumulators build a JVP function
        for every op on first use, nested once per order (order 3 at one point: 5.6 s
        eager, 1.5 s traced; order 2 at 10^6 points: 1.2 s and 0.4 s). Reverse mode stays
        eager, where tracing costs more than it saves."""
        if mode != "fwd":
            return fn
        traced = tf.function(fn, autograph=False)

        def run(*xs):
            try:
                return traced(*xs)
            except GradcheckError:
                raise
            except Exception:  # noqa: BLE001 -- TF cannot trace some nested JVPs (of tf.sign
                return fn(*xs)  # at order 2: an IndexError inside TF); eager mode can
        return run


class Code:
    """The user's TensorFlow code, made functional: f(*tensors) -> list of output tensors.

    A Keras layer's parameters go through ``stateless_call`` (Keras 3), so a layer is a
    function of its weights like any other input."""

    name = "tensorflow"

    def __init__(self, adapter: Adapter):
        self.device, self.device_name, self.version = (adapter.device, adapter.device_name,
                                                       adapter.version)
        self.dtype, self.dtype_name = adapter.dtype, adapter.dtype_name
        self.layers = {}
        self.var_names = []

    # ----- the user's object -------------------------------------------------
    def prepare(self, obj, init, want_params, seed: int = 0):
        tf.keras.utils.set_random_seed(seed)  # a layer's initial weights are part of the check
        self.cls, self.init = (obj, init or {}) if isinstance(obj, type) else (None, None)
        if self.cls is None and init:
            raise GradcheckError("'init' is given but the callable is not a class")
        self.fn = self._instance(self.dtype) if self.cls is not None else obj
        self.want_params = want_params
        self.is_layer = isinstance(self.fn, tf.keras.layers.Layer)
        if want_params and not self.is_layer:
            raise GradcheckError("'params: true' needs a Keras layer (its weights go through "
                                 "Keras 3's stateless_call)")
        return []  # parameters are listed once the layer is built (see build)

    def _instance(self, dtype):
        if dtype not in self.layers:
            keras = tf.keras
            old, old_policy = keras.config.floatx(), keras.config.dtype_policy()
            keras.config.set_floatx(dtype.name)  # Keras's policy of that name: float64 ...
            keras.config.set_dtype_policy(dtype.name)
            try:
                self.layers[dtype] = self.cls(**self.init)
            except Exception as exc:
                raise GradcheckError(f"instantiating {self.cls.__name__}(**init) failed: "
                                     f"{type(exc).__name__}: {exc}") from None
            finally:
                keras.config.set_floatx(old)
                keras.config.set_dtype_policy(old_policy)
        return self.layers[dtype]

    def build(self, args, kwargs) -> list[tuple[str, np.ndarray]]:
        """Call the layer once (Keras builds weights on first call) and list its parameters."""
        self._example = (args, kwargs)
        with tf.device(self.device):
            self.fn(*args, **kwargs)
        if not self.want_params:
            return []
        variables = self.fn.trainable_variables
        if not variables:
            raise GradcheckError("'params: true' needs a Keras layer with trainable variables")
        prefix = type(self.fn).__name__
        self.var_names = []
        for v in variables:
            # "sigmoid_net/my_dense_1/W" -> "SigmoidNet.my_dense_1.W"
            path = getattr(v, "path", v.name).split(":")[0].split("/")
            name = ".".join([prefix, *path[1:]]) if len(path) > 1 else f"{prefix}.{path[0]}"
            while name in self.var_names:
                name += "_"
            self.var_names.append(name)
        return [(n, v.numpy().astype(np.float64)) for n, v in zip(self.var_names, variables)]

    def _layer(self, dtype):
        """The callable in this dtype: another instance of the layer's class, built, with
        the same weights (cast)."""
        tdtype = DTYPES[dtype]
        if tdtype == self.dtype or not self.is_layer:
            return self.fn
        if self.cls is None:
            raise GradcheckError("cannot build a float64 copy of a layer instance: give "
                                 "the class (with init) instead")
        if tdtype not in self.layers or not self.layers[tdtype].weights:
            layer = self._instance(tdtype)
            args, kwargs = self._example
            layer(*[tf.cast(a, tdtype) if _is_float(a) else a for a in args], **kwargs)
            for copy, original in zip(layer.weights, self.fn.weights):
                copy.assign(tf.cast(original, copy.dtype))
        return self.layers[tdtype]

    def call(self, args, kwargs, params, dtype):
        fn = self._layer(dtype)
        if not params:
            return fn(*args, **kwargs)
        trainable = [params[n] for n in self.var_names]
        frozen = [v.value for v in fn.non_trainable_variables]
        out, _ = fn.stateless_call(trainable, frozen, *args, **kwargs)
        return out

    # ----- values ---------------------------------------------------------------
    def kind(self, value) -> str:
        if isinstance(value, np.ndarray):
            return numpy_kind(value)
        if isinstance(value, tf.SparseTensor):
            return "sparse" if value.dtype.is_floating else "other"
        if not isinstance(value, (tf.Tensor, tf.Variable)):
            return "other"
        if value.dtype.is_complex:
            return "complex"
        if value.dtype.is_floating:
            return "float"
        return "bool" if value.dtype == tf.bool else "int"

    def to_numpy(self, t) -> np.ndarray:
        if isinstance(t, np.ndarray):
            return t
        array = tf.convert_to_tensor(t).numpy()
        return array.astype(np.complex128 if np.iscomplexobj(array) else np.float64)

    def tensor(self, array, dtype: str):
        return tf.constant(np.asarray(array), DTYPES[dtype])

    def passthrough(self, value):
        return tf.constant(value) if isinstance(value, np.ndarray) else value

    def complex(self, re, im):
        return tf.complex(re, im)

    def part(self, t, part):
        if isinstance(t, tf.SparseTensor):
            t = tf.sparse.to_dense(t)
        return {None: lambda a: a, "real": tf.math.real, "imag": tf.math.imag}[part](t)

    def sparse_values(self, t):
        return self.to_numpy(t.values), (t.indices, t.dense_shape)

    def sparse(self, layout, values):
        return tf.SparseTensor(layout[0], values, layout[1])

    def expected_meta(self, shape):
        return tuple(shape), self.dtype_name, self.device

    def device_of(self, t):
        dev = getattr(t, "device", "") or ""
        return "/GPU:0" if "GPU" in dev.upper() else self.device

    # ----- evaluations of a pure function f(*xs) -> list of tensors ------------------
    def trace(self, g, xs, dtype):
        with tf.device(self.device):
            return g(*[self.tensor(x, dtype) for x in xs]), None

    def forward(self, f, xs, dtype="float64"):
        with tf.device(self.device):
            outs = f(*[self.tensor(x, dtype) for x in xs])
        for o in outs:
            if o.dtype != DTYPES[dtype]:
                raise DtypeMismatch(f"the code returned {o.dtype.name} for {dtype} inputs")
        return [self.to_numpy(o) for o in outs]

    def vjp(self, f, xs, cotangents, dtype=None):
        """uᵀJ per input; outputs with an undefined (None) cotangent are left out."""
        with tf.device(self.device):
            primals = [self.tensor(x, dtype or self.dtype_name) for x in xs]
            with tf.GradientTape() as tape:
                tape.watch(primals)
                outs = f(*primals)
            pairs = [(o, tf.constant(c, o.dtype)) for o, c in zip(outs, cotangents)
                     if c is not None]
            grads = (tape.gradient([o for o, _ in pairs], primals,
                                   output_gradients=[c for _, c in pairs])
                     if pairs else [None] * len(primals))
        return [(None, None) if g is None else
                (self.to_numpy(g), (tuple(g.shape), g.dtype.name, self.device_of(g)))
                for g in grads]

    def jvp(self, f, xs, tangents):
        """J v per output; None where the output gets no tangent."""
        with tf.device(self.device):
            primals = [self.tensor(x, self.dtype_name) for x in xs]
            moving = [(p, tf.constant(np.asarray(t), self.dtype)) for p, t in zip(primals, tangents)
                      if t is not None]
            with tf.autodiff.ForwardAccumulator([p for p, _ in moving],
                                                [t for _, t in moving]) as acc:
                outs = f(*primals)
            tans = [acc.jvp(o, unconnected_gradients=tf.UnconnectedGradients.NONE) for o in outs]
        return [None if t is None else self.to_numpy(t) for t in tans]

    ROUTES = ("rev∘rev", "fwd∘rev")

    def hvp(self, f, xs, cotangents, tangents, route="rev∘rev"):
        """d/dε ∇(uᵀf)(x + εv): a tape inside a tape (rev∘rev) or inside a
        ForwardAccumulator (fwd∘rev, forward over reverse)."""
        with tf.device(self.device):
            primals = [self.tensor(x, self.dtype_name) for x in xs]
            tans = [tf.constant(np.asarray(t), self.dtype) for t in tangents]

            def gradient():
                with tf.GradientTape() as tape:
                    tape.watch(primals)
                    outs = f(*primals)
                cots = [tf.constant(c, o.dtype) for c, o in zip(cotangents, outs)]
                return tape.gradient(outs, primals, output_gradients=cots)
            if route == "fwd∘rev":
                with tf.autodiff.ForwardAccumulator(primals, tans) as acc:
                    grads = gradient()
                second = [None if g is None else
                          acc.jvp(g, unconnected_gradients=tf.UnconnectedGradients.NONE)
                          for g in grads]
            else:
                with tf.GradientTape() as outer:
                    outer.watch(primals)
                    grads = gradient()
                    terms = [tf.reduce_sum(tf.convert_to_tensor(g) * t)
                             for g, t in zip(grads, tans) if g is not None]
                    along = tf.add_n(terms) if terms else None
                second = [None] * len(primals) if along is None else \
                    outer.gradient(along, primals)
        return [None if h is None else self.to_numpy(h) for h in second]


def _is_float(value) -> bool:
    return isinstance(value, (tf.Tensor, tf.Variable)) and value.dtype.is_floating
