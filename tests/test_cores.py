"""offline_rl.cores: limiting the cores XLA:CPU computes on."""
import os

import pytest

from offline_rl import cores


def test_limits_the_process_before_jax_computes_and_refuses_after(run_python):
  script = '''
      import os
      import jax
      from offline_rl import cores
      allowed = os.sched_getaffinity(0)
      chosen = cores.limit_cores(1)
      assert len(chosen) == 1 and set(chosen) <= allowed, chosen
      assert os.sched_getaffinity(0) == set(chosen)
      assert float(jax.numpy.ones(3).sum()) == 3.0
      for late in (lambda: cores.limit_cores(1), cores.one_device_per_core):
        try:
          late()
        except RuntimeError as error:
          assert 'before JAX first computes' in str(error)
        else:
          raise AssertionError('no error after JAX computed')
      print('ok')
  '''
  assert 'ok' in run_python(script)


def test_the_least_busy_cores_are_chosen_lowest_first_among_equals():
  before = {0: 100, 1: 100, 2: 100, 3: 100}
  # Core 0 computed throughout the sample (another training pinned there), 2 half of it.
  after = {0: 125, 1: 101, 2: 112, 3: 101}
  assert cores.least_busy([0, 1, 2, 3], 1, before, after) == [1]
  assert cores.least_busy([0, 1, 2, 3], 3, before, after) == [1, 3, 2]
  assert cores.least_busy([0, 2], 1, before, after) == [2]
  assert cores.least_busy([0, 1, 2, 3], 2, None, None) == [0, 1]


def test_busy_ticks_read_every_core_and_grow():
  first = cores._busy_ticks()  # pylint: disable=protected-access
  if not os.path.exists('/proc/stat'):  # Not Linux: no readings, the lowest cores win.
    assert first is None
    return
  assert set(os.sched_getaffinity(0)) <= set(first)
  sum(i * i for i in range(2_000_000))  # Busy enough for a clock tick (10 ms).
  second = cores._busy_ticks()  # pylint: disable=protected-access
  assert all(second[c] >= first[c] for c in first)
  assert sum(second.values()) > sum(first.values())


def test_bad_counts_name_the_cores_available():
  allowed = sorted(os.sched_getaffinity(0))
  assert cores.limit_cores(0) == allowed
  with pytest.raises(ValueError, match=f'may use {len(allowed)} cores'):
    cores.limit_cores(len(allowed) + 1)
  with pytest.raises(ValueError, match='or 0 for all'):
    cores.limit_cores(-1)


def test_one_device_per_core(run_python):
  script = '''
      import os
      import jax
      from offline_rl import cores
      count = cores.one_device_per_core()
      assert count == len(os.sched_getaffinity(0)) == jax.device_count(), count
      print('ok')
  '''
  assert 'ok' in run_python(script)
