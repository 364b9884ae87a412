"""Measuring what a PyTorch training step really holds, on any device.

SavedBytesMeter counts the bytes autograd keeps for the backward: every tensor a
forward op saves (through torch.autograd.graph.saved_tensors_hooks) plus the inputs
each checkpointed call keeps alive (apply.py reports them; they are held by the
checkpoint itself, not through the hooks). Each storage is counted once, at its
full size, and storages of parameters, buffers and the step's inputs are left out
(they are static memory in remat's model). Inside a checkpointed module the
checkpoint's own hooks take precedence, so what it drops is rightly not counted.

cpu_peak_bytes runs a function under torch.profiler with profile_memory=True and
replays the CPU allocator's allocation and free records: the highest total of
bytes allocated during the call above what was allocated before it.
"""
from typing import Any, Callable, Dict, Iterable, Tuple

import torch

from . import apply as _apply


def _storage(t: torch.Tensor):
    try:
        st = t.untyped_storage() if hasattr(t, "untyped_storage") else t.storage()
    except (RuntimeError, NotImplementedError):
        return None
    return st


def _key_bytes(t: torch.Tensor):
    st = _storage(t)
    if st is None:
        return None
    try:
        return (t.device.type, st.data_ptr()), int(st.nbytes())
    except (RuntimeError, NotImplementedError):
        return None


class SavedBytesMeter:
    """with SavedBytesMeter(exclude=[model, input_ids, targets]) as m: loss = step(...)
    then m.bytes is what autograd holds for the backward (see the module doc)."""

    def __init__(self, exclude: Iterable[Any] = ()):
        self._excluded = set()
        for x in exclude:
            if isinstance(x, torch.nn.Module):
                for p in x.parameters():
                    self._exclude_tensor(p)
                for b in x.buffers():
                    self._exclude_tensor(b)
            elif isinstance(x, torch.Tensor):
                self._exclude_tensor(x)
        self.storages: Dict[Tuple[str, int], int] = {}
        self.checkpoint_inputs = 0
        self._hooks = None

    def _exclude_tensor(self, t: torch.Tensor) -> None:
        kb = _key_bytes(t)
        if kb is not None:
            self._excluded.add(kb[0])

    def _note(self, t: torch.Tensor) -> None:
        kb = _key_bytes(t)
        if kb is None or kb[0] in self._excluded or kb[1] == 0:
            return
        k, b = kb
        if b > self.storages.get(k, 0):
            self.storages[k] = b

    def _pack(self, t):
        self._note(t)
        return t

    @staticmethod
    def _unpack(t):
        return t

    def _note_checkpoint_inputs(self, tensors) -> None:
        for t in tensors:
            before = len(self.storages)
            self._note(t)
            self.checkpoint_inputs += len(self.storages) - before

    @property
    def bytes(self) -> int:
        return sum(self.storages.values())

    def __enter__(self):
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        _apply._input_listeners.append(self)
        return self

    def __exit__(self, *exc):
        _apply._input_listeners.remove(self)
        self._hooks.__exit__(*exc)
        return False


def cpu_peak_bytes(fn: Callable[[], Any]) -> Tuple[int, int, Any]:
    """Runs fn() and returns (peak, end, fn's result): the highest and the final
    number of CPU bytes allocated during the call beyond what was allocated at its
    start, from the profiler's allocator records."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
    events = [e for e in prof.profiler.kineto_results.events()
              if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU]
    events.sort(key=lambda e: e.start_us())  # stable: same-microsecond records keep their order
    cur = peak = 0
    for e in events:
        cur += e.nbytes()
        peak = max(peak, cur)
    return peak, cur, result
