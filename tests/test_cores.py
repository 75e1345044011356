"""offline_rl.cores: limiting the cores XLA:CPU computes on."""
import os

import pytest

from offline_rl import cores


def test_limits_the_process_before_jax_computes_and_refuses_after(run_python):
  script = '''
      import os
      import jax
      from offline_rl import cores
      first = sorted(os.sched_getaffinity(0))[0]
      assert cores.limit_cores(1) == [first]
      assert os.sched_getaffinity(0) == {first}
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
