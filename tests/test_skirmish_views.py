"""Skirmish ecosystem views: gymnasium Env (check_env), VectorEnv, PettingZoo API tests."""
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import offline_rl.environments.skirmish  # noqa: F401  (registers the gymnasium ids)
from offline_rl.environments.skirmish import views


def test_gymnasium_env_passes_check_env():
  env = gymnasium.make('offline_rl/Skirmish-8x8-v0', opponent='ladder', level=1,
                       render_mode='rgb_array')
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    check_env(env.unwrapped)
  obs, info = env.reset(seed=3)
  assert env.observation_space.contains(obs)
  mask = info['legal_action_mask']
  assert mask['function'].shape == (10,) and mask['target'].shape == (10, 64)
  frame = env.render()
  assert frame.dtype == np.uint8 and frame.shape[2] == 3
  # An illegal action is counted in info and acts as a no-op.
  obs, reward, terminated, truncated, info = env.step(
      {'function': 7, 'unit': 0, 'target': 0, 'delay': 0})
  assert info['illegal_actions'] == 1 and not terminated
  with pytest.raises(ValueError, match='keys'):
    env.step({'function': 0})


def test_gymnasium_ids_and_bad_opponents():
  for size in (8, 16, 32):
    assert f'offline_rl/Skirmish-{size}x{size}-v0' in gymnasium.registry
  with pytest.raises(KeyError, match='Known bots'):
    views.SkirmishGymEnv(size=8, opponent='nobody')
  with pytest.raises(ValueError, match='level must be in'):
    views.SkirmishGymEnv(size=8, opponent='ladder', level=99)


def test_vector_env_autoresets_next_step():
  env = views.SkirmishVectorEnv(num_envs=3, size=8, opponent='rush-7')
  assert env.metadata['autoreset_mode'] == gymnasium.vector.AutoresetMode.NEXT_STEP
  obs, info = env.reset(seed=0)
  assert obs['planes'].shape == (3, 8, 8, 8)
  assert env.observation_space.contains(obs)
  noop = {'function': np.zeros(3, np.int64), 'unit': np.zeros(3, np.int64),
          'target': np.zeros(3, np.int64), 'delay': np.zeros(3, np.int64)}
  obs, reward, terminated, truncated, info = env.step(noop)
  assert not (terminated | truncated).any() and np.all(obs['scalars'][:, 1] > 0)
  # Jump to the last tick of the games: the next step truncates them.
  limit = env.game.max_ticks
  env._state = env._state.replace(tick=env._state.tick * 0 + limit - 1)  # pylint: disable=protected-access
  obs, reward, terminated, truncated, info = env.step(noop)
  assert truncated.all() and not terminated.any()
  obs, reward, terminated, truncated, info = env.step(noop)  # reset step
  assert not truncated.any() and np.all(reward == 0)
  assert np.all(obs['scalars'][:, 1] == 0)  # tick 0 of new games


def test_pettingzoo_parallel_and_aec_api_tests():
  from pettingzoo.test import api_test
  from pettingzoo.test import parallel_api_test
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    parallel_api_test(views.SkirmishParallelEnv(size=8), num_cycles=40)
    api_test(views.aec_env(size=8), num_cycles=40)
  env = views.SkirmishParallelEnv(size=8)
  obs, infos = env.reset(seed=1)
  assert set(obs) == {'player_0', 'player_1'}
  assert infos['player_1']['legal_action_mask']['unit'].shape == (10, 16)
