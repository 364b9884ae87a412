"""Applies a remat plan to a torch.nn.Module by module path.

Every module named in plan.checkpoints gets its forward wrapped in
torch.utils.checkpoint.checkpoint(..., use_reentrant=False): its inner activations
are dropped after the forward and recomputed during the backward; only its inputs
stay alive. A selective policy (op -> save|recompute) is applied inside the wrapped
modules with torch.utils.checkpoint.create_selective_checkpoint_contexts where the
installed torch has it (PyTorch >= 2.4): the outputs of the aten ops run inside a
module named (or owning the op named) "save" are kept, everything else is
recomputed. Older torch has no selective checkpointing; such a plan is refused
unless the caller accepts recomputing everything inside the wrapped modules.
A multi-level plan (activations recomputed more than once) cannot be expressed
with torch.utils.checkpoint and is always refused.
"""
import threading
import warnings
from typing import Any, Dict, List, Mapping, Optional, Union

import torch
from torch.utils.checkpoint import checkpoint

from .plan import Plan, RematPlanError, load_plan

_tls = threading.local()


def has_selective_checkpointing() -> bool:
    """True when torch.utils.checkpoint has create_selective_checkpoint_contexts."""
    try:
        from torch.utils.checkpoint import (  # noqa: F401
            CheckpointPolicy, create_selective_checkpoint_contexts)
    except ImportError:
        return False
    return True


# Meters (measure.SavedBytesMeter) register here to learn the inputs each
# checkpointed call keeps alive: those are held by the checkpoint itself, not
# through saved-tensor hooks.
_input_listeners: List[Any] = []


def _notify_inputs(args, kwargs) -> None:
    if not _input_listeners:
        return
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    tensors += [v for v in kwargs.values() if isinstance(v, torch.Tensor)]
    for lst in list(_input_listeners):
        lst._note_checkpoint_inputs(tensors)


class AppliedPlan:
    """What apply_plan changed; remove() restores the original forwards."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.wrapped: List[str] = []
        self.selective: bool = False
        self._restore: List[Any] = []

    def remove(self) -> None:
        for undo in reversed(self._restore):
            undo()
        self._restore.clear()
        self.wrapped.clear()


def _closest(name: str, names: List[str], n: int = 3) -> List[str]:
    import difflib

    return difflib.get_close_matches(name, names, n=n, cutoff=0.6)


def _selective_owner(op: str, modules: Mapping[str, torch.nn.Module]) -> Optional[str]:
    """The module path an op name belongs to: the name itself or its longest prefix."""
    parts = op.split(".")
    for k in range(len(parts), 0, -1):
        cand = ".".join(parts[:k])
        if cand in modules:
            return cand
    return None


def apply_plan(model: torch.nn.Module, plan: Union[Plan, str, Mapping[str, Any]], *,
               selective_fallback: str = "error", preserve_rng_state: bool = True) -> AppliedPlan:
    """Wraps the plan's modules of model in activation checkpointing.

    plan: a Plan, a path to a plan YAML, or a parsed mapping.
    selective_fallback: what to do with a selective policy on a torch without
      selective checkpointing: "error" (default) raises RematPlanError;
      "recompute" warns and recomputes everything inside the wrapped modules
      (less memory and more compute than the plan predicts).
    Raises RematPlanError for a multi-level plan, an unknown or nested module path,
    or a selective policy naming nothing in the model.
    """
    if not isinstance(plan, Plan):
        plan = load_plan(plan)
    if selective_fallback not in ("error", "recompute"):
        raise ValueError("selective_fallback must be 'error' or 'recompute'")
    if plan.multilevel:
        raise RematPlanError(
            f"{plan.source}: this plan is multi-level (revolve/Rotor style: some activations are "
            "recomputed more than once), which torch.utils.checkpoint cannot express. Run it with "
            "remat's own executor (`remat validate --plan`), or plan again with a two-level solver "
            "(`remat plan --solver segment`).")
    modules: Dict[str, torch.nn.Module] = dict(model.named_modules())
    names = [n for n in modules if n]
    for path in plan.checkpoints:
        if ".." in path:
            raise RematPlanError(
                f"{plan.source}: checkpoint '{path}' is a segment running from one module into "
                "another, which wrapping modules in torch.utils.checkpoint cannot express; run the "
                "plan with remat's executor or plan with a solver whose segments are whole modules")
        if path not in modules or not path:
            hint = _closest(path, names)
            raise RematPlanError(
                f"{plan.source}: the model has no module '{path}'"
                + (f" (did you mean {', '.join(hint)}?)" if hint else "")
                + "; the plan was made for another model or another naming")
    cps = sorted(set(plan.checkpoints))
    for a in cps:
        for b in cps:
            if a != b and b.startswith(a + "."):
                raise RematPlanError(f"{plan.source}: checkpointed modules nest ({b} inside {a}); "
                                     "a two-level plan wraps disjoint modules")

    handle = AppliedPlan(plan)
    context_fn = None
    if plan.selective:
        owners: Dict[str, str] = {}
        for op, pol in plan.selective.items():
            owner = _selective_owner(op, modules)
            if owner is None:
                raise RematPlanError(f"{plan.source}: selective op '{op}' belongs to no module of the model")
            # "save" wins when one module owns several ops with different policies
            if owners.get(owner) != "save":
                owners[owner] = pol
        if has_selective_checkpointing():
            context_fn = _make_context_fn(owners)
            handle.selective = True
            _install_module_stack_hooks(model, cps, handle)
        elif selective_fallback == "error":
            raise RematPlanError(
                f"{plan.source}: the plan has a selective policy ({len(plan.selective)} ops) but torch "
                f"{torch.__version__} has no torch.utils.checkpoint.create_selective_checkpoint_contexts "
                "(PyTorch >= 2.4). Pass selective_fallback='recompute' to recompute everything inside "
                "the checkpointed modules (less memory, more compute than planned), or plan without "
                "selective checkpointing.")
        else:
            warnings.warn(
                f"torch {torch.__version__} has no selective checkpointing: recomputing everything "
                f"inside the {len(cps)} checkpointed modules instead of the plan's selective policy",
                RuntimeWarning, stacklevel=2)

    for path in plan.checkpoints:
        mod = modules[path]
        _wrap(mod, handle, context_fn, preserve_rng_state)
        handle.wrapped.append(path)
    return handle


def _wrap(mod: torch.nn.Module, handle: AppliedPlan, context_fn, preserve_rng_state: bool) -> None:
    had_own = "forward" in mod.__dict__
    orig = mod.forward

    def forward(*args, **kwargs):
        if not torch.is_grad_enabled():
            return orig(*args, **kwargs)
        _notify_inputs(args, kwargs)
        extra = {"context_fn": context_fn} if context_fn is not None else {}
        return checkpoint(orig, *args, use_reentrant=False, preserve_rng_state=preserve_rng_state,
                          **extra, **kwargs)

    mod.forward = forward

    def undo():
        if had_own:
            mod.forward = orig
        else:
            del mod.forward

    handle._restore.append(undo)


def _install_module_stack_hooks(model: torch.nn.Module, roots: List[str], handle: AppliedPlan) -> None:
    """Keeps a per-thread stack of the module paths running inside checkpointed
    modules, so the selective policy knows which module an aten op belongs to."""
    for name, mod in model.named_modules():
        if not any(name == r or name.startswith(r + ".") for r in roots):
            continue

        def pre(m, inp, _name=name):
            st = getattr(_tls, "stack", None)
            if st is None:
                st = _tls.stack = []
            st.append(_name)

        def post(m, inp, out, _name=name):
            st = getattr(_tls, "stack", None)
            if st and st[-1] == _name:
                st.pop()

        h1 = mod.register_forward_pre_hook(pre)
        h2 = mod.register_forward_hook(post)
        handle._restore.append(h1.remove)
        handle._restore.append(h2.remove)


def _make_context_fn(owners: Dict[str, str]):
    from functools import partial

    from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

    def policy(ctx, op, *args, **kwargs):
        for name in reversed(getattr(_tls, "stack", None) or []):
            pol = owners.get(name)
            if pol is not None:
                return CheckpointPolicy.MUST_SAVE if pol == "save" else CheckpointPolicy.PREFER_RECOMPUTE
        return CheckpointPolicy.PREFER_RECOMPUTE

    return partial(create_selective_checkpoint_contexts, policy)


def _main(argv=None) -> int:
    """python3 -m remat_torch.apply PLAN.yaml [--model DOTTED.FACTORY]: checks a plan
    can be applied and prints the code that applies it; with --model (a function
    returning the nn.Module, e.g. mypkg.models:build) it applies the plan to that
    model and lists what it wrapped."""
    import argparse
    import importlib
    import sys

    ap = argparse.ArgumentParser(prog="python3 -m remat_torch.apply",
                                 description="Check a remat plan and show how to apply it.")
    ap.add_argument("plan")
    ap.add_argument("--model", help="module:function returning the torch.nn.Module to apply it to")
    a = ap.parse_args(argv)
    try:
        plan = load_plan(a.plan)
        if plan.multilevel:
            raise RematPlanError(f"{plan.source}: multi-level plan: torch.utils.checkpoint cannot "
                                 "express it; run it with `remat validate --plan`")
        print(f"{len(plan.checkpoints)} modules to checkpoint (use_reentrant=False)")
        for c in plan.checkpoints:
            print(f"  {c}")
        if plan.selective:
            print(f"selective policy on {len(plan.selective)} ops: "
                  + ("supported by this torch" if has_selective_checkpointing()
                     else f"NOT supported by torch {torch.__version__} (needs >= 2.4)"))
        if a.model:
            modname, _, fn = a.model.partition(":")
            model = getattr(importlib.import_module(modname), fn or "build")()
            h = apply_plan(model, plan)
            print(f"applied: wrapped {len(h.wrapped)} modules")
        else:
            print("\nin your training script:\n"
                  "    from remat_torch import apply_plan\n"
                  f"    apply_plan(model, {a.plan!r})")
    except RematPlanError as e:
        print(f"remat_torch: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
