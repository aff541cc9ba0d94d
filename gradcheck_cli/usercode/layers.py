"""Layer by layer: which submodule of a model is the wrong one.

A model's gradient can be wrong because one of its layers is. Each layer is then
checked on its own, on the activations that really reach it in the model's
forward pass at the check's point (recorded with forward hooks for torch, by
sub-models up to each layer's input for Keras), with its parameters, as a code
check of its own; the first that fails is named. It runs when a model's check
fails (and on request, ``layers: true``).
"""

from __future__ import annotations

from ..errors import GradcheckError, describe


def torch_calls(model, args, kwargs):
    """[(name, module, args, kwargs)] of the model's leaf modules in the order its forward
    pass calls them, with what each received (detached copies)."""
    import torch
    calls, hooks = [], []

    def record(name):
        def hook(module, inputs, kw):
            calls.append((name, module, [_detach(a) for a in inputs],
                          {k: _detach(v) for k, v in kw.items()}))
        return hook
    for name, module in model.named_modules():
        if name and not any(True for _ in module.children()):
            hooks.append(module.register_forward_pre_hook(record(name), with_kwargs=True))
    try:
        with torch.no_grad():
            model(*args, **kwargs)
    finally:
        for h in hooks:
            h.remove()
    return calls


def _detach(value):
    return value.detach().clone() if hasattr(value, "detach") else value


def keras_calls(model, args, kwargs):
    """[(name, layer, args, {})] of a Keras Sequential or functional model's layers, each
    with its input as the model computes it at the point."""
    import tensorflow as tf
    calls = []
    if isinstance(model, tf.keras.Sequential):
        x = args[0]
        for layer in model.layers:
            calls.append((layer.name, layer, [x], {}))
            x = layer(x)
        return calls
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.InputLayer):
            continue
        sub = tf.keras.Model(model.inputs, layer.input)
        calls.append((layer.name, layer, [sub(*args)], {}))
    return calls


def localize(check, obj, framework: str, args, kwargs, model_failed: bool) -> list[str]:
    """Notes naming the first wrong layer (or saying every layer passes on its own)."""
    from . import run_callable
    try:
        calls = (torch_calls if framework == "torch" else keras_calls)(obj, args, kwargs)
    except Exception as exc:  # noqa: BLE001 -- not a model we can walk
        return [f"layer by layer: not possible here ({describe(exc, 120)})"]
    if len(calls) < 2:
        return []
    passed = []
    for name, layer, layer_args, layer_kwargs in calls:
        names = [f"arg{i}" for i in range(len(layer_args))]
        spec = {"callable": layer, "backend": framework, "dtype": check.dtype,
                "device": check.device, "seed": check.seed, "rtol": check.rtol,
                "atol": check.atol, "methods": ["fd"], "params": _has_params(layer),
                "arguments": (layer_args, layer_kwargs, names, [])}
        try:
            result = run_callable(spec, source=check.source, label=name)
        except GradcheckError as exc:
            return [f"layer by layer: layer {name} ({type(layer).__name__}) could not be "
                    f"checked on its own: {exc.message}"]
        if result.failed:
            rows = [row.label for row in result.rows if row.status == "fail"]
            return [f"layer by layer, on the activations of the model's forward pass: the "
                    f"first wrong layer is {name} ({type(layer).__name__}): "
                    f"{', '.join(rows)} fail" + (f"; the {len(passed)} before it pass"
                                                 if passed else "")]
        passed.append(name)
    return [f"layer by layer: each of the {len(passed)} layers passes on its own"
            + (" (the error is in how the model combines them)" if model_failed else "")]


def _has_params(layer) -> bool:
    params = getattr(layer, "parameters", None)
    if callable(params):
        return any(p.requires_grad for p in params())
    return bool(getattr(layer, "trainable_variables", None))


def is_model(obj) -> bool:
    """A torch module with submodules, or a Keras model: something to walk."""
    children = getattr(obj, "children", None)
    if callable(children):
        return any(True for _ in obj.modules()) and sum(1 for _ in obj.modules()) > 2
    return hasattr(obj, "layers") and len(getattr(obj, "layers", ())) > 1

