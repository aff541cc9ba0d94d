"""The user's code as a target of the pipeline: its columns, its reference, its comparisons.

The columns are the framework's own derivatives through the code (``·rev``:
reverse mode, ``·fwd``: forward mode; at order 2 reverse over reverse and
forward over reverse), a plain ``reference`` implementation's, and the user's
``expect``. The reference is finite differences in float64 on the same
framework, with their error estimate: small inputs get the full Jacobian
(:mod:`.full`), large ones random projections (:mod:`.projections`), order 2
the Hessian of uᵀf (:mod:`.second`).
"""

from __future__ import annotations

import inspect
import time

import numpy as np

from .. import frameworks, tolerances
from ..columns import Derivatives
from ..errors import GradcheckError, describe
from ..results import CheckResult, Row
from . import agreement, complex_step, full, plain, projections, second
from .call import Call, Slot, convert
from .columns import AGREEMENTS, Column, compute, expectations
from .function import Function
from .inputs import make_arguments
from .loader import load


class CodeTarget:
    """A check of the user's code, made ready on first use (the code is imported then)."""

    kind = "code"

    def __init__(self, check):
        self.check = check
        self.name, self.source, self.xfail = check.name, check.source, check.xfail
        self.rtol, self.atol, self.dtype = check.rtol, check.atol, check.dtype
        self.kinked = {"rough": [], "kink": []}   # elements at or near a kink or jump
        self._outputs: dict = {}
        self._ready = False

    # ----- preparing: import, instantiate, inputs, one call ----------------------------
    def _prepare(self) -> None:
        if self._ready:
            return
        check = self.check
        start = time.perf_counter()
        self.notes: list[str] = []
        obj = self._obj = load(check.callable, check.base)
        self.framework = plain.choose(check, obj)
        self.ad = (plain.code(check) if self.framework == "numpy" else
                   frameworks.code(self.framework, check.device, check.dtype))
        rng = np.random.default_rng(check.seed)
        if check.arguments is not None:  # the Python API: the values themselves
            args, kwargs, names, held = check.arguments
        else:
            try:
                args, kwargs, names, held = make_arguments(check.inputs, check.kwargs, rng,
                                                           check.input_dtype)
            except GradcheckError as exc:
                raise exc.located(field="inputs") from None
        held = list(held) + list(check.hold)
        self._given = (args, kwargs)   # as given: what a model's layers are walked with
        param_list = self.ad.prepare(obj, check.init, check.params, check.seed)
        _check_signature(self.ad.fn, names, kwargs)
        try:
            if hasattr(self.ad, "build"):  # Keras builds a layer's weights on its first call
                param_list = self.ad.build(convert(self.ad, args, check.dtype),
                                           convert(self.ad, kwargs, check.dtype))
        except GradcheckError:
            raise
        except Exception as exc:  # noqa: BLE001 -- raised inside the user's code
            raise GradcheckError(f"calling the code failed: {describe(exc)}") from None
        try:
            call = Call(self.ad, args, kwargs, names, param_list, check.dtype, held, check.wrt,
                        check.output)
        except GradcheckError as exc:
            raise exc.located(field="wrt" if check.wrt else "inputs") from None
        slots = call.slots
        if not slots:
            raise GradcheckError("nothing to differentiate: no float input or parameter is "
                                 "differentiated (grad: false, nondiff or wrt left none)",
                                 field="inputs")
        self.fn = self._function(call)
        if not self.fn.outputs:
            raise GradcheckError("the code returns no differentiable output (a float or "
                                 "complex tensor): " + ", ".join(self.fn.left_out))
        if self.framework == "numpy":
            self.notes += plain.validate(self, call, self.fn)
        self.m = self.fn.size
        out = self.fn.value()
        self.scale = max([float(np.max(np.abs(s.value[np.isfinite(s.value)]), initial=0.0))
                          for s in slots] + [float(np.max(np.abs(out[np.isfinite(out)]),
                                                          initial=0.0))])
        if call.recast:
            self.notes.append(f"checked in {check.dtype} (the check's dtype), given in another "
                              f"dtype: {', '.join(call.recast)}")
        if self.fn.left_out:
            self.notes.append("outputs not compared (not differentiable): "
                              + ", ".join(self.fn.left_out))
        self.slots = {s.name: s for s in slots}
        self.full = (all(s.size <= check.full_limit for s in slots)
                     and self.m <= check.full_limit)
        self.probes = None if self.full else projections.Probes(rng, self.m, slots,
                                                                 np.isfinite(out))
        self.fn.prefetch = self.full   # finite differences' points with the first batch
        # the backward pass's first probe: the mutation check runs it, the reverse column
        # runs it again (nondeterminism), the Taylor test takes its gradient (its own u)
        self.probe_u = (np.random.default_rng(agreement.SEED).standard_normal(self.m)
                        if self.full else self.probes.us[0])
        self.mutation = self.fn.mutated(self.probe_u)
        self.second = second.Plan(rng, self.m, slots) if check.order >= 2 else None
        if self.second is not None and not self.second.full:   # the Taylor test's too
            self.fn.keep_hvps = {id(vs[0]) for vs in self.second.vs.values()}
        self.expected = expectations(check.expect, self.slots)
        if self.expected and not self.full:
            raise GradcheckError("'expect' for code needs the full Jacobian: inputs of at "
                                 f"most {check.full_limit} elements (or raise 'full_limit')",
                                 field="expect")
        self.reference_fn = None
        if check.reference is not None:
            ref_ad = frameworks.code(self.framework, check.device, check.dtype)
            ref_ad.prepare(load(check.reference, check.base), None, False, check.seed)
            self.reference_fn = Function(ref_ad, call, self.fn.fd_dtype, vmap=check.vmap)
        # first order: one column per mode; second: one per route the framework offers
        # whose outer mode was asked for (fwd∘rev: forward mode over a backward pass)
        routes = [r for r in getattr(self.ad, "ROUTES", ("rev∘rev",))
                  if r.split("∘")[0] in check.modes] if self.second is not None else []
        n = sum(s.size for s in slots)
        if "fwd∘fwd" in routes and n > second.FWD_FWD_LIMIT:
            routes.remove("fwd∘fwd")   # one pass per unit direction: a full Hessian
            self.notes.append(second.fwd_fwd_note(n))
        own = ([Column(f"{self.framework}·{m}", m, framework=True) for m in check.modes]
               + [Column(f"{self.framework}·{r}", "route", route=r, framework=True)
                  for r in routes]) if self.framework != "numpy" else \
            plain.columns(check, self.ad.forms)
        self._columns = (own + plain.complex_step(check, self.framework, self.full)
                         + ([Column("reference", "reference", route="rev∘rev")]
                            if self.reference_fn else [])
                         + ([Column("expect", "expect")] if self.expected else [])
                         + self._agreements())
        self._by_name = {c.name: c for c in self._columns}
        self.prepare_seconds = time.perf_counter() - start
        self._ready = True

    @property
    def columns(self) -> list[Column]:
        """The columns that apply; asking for them imports and prepares the code."""
        _user_code(self._prepare)
        return self._columns

    def _agreements(self) -> list[Column]:
        """fwd⇄rev (both modes needed) and the Taylor test (a reverse mode needed), where
        asked (by default)."""
        check, out = self.check, []
        numpy = self.framework == "numpy"
        if "identity" in check.methods:
            both = ({"vjp", "gradient"} & set(self.ad.forms) and "jvp" in self.ad.forms
                    ) if numpy else set(check.modes) >= {"rev", "fwd"}
            if both:
                out.append(Column("fwd⇄rev", "identity"))
            elif check.methods_explicit:
                raise GradcheckError("method 'identity' compares forward and reverse mode: "
                                     "it needs " + ("jvp: and vjp: (or gradient:)" if numpy
                                                    else "mode: both"), field="methods")
        if "taylor" in check.methods and (not numpy or {"vjp", "gradient", "jacobian"}
                                          & set(self.ad.forms)):
            out.append(Column("taylor", "taylor"))
        return out

    def mode_column(self, kind: str) -> str:
        """The name of the column giving a mode's values (``torch·rev``; NumPy: ``vjp``)."""
        if self.framework == "numpy":
            from ..frameworks.numpy import FORWARD, REVERSE
            forms = self.ad.forms
            return next((f for f in (REVERSE if kind == "rev" else ("jvp",)) if f in forms),
                        FORWARD[0])
        return f"{self.framework}·{kind}"

    def derivative(self, form: str) -> Function:
        """NumPy code: the function whose derivatives are the user's ``form`` alone."""
        cache = self.__dict__.setdefault("_derivatives", {})
        if form not in cache:
            cache[form] = Function(self.ad.only(form), self.fn.call, self.fn.fd_dtype,
                                   vmap=False)
        return cache[form]

    def _function(self, call: Call) -> Function:
        """The code as a function, finite differences in float64 -- or float32 where the
        code cannot run in float64 (then the check's dtype must not be float64)."""
        try:
            return Function(self.ad, call, "float64",
                            vmap=self.check.vmap and self.framework != "numpy")
        except GradcheckError:
            raise
        except Exception as exc:  # noqa: BLE001 -- raised inside the user's code
            if self.check.dtype == "float64":
                raise GradcheckError(f"calling the code failed: {describe(exc)}"
                                     + plain.hint(self._obj)) from None
            try:
                fn = Function(self.ad, call, "float32", vmap=self.check.vmap)
            except GradcheckError:
                raise
            except Exception:  # noqa: BLE001 -- not in float32 either: the float64 error
                raise GradcheckError(f"the code does not run in float64: {describe(exc)}"
                                     + plain.hint(self._obj)) \
                    from None
            self.notes.append(f"finite differences in float32 (the code failed in float64: "
                              f"{type(exc).__name__}); steps and tolerances are float32's")
            return fn

    def _layers(self, failed: bool) -> list[str]:
        """A model's layers checked one by one on their own activations (see layers.py)."""
        from . import layers
        if not layers.is_model(self.ad.fn):
            return ["layers: true needs a model (a torch module with submodules, a Keras "
                    "model)"] if self.check.layers else []
        args, kwargs = (convert(self.ad, v, self.dtype) for v in self._given)
        return layers.localize(self.check, self.ad.fn, self.framework, args, kwargs, failed)

    def slot(self, name: str) -> Slot:
        return self.slots[name]

    def floor(self, largest: float) -> float:
        """The dtype's resolution at the scale of this check's numbers (its inputs, outputs
        and the row's derivatives; in half precision, measured, the row's alone): see
        gradcheck_cli.tolerances."""
        if self.dtype in tolerances.HALF:
            return tolerances.floor(self.dtype, float(largest))
        return tolerances.floor(self.dtype, max(self.scale, float(largest)))

    # ----- the pipeline's questions ----------------------------------------------
    def keys(self) -> list:
        first = [(0, (name,)) for name in self.slots]
        return first + (self.second.keys() if self.second else [])

    def label(self, key) -> str:
        names = key[1]
        if len(names) == 1:
            return names[0]
        f = "f" if self.m == 1 else "(uᵀf)"
        a, b = names
        return f"∂²{f}/∂{a}²" if a == b else f"∂²{f}/∂{a}∂{b}"

    def compute(self, column: Column) -> Derivatives:
        d = _user_code(self._compute, column)
        self._outputs[column.name] = d   # fwd⇄rev reads the modes' values
        return d

    def _compute(self, column: Column) -> Derivatives:
        start = time.perf_counter()
        d = compute(self, column)
        d.seconds = time.perf_counter() - start
        if column.framework:
            d.info = {"framework": self.framework, "version": self.ad.version,
                      "device": self.ad.device_name, "dtype": self.dtype,
                      "mode": column.route if column.kind == "route" else column.kind}
        return d

    def reference(self, outputs: dict) -> dict:
        return _user_code(self._reference)

    def _reference(self) -> dict:
        slots = list(self.slots.values())
        ref = (full.reference(self.fn, slots) if self.full else
               projections.reference(self.fn, slots, self.probes))
        if self.second is not None:
            ref.update(second.reference(self.fn, self.second))
        if "complex-step" in self._by_name:
            complex_step.sharpen(self, ref)
        return ref

    def comparison(self, key, name: str, d: Derivatives, ref: dict):
        column = self._by_name[name]
        if column.kind in AGREEMENTS:
            return AGREEMENTS[column.kind](self, key, name, d)
        if len(key[1]) == 2:
            return second.compare(self, key, column.route, name, d, ref)
        module = full if self.full else projections
        return module.compare(self, key, column.kind, name, d, ref)

    def localize(self, key, name: str, verdict, ref) -> None:
        """A failing projection of a backward pass: bisection names the elements."""
        if (self.full or len(key[1]) != 1 or self._by_name[name].kind != "rev"
                or verdict.value is None):
            return
        slot, p = self.slot(key[1][0]), verdict.worst
        grad = self.fn.vjp(self.probes.us[p])[slot.name][0]
        verdict.location = projections.localize(self.fn, slot, self.probes.us[p], grad,
                                                self.dtype)

    def row(self, key, verdicts: dict, ref: dict) -> Row:
        values = np.asarray(ref[key[1][0]][0] if len(key[1]) == 1 else ref[key][0])
        finite = values[np.isfinite(values)]
        return Row(key, self.label(key), float(finite.min()) if finite.size else None,
                   float(finite.max()) if finite.size else None, verdicts,
                   excluded=int(values.size - finite.size))

    def result(self, rows, outputs: dict, ref, timings: dict) -> CheckResult:
        check, notes = self.check, list(self.notes)
        mode = ("full Jacobian" if self.full else
                f"random projections uᵀJv: {projections.PROBES} probes, seed {check.seed}")
        notes.append(f"{mode}; {self.m} output element(s); finite differences in "
                     f"{self.fn.fd_dtype}")
        if not self.full:
            notes.append(f"chance that all {projections.PROBES} probes miss an error 10× the "
                         f"tolerance: < {projections.miss_probability(projections.PROBES):.0e}"
                         " (rank-one worst case)")
        if self.second is not None:
            what = ("every element" if self.second.full else
                    f"{second.PROBES} seed-fixed projections wᵀHv per pair of inputs (all "
                    f"miss an error 10× the tolerance: < "
                    f"{projections.miss_probability(second.PROBES):.0e})")
            routes = ", ".join(f"·{c.route} {second.ROUTES[c.route]}" for c in self._columns
                               if c.kind == "route")
            by = (f"by each route ({routes})" if self.framework != "numpy" else
                  "as given")
            gradient = ("the float64 gradient" if self.framework != "numpy" else
                        f"the {self.mode_column('rev')} given (itself checked against f)")
            notes.append(f"order 2: the Hessian of {'f' if self.m == 1 else 'uᵀf (u random)'}"
                         f", {what}, {by}, against finite differences of {gradient}")
        for s in self.slots.values():
            if not s.size:
                notes.append(f"{s.name} has no elements: its gradient is checked only for its "
                             "shape (nothing to compare)")
            elif not s.finite.all():
                bad = np.flatnonzero(~s.finite)
                notes.append(f"{s.name}: {bad.size} element(s) are ±inf or NaN (e.g. "
                             f"{s.element(bad[0])}): not moved by finite differences, their "
                             "derivatives not compared")
        if self.m == 0:
            notes.append("the outputs have no elements: nothing to compare")
        kinks, rough = (list(dict.fromkeys(self.kinked[k])) for k in ("kink", "rough"))
        notes += list(dict.fromkeys(self.kinked.get("tie", [])))
        if kinks:
            notes.append(f"non-differentiable (kink) at {len(kinks)} element(s), e.g. "
                         f"{kinks[0]}: any value between the one-sided derivatives is accepted")
        if rough:
            notes.append(f"finite differences not used at {len(rough)} element(s) where their "
                         f"stencil straddles a kink or jump, e.g. {rough[0]}")
        if self.fn.vmap_note:
            notes.append(self.fn.vmap_note)
        failed = any(r.status == "fail" for r in rows)
        if check.layers or (check.layers is None and failed):
            notes += self._layers(failed)
        timings = dict(timings, prepare=self.prepare_seconds)
        return CheckResult(
            name=self.name, source=self.source, lets={}, kind="code",
            expression=[check.callable if isinstance(check.callable, str) else
                        getattr(check.callable, "__qualname__", self.name)],
            variables=list(self.slots), wrt=list(self.slots), order=check.order, npoints=1,
            methods=list(outputs), rows=rows, notes=notes, timings=timings,
            method_info={k: d.info for k, d in outputs.items() if d.info},
            reference_points=0, xfail=self.xfail, points={})


def _user_code(step, *args):
    """Run a step that calls the user's code: what it raises is the code's error (one line,
    exit 2), not gradcheck's."""
    try:
        return step(*args)
    except (GradcheckError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 -- raised inside the user's code (or its framework)
        raise GradcheckError(f"running the code raised {describe(exc)}") from None


def _check_signature(fn, names: list[str], kwargs: dict) -> None:
    """The inputs must fit the callable's parameters (when it tells them)."""
    target = getattr(fn, "forward", None) if hasattr(fn, "parameters") else None
    target = getattr(fn, "call", None) if target is None and hasattr(fn, "trainable_variables") \
        else target
    try:
        signature = inspect.signature(target or fn)
    except (TypeError, ValueError):  # builtins, C extensions, custom ops: nothing to check
        return
    try:
        signature.bind(*names, **kwargs)
    except TypeError as exc:
        raise GradcheckError(f"the inputs ({', '.join(names)}) do not fit the callable's "
                             f"signature {signature}: {exc}", field="inputs") from None


