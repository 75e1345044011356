import jax
import numpy as np

from offline_rl import datasets
from offline_rl import rollout
from offline_rl.environments import make
from offline_rl.environments import toy


def test_rollout_autoresets_and_pairs_each_time_step_with_its_action():
  """The rollout's records keep the environment's dm_env time steps (a reward arrives
  with the step after its action); the recorder turns them into RLDS steps (next
  test)."""
  env = make('toy/corridor-v0', length=4, max_steps=10)
  policies = [toy.bot(1.0), toy.bot(0.0)]
  state = rollout.init(env, policies, jax.random.key(0), num_envs=3)
  run = rollout.make_run(env, policies, num_steps=8)
  state, steps = run(tuple(p.params for p in policies), state)
  ts = steps.timestep
  assert ts.is_first.shape == (8, 3)
  assert ts.observation['position'].shape == (8, 3, 2, 8)
  # The perfect bot arrives after 3 moves: steps 0..3 are one episode, 4 starts anew.
  np.testing.assert_array_equal(ts.is_last[:, 0], [0, 0, 0, 1, 0, 0, 0, 1])
  np.testing.assert_array_equal(ts.is_first[:, 0], [1, 0, 0, 0, 1, 0, 0, 0])
  # dm_env: a_2 wins, and its reward arrives with step 3, the last one.
  np.testing.assert_array_equal(ts.reward[:4, 0], [[0, 0], [0, 0], [0, 0], [1, -1]])
  assert steps.action['action'].shape == (8, 3, 2)
  np.testing.assert_array_equal(steps.action['action'][:3, :, 0], 2)
  # Deterministic given the key; a second call continues where the first stopped.
  state2, steps2 = run(tuple(p.params for p in policies),
                       rollout.init(env, policies, jax.random.key(0), num_envs=3))
  np.testing.assert_array_equal(steps2.action['action'], steps.action['action'])
  _, more = run(tuple(p.params for p in policies), state)
  assert bool(more.timestep.is_first[0, 0])


def test_recorder_writes_the_rlds_alignment(tmp_path):
  """Read back from disk, step t holds a_t, the reward a_t earned and the discount
  after it (RLDS; `types.TimeStep`); the last step holds no action and no reward."""
  env = make('toy/corridor-v0', length=4, max_steps=10)
  path = tmp_path / 'corridor'
  datasets.record(env, [(toy.bot(1.0), toy.bot(0.0))], path, num_episodes=1, seed=0,
                  num_envs=1, file_format='array_record', progress=False, log=None)
  dataset = datasets.load(path)
  winner, loser = (dataset.episode(seat)['steps'] for seat in (0, 1))
  # The perfect bot moves right three times (a_0, a_1, a_2) and a_2 reaches the end.
  np.testing.assert_array_equal(winner['action']['action'], [2, 2, 2, 0])
  np.testing.assert_array_equal(winner['reward'], [0, 0, 1, 0])
  np.testing.assert_array_equal(loser['reward'], [0, 0, -1, 0])
  for steps in (winner, loser):
    np.testing.assert_array_equal(steps['discount'], [1, 1, 0, 0])
    np.testing.assert_array_equal(steps['is_first'], [1, 0, 0, 0])
    np.testing.assert_array_equal(steps['is_last'], [0, 0, 0, 1])
    np.testing.assert_array_equal(steps['is_terminal'], [0, 0, 0, 1])
  assert dataset.episode(0)['metadata']['episode_return'] == 1.0


def test_spec_json_round_trip_keeps_the_action_heads_order():
  from offline_rl import specs
  heads = {name: specs.ArraySpec((), 'int32', num_values=3)
           for name in ('function', 'unit', 'target', 'delay')}
  spec = specs.EnvSpec('x', '0', 2, {'o': specs.ArraySpec((2,), 'float32')}, heads,
                       None, 10)
  again = specs.EnvSpec.from_json(spec.to_json())
  assert again == spec and list(again.action) == list(heads)
  assert specs.spec_mismatches(spec, again) == []


def test_games_split_over_one_cpu_device_per_core_give_the_same_records(run_python):
  """rollout.shard over two CPU devices: the same records as one device (a fresh
  process: JAX fixes its devices at the first computation)."""
  script = '''
      import jax, numpy as np
      from offline_rl import rollout
      from offline_rl.environments import make
      from offline_rl.environments import toy
      jax.config.update('jax_num_cpu_devices', 2)
      env = make('toy/corridor-v0', length=4, max_steps=10)
      policies = [toy.bot(0.7), toy.bot(0.4)]
      params = tuple(p.params for p in policies)
      run = rollout.make_run(env, policies, num_steps=12)
      state = rollout.init(env, policies, jax.random.key(3), num_envs=6)
      _, whole = run(params, state)
      sharded = rollout.shard(state)
      assert len(sharded.timestep.is_first.sharding.device_set) == 2
      _, split = run(params, sharded)
      for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(split)):
        np.testing.assert_array_equal(a, b)
      try:
        rollout.shard(rollout.init(env, policies, jax.random.key(3), num_envs=5))
      except ValueError as error:
        assert 'divisible by 2' in str(error)
      else:
        raise AssertionError('no error for 5 environments on 2 devices')
      print('ok')
  '''
  assert 'ok' in run_python(script)
