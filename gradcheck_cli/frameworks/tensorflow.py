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
from . import DtypeMismatch, arithmetic, fold, parse_device  # noqa: E402

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
    """The user's TensorFlow code, called with numpy arrays in and out."""

    name = "tensorflow"

    def __init__(self, adapter: Adapter):
        self.device, self.device_name, self.version = (adapter.device, adapter.device_name,
                                                       adapter.version)
        self.dtypes = DTYPES
        self.dtype = adapter.dtype
        self.dtype_name = adapter.dtype_name
        self.layers = {}
        self.var_names = {}

    def prepare(self, obj, init, want_params, seed: int = 0):
        tf.keras.utils.set_random_seed(seed)  # a layer's initial weights are part of the check
        self.cls, self.init = (obj, init or {}) if isinstance(obj, type) else (None, None)
        if self.cls is None and init:
            raise GradcheckError("'init' is given but the callable is not a class")
        self.fn = self._instance(self.dtype) if self.cls is not None else obj
        self.want_params = want_params
        self.is_layer = isinstance(self.fn, tf.keras.layers.Layer) or hasattr(
            self.fn, "trainable_variables")
        return []  # parameters are listed once the layer is built (see build)

    def _instance(self, dtype):
        if dtype not in self.layers:
            keras = tf.keras
            old, old_policy = keras.config.floatx(), keras.config.dtype_policy()
            name = dtype.name  # Keras's dtype policy of that name: float64 ... bfloat16
            keras.config.set_floatx(name)
            keras.config.set_dtype_policy(name)
            try:
                self.layers[dtype] = self.cls(**self.init)
            except Exception as exc:
                raise GradcheckError(f"instantiating {self.cls.__name__}(**init) failed: "
                                     f"{type(exc).__name__}: {exc}") from None
            finally:
                keras.config.set_floatx(old)
                keras.config.set_dtype_policy(old_policy)
        return self.layers[dtype]

    def build(self, inputs) -> list[tuple[str, np.ndarray]]:
        """Call the layer once (Keras builds weights on first call) and list its parameters."""
        with tf.device(self.device):
            self.fn(*[tf.constant(a, self.dtype) for a in inputs])
        if not self.want_params:
            return []
        variables = getattr(self.fn, "trainable_variables", None)
        if not variables:
            raise GradcheckError("'params: true' needs a Keras layer with trainable variables")
        prefix = type(self.fn).__name__
        self.var_names = {}
        for v in variables:
            # "sigmoid_net/my_dense_1/W" -> "SigmoidNet.my_dense_1.W"
            path = getattr(v, "path", v.name).split(":")[0].split("/")
            name = ".".join([prefix, *path[1:]]) if len(path) > 1 else f"{prefix}.{path[0]}"
            while name in self.var_names:
                name += "_"
            self.var_names[name] = v
        return [(n, v.numpy().astype(np.float64)) for n, v in self.var_names.items()]

    def _layer_for(self, dtype, params):
        """The callable in this dtype, its variables set to ``params``."""
        if dtype == self.dtype or not self.is_layer:
            fn = self.fn
        elif self.cls is None:
            raise GradcheckError("cannot build a float64 copy of a layer instance")
        else:
            fn = self._instance(dtype)
            if not fn.weights:
                fn(*[tf.cast(a, dtype) for a in self._pending])  # build it
            for copy, original in zip(fn.weights, self.fn.weights):  # same weights, in dtype
                copy.assign(tf.cast(original, copy.dtype))
        if params:
            for v, name in zip(fn.trainable_variables, self.var_names):
                v.assign(tf.cast(params[name], v.dtype))
        return fn

    def _outs(self, out):
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        for i, o in enumerate(outs):
            if not isinstance(o, (tf.Tensor, tf.Variable)):
                raise GradcheckError(f"output {i} is a {type(o).__name__}, not a tf.Tensor")
        return outs

    def forward(self, inputs, params, dtype="float64"):
        tdtype = self.dtypes[dtype]
        with tf.device(self.device):
            args = [tf.constant(a, tdtype) for a in inputs]
            self._pending = args
            fn = self._layer_for(tdtype, params)
            outs = self._outs(fn(*args))
        if any(o.dtype != tdtype for o in outs):
            raise DtypeMismatch(f"the code returned {outs[0].dtype.name} for {dtype} inputs")
        return [o.numpy().astype(np.float64) for o in outs]

    def _variables(self, fn) -> dict:
        """Parameter name -> the variable of ``fn`` (the layer in the dtype at hand)."""
        return dict(zip(self.var_names, fn.trainable_variables)) if self.var_names else {}

    def _setup(self, inputs, params, wrt, dtype=None):
        tdtype = self.dtype if dtype is None else self.dtypes[dtype]
        args = [tf.constant(a, tdtype) for a in inputs]
        self._pending = args
        fn = self._layer_for(tdtype, params)
        variables = self._variables(fn)
        sources = [args[k] if isinstance(k, int) else variables[k] for k in wrt.values()]
        self._watch = [args[k] for k in wrt.values() if isinstance(k, int)]  # not variables
        return fn, args, sources

    def _gradient(self, tape, outs, sources, cotangents):
        cots = [tf.constant(c, o.dtype) for c, o in zip(cotangents, outs)]
        return tape.gradient(outs, sources, output_gradients=cots)

    def vjp(self, inputs, params, wrt, cotangents, dtype=None):
        with tf.device(self.device):
            fn, args, sources = self._setup(inputs, params, wrt, dtype)
            with tf.GradientTape() as tape:
                tape.watch(self._watch)
                outs = self._outs(fn(*args))
            grads = self._gradient(tape, outs, sources, cotangents)
        return {n: (None if g is None else tf.convert_to_tensor(g).numpy().astype(np.float64),
                    None if g is None else (tuple(g.shape), g.dtype.name,
                                            self.device_of(g)))
                for n, g in zip(wrt, grads)}

    def hvp(self, inputs, params, wrt, cotangents, tangents, mode="rev"):
        """d/dε ∇(uᵀf)(x + εv): a tape inside a tape (``rev``) or inside a
        ForwardAccumulator (``fwd``, forward over reverse)."""
        with tf.device(self.device):
            fn, args, sources = self._setup(inputs, params, wrt)
            plain = self._watch
            tans = [tf.constant(np.asarray(tangents[n]), self.dtype) for n in wrt]
            if mode == "fwd":
                # Keras 3 wraps a tf.Variable (its .value); the accumulator wants the tf one.
                primals = [s if isinstance(k, int) else getattr(s, "value", s)
                           for s, k in zip(sources, wrt.values())]
                with tf.autodiff.ForwardAccumulator(primals, tans) as acc:
                    with tf.GradientTape() as tape:
                        tape.watch(plain)
                        outs = self._outs(fn(*args))
                    grads = self._gradient(tape, outs, sources, cotangents)
                second = [None if g is None else
                          acc.jvp(g, unconnected_gradients=tf.UnconnectedGradients.NONE)
                          for g in grads]
            else:
                with tf.GradientTape() as outer:
                    outer.watch(plain)
                    with tf.GradientTape() as tape:
                        tape.watch(plain)
                        outs = self._outs(fn(*args))
                    grads = self._gradient(tape, outs, sources, cotangents)
                    terms = [tf.reduce_sum(tf.convert_to_tensor(g) * t)
                             for g, t in zip(grads, tans) if g is not None]
                    along = tf.add_n(terms) if terms else None
                second = ([None] * len(sources) if along is None else
                          outer.gradient(along, sources))
        return {n: None if h is None else tf.convert_to_tensor(h).numpy().astype(np.float64)
                for n, h in zip(wrt, second)}

    def device_of(self, t):
        dev = getattr(t, "device", "") or ""
        return "/GPU:0" if "GPU" in dev.upper() else self.device

    def expected_meta(self, shape):
        return (tuple(shape), self.dtype_name, self.device)

    def jvp(self, inputs, params, tangents):
        with tf.device(self.device):
            args = [tf.constant(a, self.dtype) for a in inputs]
            self._pending = args
            fn = self._layer_for(self.dtype, params)
            # Keras 3 wraps a tf.Variable (its .value); the accumulator wants the tf one.
            primals = [args[k] if isinstance(k, int) else getattr(self.var_names[k], "value",
                                                                    self.var_names[k])
                       for k in tangents]
            tans = [tf.constant(np.asarray(t), self.dtype) for t in tangents.values()]
            with tf.autodiff.ForwardAccumulator(primals, tans) as acc:
                outs = self._outs(fn(*args))
            result = []
            for o in outs:
                t = acc.jvp(o, unconnected_gradients=tf.UnconnectedGradients.ZERO)
                result.append(t.numpy().astype(np.float64))
        return result
