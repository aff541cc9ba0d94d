"""TensorFlow user code: functions, ``tf.custom_gradient`` ops and Keras layers.

Reverse mode is a ``GradientTape`` (it runs custom gradients), forward mode a
``ForwardAccumulator``. A Keras layer's trainable variables are its parameters;
finite differences use a float64 instance of the layer when it can be built.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from ..errors import GradcheckError  # noqa: E402
from . import DtypeMismatch  # noqa: E402
from ..frameworks import adapter as backend_adapter  # noqa: E402


class Adapter:
    name = "tensorflow"

    def __init__(self, device: str, dtype: str):
        base = backend_adapter("tensorflow", device, dtype)
        import tensorflow as tf
        self.tf = tf
        self.device, self.device_name, self.version = base.device, base.device_name, base.version
        self.dtypes = {"float64": tf.float64, "float32": tf.float32, "float16": tf.float16,
                       "bfloat16": tf.bfloat16}
        self.dtype = self.dtypes[dtype]
        self.dtype_name = dtype
        self.layers = {}
        self.var_names = {}

    def prepare(self, obj, init, want_params, seed: int = 0):
        tf = self.tf
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
        tf = self.tf
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
        with self.tf.device(self.device):
            self.fn(*[self.tf.constant(a, self.dtype) for a in inputs])
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
        tf = self.tf
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
            if not isinstance(o, (self.tf.Tensor, self.tf.Variable)):
                raise GradcheckError(f"output {i} is a {type(o).__name__}, not a tf.Tensor")
        return outs

    def forward(self, inputs, params, dtype="float64"):
        tf = self.tf
        tdtype = self.dtypes[dtype]
        with tf.device(self.device):
            args = [tf.constant(a, tdtype) for a in inputs]
            self._pending = args
            fn = self._layer_for(tdtype, params)
            outs = self._outs(fn(*args))
        if any(o.dtype != tdtype for o in outs):
            raise DtypeMismatch(f"the code returned {outs[0].dtype.name} for {dtype} inputs")
        return [o.numpy().astype(np.float64) for o in outs]

    def vjp(self, inputs, params, wrt, cotangents):
        tf = self.tf
        with tf.device(self.device):
            args = [tf.constant(a, self.dtype) for a in inputs]
            self._pending = args
            fn = self._layer_for(self.dtype, params)
            sources = [args[k] if isinstance(k, int) else self.var_names[k]
                       for k in wrt.values()]
            with tf.GradientTape() as tape:
                for i, k in enumerate(wrt.values()):
                    if isinstance(k, int):
                        tape.watch(args[k])
                outs = self._outs(fn(*args))
            cots = [tf.constant(c, o.dtype) for c, o in zip(cotangents, outs)]
            grads = tape.gradient(outs, sources, output_gradients=cots)
        return {n: (None if g is None else tf.convert_to_tensor(g).numpy().astype(np.float64),
                    None if g is None else (tuple(g.shape), g.dtype.name,
                                            self.device_of(g)))
                for n, g in zip(wrt, grads)}

    def device_of(self, t):
        dev = getattr(t, "device", "") or ""
        return "/GPU:0" if "GPU" in dev.upper() else self.device

    def expected_meta(self, shape):
        return (tuple(shape), self.dtype_name, self.device)

    def jvp(self, inputs, params, tangents):
        tf = self.tf
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
