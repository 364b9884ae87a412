"""The trainer-facing part of a remat plan YAML.

A plan file (docs/plan-format.md) carries much more (the schedule, the prediction,
trainer fragments); a trainer adapter needs three keys:

    checkpoints: [transformer.h.0, transformer.h.2, ...]   # module paths to wrap
    selective: {transformer.h.0.attn.attn_core: recompute, transformer.h.0.mlp.c_fc: save}
    multilevel: false       # true: only remat's own executor can run the schedule

`selective` may also be a list of {op: NAME, policy: save|recompute} mappings.
Keys may sit at the top level or under a `plan:` mapping; everything else is kept
in Plan.raw for callers that want the prediction.
"""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Union
import os


class RematPlanError(ValueError):
    """A plan that cannot be applied as asked (bad file, unknown module, multilevel)."""


@dataclass
class Plan:
    checkpoints: List[str] = field(default_factory=list)
    selective: Dict[str, str] = field(default_factory=dict)  # op -> "save" | "recompute"
    multilevel: bool = False
    raw: Dict[str, Any] = field(default_factory=dict)
    source: str = "<dict>"


def _selective(value: Any, source: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    if value is None:
        return out
    items = []
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list):
        for i, e in enumerate(value):
            if not isinstance(e, Mapping) or "op" not in e or "policy" not in e:
                raise RematPlanError(f"{source}: selective[{i}] must be {{op: NAME, policy: save|recompute}}")
            items.append((e["op"], e["policy"]))
    else:
        raise RematPlanError(f"{source}: selective must be a mapping op -> save|recompute")
    for op, pol in items:
        pol = str(pol).lower()
        if pol not in ("save", "recompute"):
            raise RematPlanError(f"{source}: selective policy for {op!r} is {pol!r}, not save or recompute")
        out[str(op)] = pol
    return out


def plan_from_dict(d: Mapping[str, Any], source: str = "<dict>") -> Plan:
    if not isinstance(d, Mapping):
        raise RematPlanError(f"{source}: a plan is a YAML mapping")
    body = d.get("plan") if isinstance(d.get("plan"), Mapping) and "checkpoints" not in d else d
    cps = body.get("checkpoints", [])
    if cps is None:
        cps = []
    if not isinstance(cps, list) or not all(isinstance(c, str) and c for c in cps):
        raise RematPlanError(f"{source}: checkpoints must be a list of module paths")
    ml = body.get("multilevel", False)
    if not isinstance(ml, bool):
        raise RematPlanError(f"{source}: multilevel must be true or false")
    return Plan(checkpoints=list(cps), selective=_selective(body.get("selective"), source),
                multilevel=ml, raw=dict(d), source=source)


def load_plan(path_or_dict: Union[str, os.PathLike, Mapping[str, Any]]) -> Plan:
    """Reads a plan YAML file (or takes an already-parsed mapping)."""
    if isinstance(path_or_dict, Mapping):
        return plan_from_dict(path_or_dict)
    import yaml  # python3-yaml

    path = os.fspath(path_or_dict)
    try:
        with open(path, encoding="utf-8") as f:
            d = yaml.safe_load(f)
    except OSError as e:
        raise RematPlanError(f"{path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise RematPlanError(f"{path}: not valid YAML: {e}") from e
    return plan_from_dict(d, path)
