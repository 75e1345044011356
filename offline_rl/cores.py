"""How many CPU cores this process, and so XLA:CPU, computes on.

XLA:CPU sizes its thread pools once, when JAX first computes, from the cores the
process may run on. For a small network two threads sharing each small matmul wait on
each other more than they gain: on the 2-core machine of docs/learner.md, BC's
256-256 MLP at batch 100 trains 1.3x faster end to end on one core. Larger batches
and networks gain from every core, so the default is all of them.
"""
from __future__ import annotations

import os

from jax._src import xla_bridge


def limit_cores(count: int) -> list[int]:
  """Runs this process on its first `count` allowed cores (0: leave them all).

  Call before JAX's first computation (`offline-rl train --cpu_cores=N` does).

  Returns:
    The cores the process now runs on.

  Raises:
    ValueError: `count` is negative or more than the process may use.
    RuntimeError: JAX has already computed, so its thread pools are sized.
  """
  allowed = sorted(os.sched_getaffinity(0))
  if count == 0:
    return allowed
  if not 0 < count <= len(allowed):
    raise ValueError(f'cpu_cores={count}: this process may use {len(allowed)} cores '
                     f'({allowed}); give 1..{len(allowed)}, or 0 for all.')
  if xla_bridge.backends_are_initialized():
    raise RuntimeError('limit_cores must run before JAX first computes: XLA has '
                       'already sized its thread pools. Call it at the start of the '
                       'program (offline-rl train --cpu_cores=N does).')
  os.sched_setaffinity(0, allowed[:count])
  return allowed[:count]
