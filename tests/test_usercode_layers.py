"""A model with one wrong layer: its check fails, and the layer is named, checked on the
activations of the model's forward pass (gradcheck_cli/usercode/layers.py)."""

import sys
from pathlib import Path

import numpy as np
import pytest

import gradcheck_cli
from gradcheck_cli import frameworks

HERE = Path(__file__).resolve().parent / "mutants"


def needs(framework):
    return pytest.mark.skipif(not frameworks.is_installed(framework),
                              reason=f"{framework} is not installed")


def mutants(name):
    sys.path.insert(0, str(HERE))
    try:
        return __import__(name)
    finally:
        sys.path.pop(0)


def layer_note(result):
    return next((n for n in result.notes if n.startswith("layer by layer")), None)


@needs("torch")
def test_torch_sequential_names_the_wrong_layer():
    import torch
    m = mutants("torch_mutants")
    x = torch.randn(2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(AssertionError, match=r"the first wrong layer is 3 \(WrongTanh\)"):
        gradcheck_cli.assert_gradients(m.model_with_a_wrong_layer(), x, params=True)
    r = gradcheck_cli.assert_gradients(m.model_all_right(), x, params=True, layers=True)
    assert layer_note(r) == "layer by layer: each of the 5 layers passes on its own"
    # on a passing model, nothing is walked unless asked
    r = gradcheck_cli.assert_gradients(m.model_all_right(), x, params=True)
    assert layer_note(r) is None


@needs("tensorflow")
def test_keras_sequential_names_the_wrong_layer():
    import tensorflow as tf
    m = mutants("tf_mutants")
    x = tf.constant(np.random.default_rng(0).standard_normal((2, 3)))
    with pytest.raises(AssertionError, match=r"the first wrong layer is wrong_tanh"):
        gradcheck_cli.assert_gradients(m.keras_model(True), x, params=True)
    r = gradcheck_cli.assert_gradients(m.keras_model(False), x, params=True, layers=True)
    assert layer_note(r).startswith("layer by layer: each of the 3 layers passes")
