"""How this process's CPU cores serve XLA:CPU, and how it joins other processes. All
three calls must come before JAX first computes: XLA sizes its thread pools and JAX its
devices once, then.

* `limit_cores(n)`: compute on n cores. For a small network two threads sharing each
  small matmul wait on each other more than they gain: on the 2-core machine of
  docs/learner.md, BC's 256-256 MLP at batch 100 trains 1.3x faster end to end on
  one core. Larger batches and networks gain from every core, so the default is all.
  It takes the least busy of the allowed cores, so two trainings started side by side
  with n = 1 run on different cores (the first core for both ran each at half speed).
* `one_device_per_core()`: one JAX CPU device per core. XLA:CPU does not split cheap
  element-wise kernels across threads, so a batch of many small games runs on one
  core; `offline_rl.rollout.shard` splits the games over the devices, one core each
  (Skirmish: 1.9x the single-device rate on 2 cores, docs/skirmish.md).
* `start_processes(...)`: joins JAX's multi-process runtime (`jax.distributed`), so
  that `jax.devices()` lists every process's devices (docs/scaling.md). Its barrier,
  `wait_for_processes(name)`, may be called at any time after it.
"""
from __future__ import annotations

import os
import time

import jax
from jax._src import xla_bridge


def limit_cores(count: int, sample_seconds: float = 0.25) -> list[int]:
  """Runs this process on the `count` least busy of its allowed cores (0: all of them).

  Busy is the time each core spent computing over `sample_seconds` (Linux's
  /proc/stat); ties, or a system without /proc/stat, go to the lowest core numbers.
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
  _check_jax_has_not_computed('limit_cores')
  chosen = allowed
  if count < len(allowed):  # Only a choice needs the sample.
    before = _busy_ticks()
    time.sleep(sample_seconds)
    chosen = sorted(least_busy(allowed, count, before, _busy_ticks()))
  os.sched_setaffinity(0, chosen)
  return chosen


def least_busy(allowed: list[int], count: int, before: dict[int, int] | None,
               after: dict[int, int] | None) -> list[int]:
  """The `count` cores of `allowed` that were busy least between two `_busy_ticks`
  readings, lowest numbers first among equals (all equal without readings)."""
  if before is None or after is None:
    return sorted(allowed)[:count]
  return sorted(allowed, key=lambda core: (after[core] - before[core], core))[:count]


def _busy_ticks() -> dict[int, int] | None:
  """Clock ticks each core has spent not idle since boot ({core: ticks}), None where
  /proc/stat cannot be read."""
  try:
    with open('/proc/stat', encoding='ascii') as stat:
      lines = stat.readlines()
  except OSError:
    return None
  ticks = {}
  for line in lines:
    name, *fields = line.split()
    if name.startswith('cpu') and name[3:].isdigit():
      values = [int(v) for v in fields]
      ticks[int(name[3:])] = sum(values) - values[3] - values[4]  # Less idle, iowait.
  return ticks


def one_device_per_core() -> int:
  """Makes JAX expose one CPU device per core this process may use.

  Returns:
    The number of CPU devices.

  Raises:
    RuntimeError: JAX has already computed, so its devices are fixed.
  """
  _check_jax_has_not_computed('one_device_per_core')
  count = len(os.sched_getaffinity(0))
  jax.config.update('jax_num_cpu_devices', count)
  return count


def _check_jax_has_not_computed(name: str) -> None:
  if xla_bridge.backends_are_initialized():
    raise RuntimeError(f'{name} must run before JAX first computes: XLA has already '
                       'sized its thread pools and devices. Call it at the start of '
                       'the program (offline-rl train --cpu_cores=N does).')


def start_processes(coordinator_address: str = '', num_processes: int = 0,
                    process_id: int = -1, auto_detect: bool = False) -> tuple[int, int]:
  """Joins JAX's multi-process runtime (`jax.distributed.initialize`) when asked.

  Asked means: any argument given, `auto_detect`, or `JAX_COORDINATOR_ADDRESS` set.
  Arguments left out come from JAX's own variables (`JAX_COORDINATOR_ADDRESS`,
  `JAX_NUM_PROCESSES`, `JAX_PROCESS_ID`) or its cluster detection (SLURM, Kubernetes
  via `jax.distributed`'s own rules, Cloud TPU, Open MPI). Not asked, nothing happens:
  one process, as before. Call before JAX first computes.

  Returns:
    (process index, process count).

  Raises:
    ValueError: asked, but the settings are incomplete or no cluster is detected.
  """
  asked = (coordinator_address or num_processes > 0 or process_id >= 0 or auto_detect
           or os.environ.get('JAX_COORDINATOR_ADDRESS'))
  if asked and not jax.distributed.is_initialized():
    _check_jax_has_not_computed('start_processes')
    try:
      jax.distributed.initialize(coordinator_address or None, num_processes or None,
                                 None if process_id < 0 else process_id)
    except (ValueError, RuntimeError) as error:
      raise ValueError(
          f'cannot join a multi-process run ({error}). Give --coordinator_address=HOST:'
          'PORT --num_processes=N --process_id=I on every process, or run under '
          'SLURM, Kubernetes or Cloud TPU with --distributed (docs/scaling.md).'
      ) from error
  return jax.process_index(), jax.process_count()


def wait_for_processes(name: str) -> None:
  """Returns once every process of a multi-process run has called it with `name`; at
  once in a run of one process."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(name)
