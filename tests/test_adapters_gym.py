"""gymnasium adapter: spaces, NEXT_STEP autoreset, masks, debug mode, rollouts."""
import gymnasium as gym
import jax
import numpy as np
import pytest

from offline_rl import rollout
from offline_rl import specs
from offline_rl.environments import adapters
from offline_rl.environments import make


@pytest.fixture(scope='module')
def cartpole():
  return make('gym/CartPole-v1', debug=True)


def test_cartpole_spec_and_conformance(cartpole):
  spec = cartpole.spec
  assert spec.env_id == 'gym/CartPole-v1' and spec.num_players == 1
  assert spec.observation == {'observation': specs.ArraySpec((4,), 'float32')}
  assert spec.action['action'].num_values == 2
  assert spec.max_episode_steps == 500
  report = adapters.check(cartpole, num_envs=3, num_steps=60)
  assert report.num_episodes > 0 and not report.violations


def test_rollout_records_cartpole_with_autoreset(cartpole):
  policy = adapters.random_policy(cartpole.spec)
  state = rollout.init(cartpole, [policy], jax.random.key(1), num_envs=2)
  run = rollout.make_run(cartpole, [policy], num_steps=40)
  state, steps = run(((),), state)
  ts = steps.timestep
  assert ts.observation['observation'].shape == (40, 2, 1, 4)
  assert steps.action['action'].shape == (40, 2, 1)
  last, first = np.asarray(ts.is_last), np.asarray(ts.is_first)
  assert last.any(), 'random CartPole episodes end within 40 steps'
  np.testing.assert_array_equal(first[1:], last[:-1])  # NEXT_STEP autoreset.
  assert np.all(np.asarray(ts.reward)[first] == 0)
  # CartPole pays +1 per step survived, including the terminal one.
  assert np.all(np.asarray(ts.reward)[~first] == 1)
  assert np.all(np.asarray(ts.discount)[np.asarray(ts.is_terminal)] == 0)


def test_time_limit_truncates_without_terminal():
  env = adapters.GymnasiumEnv('CartPole-v1', max_episode_steps=3)
  env.reset_batch(seed=0, num_envs=2)
  flags = [env.step_batch({'action': np.zeros((2, 1), np.int32)}) for _ in range(4)]
  assert env.spec.max_episode_steps == 3
  np.testing.assert_array_equal([f.is_last[0] for f in flags], [0, 0, 1, 0])
  assert not flags[2].is_terminal[0] and flags[2].discount[0] == 1
  assert flags[3].is_first[0] and flags[3].reward[0, 0] == 0


def test_taxi_action_mask_from_info():
  env = make('gym/Taxi-v4')
  assert env.spec.legal_action_mask == {'action': specs.ArraySpec((6,), 'bool')}
  ts = env.reset_batch(seed=3, num_envs=4)
  mask = ts.legal_action_mask['action']
  assert mask.shape == (4, 1, 6) and mask.dtype == bool
  assert not mask.all(), 'Taxi forbids some moves at most positions'
  raw = gym.make('Taxi-v4')
  _, info = raw.reset(seed=3)
  np.testing.assert_array_equal(mask[0, 0], info['action_mask'].astype(bool))


@pytest.mark.parametrize('kwargs, action', [
    ({}, specs.ArraySpec((), 'int32', num_values=4)),
    ({'continuous': True}, specs.ArraySpec((2,), 'float32', minimum=-1.0, maximum=1.0)),
])
def test_lunar_lander_discrete_and_continuous(kwargs, action):
  env = make('gym/LunarLander-v3', **kwargs)
  assert env.spec.action == {'action': action}
  assert (env.spec.legal_action_mask is None) == ('continuous' in kwargs)
  adapters.check(env, num_envs=2, num_steps=12)


def test_minatar_breakout():
  env = make('gym/MinAtar/Breakout-v1')
  assert env.spec.observation['observation'] == specs.ArraySpec((10, 10, 4), 'bool')
  adapters.check(env, num_envs=2, num_steps=30)


class _DictEnv(gym.Env):
  """A user's environment with Dict / MultiDiscrete / Tuple spaces and an info mask."""

  def __init__(self, bad_value=False, bad_dtype=False):
    self.observation_space = gym.spaces.Dict({
        'pos': gym.spaces.Box(-1.0, 1.0, (2,), np.float64),
        'cell': gym.spaces.Discrete(5, start=1),
        'tags': gym.spaces.Tuple((gym.spaces.MultiBinary(3), gym.spaces.MultiDiscrete([2, 4]))),
    })
    self.action_space = gym.spaces.Dict({
        'move': gym.spaces.Discrete(3), 'aim': gym.spaces.MultiDiscrete([2, 5])})
    self.bad_value, self.bad_dtype, self.t = bad_value, bad_dtype, 0

  def _obs(self):
    pos = np.full(2, 2.0 if self.bad_value and self.t > 1 else 0.5, np.float64)
    if self.bad_dtype:
      pos = pos.astype(np.float32)
    return {'pos': pos, 'cell': 1 + self.t % 5,
            'tags': (np.array([1, 0, 1], np.int8), np.array([1, 3], np.int64))}

  def reset(self, seed=None, options=None):
    super().reset(seed=seed)
    self.t = 0
    return self._obs(), {'action_mask': {'move': np.array([1, 1, 0], np.int8)}}

  def step(self, action):
    assert action['move'] in (0, 1) and action['aim'].shape == (2,)
    self.t += 1
    return (self._obs(), float(action['move']), self.t >= 4, False,
            {'action_mask': {'move': np.array([1, 1, 0], np.int8)}})


def test_user_class_dict_spaces_heads_and_masks():
  env = adapters.GymnasiumEnv(_DictEnv, env_id='mine/dict-v0', debug=True)
  spec = env.spec
  assert spec.observation['pos'] == specs.ArraySpec((2,), 'float32', minimum=-1, maximum=1)
  assert spec.observation['cell'].num_values == 5
  assert set(spec.observation['tags']) == {'0', '1'}
  # gymnasium's Dict sorts its keys; heads follow the space's order.
  assert list(spec.action) == ['aim_0', 'aim_1', 'move']
  assert [h.num_values for h in spec.action.values()] == [2, 5, 3]
  assert set(spec.legal_action_mask) == {'move', 'aim_0', 'aim_1'}
  ts = env.reset_batch(seed=0, num_envs=2)
  np.testing.assert_array_equal(ts.observation['cell'][:, 0], [0, 0])  # start shifted.
  np.testing.assert_array_equal(ts.legal_action_mask['move'][0, 0], [1, 1, 0])
  assert ts.legal_action_mask['aim_1'].all()
  report = adapters.check(env, num_envs=2, num_steps=12)
  assert report.num_episodes == 4  # Two episodes of four steps in each copy.


def test_debug_mode_reports_observation_outside_box():
  env = adapters.GymnasiumEnv(_DictEnv, bad_value=True, debug=True)
  env.reset_batch(seed=0, num_envs=2)
  env.step_batch({'move': np.zeros((2, 1)), 'aim_0': np.zeros((2, 1)), 'aim_1': np.zeros((2, 1))})
  with pytest.raises(adapters.SpaceViolation, match=r'observation/pos: 2 value\(s\) outside Box'):
    env.step_batch({'move': np.zeros((2, 1)), 'aim_0': np.zeros((2, 1)),
                    'aim_1': np.zeros((2, 1))})


def test_debug_mode_reports_wrong_dtype():
  env = adapters.GymnasiumEnv(_DictEnv, bad_dtype=True, debug=True)
  with pytest.raises(adapters.SpaceViolation, match='observation/pos: expected dtype float64'):
    env.reset_batch(seed=0, num_envs=1)


class _TextEnv(gym.Env):
  observation_space = gym.spaces.Text(8)
  action_space = gym.spaces.Discrete(2)


class _TupleActionEnv(gym.Env):
  observation_space = gym.spaces.Discrete(2)
  action_space = gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Discrete(3)))


def test_untranslatable_spaces_name_the_space_and_what_is_supported():
  with pytest.raises(adapters.UnsupportedSpaceError,
                     match=r"observation space at 'observation': Text.*Supported observation "
                           r'spaces: Box, Discrete'):
    adapters.GymnasiumEnv(_TextEnv)
  with pytest.raises(adapters.UnsupportedSpaceError,
                     match=r"action space at 'action': Tuple.*Supported action spaces: Discrete"):
    adapters.GymnasiumEnv(_TupleActionEnv)


def test_unknown_gymnasium_id_suggests_close_ids():
  with pytest.raises(KeyError, match=r"no environment 'CartPole-v9'.*CartPole-v1"):
    make('gym/CartPole-v9')
