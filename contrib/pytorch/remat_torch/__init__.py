"""remat_torch: apply remat's activation-checkpointing plans to PyTorch modules and
export PyTorch models into remat's model-file format.

    plan = remat_torch.load_plan("plan.yaml")        # written by `remat plan`
    handle = remat_torch.apply_plan(model, plan)     # wraps the planned modules
    ...train...
    handle.remove()                                  # back to the original forwards

    text = remat_torch.export_yaml(model, example_inputs)   # for `remat profile --model-file`
"""
from .plan import Plan, RematPlanError, load_plan
from .apply import AppliedPlan, apply_plan, has_selective_checkpointing
from .measure import SavedBytesMeter, cpu_peak_bytes
from .export import ExportError, export_graph, export_yaml

__all__ = [
    "Plan", "RematPlanError", "load_plan",
    "AppliedPlan", "apply_plan", "has_selective_checkpointing",
    "SavedBytesMeter", "cpu_peak_bytes",
    "ExportError", "export_graph", "export_yaml",
]
