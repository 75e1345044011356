"""Continuous actions: the Gaussian head's maths against hand computations, BC learning
a linear-Gaussian mapping, IQL and CQL beating BC on mixed-quality data, and the
command line from a recorded Pendulum dataset through train and evaluate.

Mutations these tests catch (checked by applying them, see tests/README.md): a
log-density without the tanh correction, a network that ignores the observation, IQL
with advantage weights of 1 (plain BC) and CQL's actor without its Q term."""
import dataclasses
import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offline_rl import agents
from offline_rl import networks
from offline_rl import specs
from offline_rl.datasets import converters
from offline_rl.datasets import features
from offline_rl.networks import continuous
import test_value_agents as value_tests

BOUNDED = specs.ArraySpec((2,), 'float32', minimum=-2.0, maximum=2.0)
UNBOUNDED = specs.ArraySpec((2,), 'float32')


def normal_log_density(x, mean, std):
  return -0.5 * ((x - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)


def test_log_prob_entropy_and_kl_equal_hand_computations():
  params = jnp.array([[0.3, -0.2, -0.5, 0.1]])  # mean (0.3, -0.2), log_std (-0.5, 0.1)
  action = np.array([[1.2, -0.4]], np.float32)
  std = np.exp([-0.5, 0.1])
  expected = sum(normal_log_density(a, m, s) for a, m, s in
                 zip(action[0], (0.3, -0.2), std))
  np.testing.assert_allclose(continuous.log_prob(UNBOUNDED, params, action), [expected],
                             rtol=1e-5)
  # Squashed to [-2, 2]: a = 2 tanh(u), so p(a) = N(u) / (2 (1 - tanh² u)).
  u = np.arctanh(action[0] / 2.0)
  expected = sum(normal_log_density(x, m, s) - math.log(2 * (1 - math.tanh(x) ** 2))
                 for x, m, s in zip(u, (0.3, -0.2), std))
  np.testing.assert_allclose(continuous.log_prob(BOUNDED, params, action), [expected],
                             rtol=1e-5)
  np.testing.assert_allclose(continuous.entropy(UNBOUNDED, params, jax.random.key(0)),
                             [sum(0.5 * math.log(2 * math.pi * math.e * s ** 2)
                                  for s in std)], rtol=1e-5)
  other = jnp.array([[0.0, 0.0, 0.0, 0.0]])
  expected_kl = sum(math.log(1 / s) + (s ** 2 + m ** 2) / 2 - 0.5
                    for m, s in zip((0.3, -0.2), std))
  np.testing.assert_allclose(continuous.kl(params, other), [expected_kl], rtol=1e-5)
  np.testing.assert_allclose(continuous.mode(BOUNDED, params),
                             2 * np.tanh([[0.3, -0.2]]), rtol=1e-6)


def test_samples_lie_within_bounds_and_carry_their_log_prob():
  params = jnp.array([[1.5, -1.0, 0.5, 0.5]])  # wide: many samples would leave [-2, 2]
  actions, log_prob = continuous.sample(BOUNDED, params, jax.random.key(1), (4096,))
  assert actions.shape == (1, 4096, 2) and log_prob.shape == (1, 4096)
  assert float(jnp.abs(actions).max()) <= 2.0
  repeated = jnp.broadcast_to(params[:, None], (1, 4096, 4))
  # Near a bound float32 cannot invert tanh precisely; compare inside.
  inside = np.asarray(jnp.abs(actions[0]).max(-1) < 1.9)
  assert inside.sum() > 1000
  np.testing.assert_allclose(
      np.asarray(continuous.log_prob(BOUNDED, repeated, actions)[0])[inside],
      np.asarray(log_prob[0])[inside], rtol=1e-3, atol=1e-3)
  uniform, density = continuous.uniform(BOUNDED, jax.random.key(2), (3, 5))
  assert uniform.shape == (3, 5, 2) and float(jnp.abs(uniform).max()) <= 2.0
  np.testing.assert_allclose(density, np.full((3, 5), -2 * math.log(4.0)), rtol=1e-6)


def continuous_spec(action: specs.ArraySpec, observation_size: int = 3) -> specs.EnvSpec:
  return specs.EnvSpec(env_id='test/continuous', version='0', num_players=1,
                       observation={'obs': specs.ArraySpec((observation_size,),
                                                           'float32')},
                       action={'action': action}, legal_action_mask=None,
                       max_episode_steps=8)


def test_gaussian_head_shapes_modes_and_candidate_q():
  config = dict(agents.default_config('iql').network.to_dict(), mlp_sizes=(16,),
                value_head=True, q_heads=True, use_prev_action=True)
  network = networks.make_network(continuous_spec(BOUNDED), config)
  inputs = networks.dummy_inputs(continuous_spec(BOUNDED), batch_size=3, time=2)
  params = network.init(jax.random.key(0), inputs)
  out, _ = network.apply(params, inputs, (), jax.random.key(1))
  assert out.logits['action'].shape == (3, 2, 4)
  assert out.action['action'].shape == (3, 2, 2)
  assert out.q['action'].shape == (3, 2) and out.value.shape == (3, 2)
  greedy, _ = network.apply(params, inputs, (), jax.random.key(1), greedy=True)
  np.testing.assert_allclose(greedy.action['action'],
                             continuous.mode(BOUNDED, out.logits['action']), rtol=1e-6)
  candidates = jnp.stack([greedy.action['action'], jnp.zeros((3, 2, 2))], axis=2)
  scored, _ = network.apply(params, inputs, (), jax.random.key(1),
                            actions={'action': candidates})
  assert scored.q['action'].shape == (3, 2, 2)
  forced, _ = network.apply(params, inputs, (), jax.random.key(1),
                            actions={'action': greedy.action['action']})
  np.testing.assert_allclose(scored.q['action'][:, :, 0], forced.q['action'], rtol=1e-5)
  with pytest.raises(ValueError, match='exactly one action head'):
    networks.make_network(dataclasses.replace(
        continuous_spec(BOUNDED), action={'a': BOUNDED, 'b': BOUNDED}), config)


def write(path, spec, episodes):
  """Writes episodes of (observations [L+1, X], actions [L, A], rewards [L])."""
  def flat():
    for seed, (obs, action, reward) in enumerate(episodes):
      steps = converters.transitions_to_steps(
          {'obs': obs[:-1]}, {'action': action}, reward, True, {'obs': obs[-1]})
      yield steps, {
          'env_id': spec.env_id, 'env_version': spec.version,
          'env_params': features.metadata_json(spec), 'seed': np.int64(seed),
          'seat': np.int32(0), 'policy_id': 'data', 'rating': np.float32(np.nan),
          'opponent_policy_id': '', 'opponent_rating': np.float32(np.nan),
          'outcome': np.float32(reward.sum()), 'length': np.int32(len(reward) + 1),
          'episode_return': np.float32(reward.sum())}
  converters.write_episodes(path, spec, flat())
  return str(path)


def modes(agent, run, observations):
  """The policy's mode [N, A] at observations [N, X]."""
  n = observations.shape[0]
  inputs = networks.dummy_inputs(agent.spec, batch_size=n, time=1)
  inputs = inputs._replace(observation={'obs': jnp.asarray(observations)[:, None]})
  out, _ = agent.network.apply(run.state.params, inputs, agent.network.initial_state(n),
                               jax.random.key(0), greedy=True)
  return np.asarray(out.action['action'][:, 0])


WEIGHTS = np.array([[1.0, -0.5, 0.3], [0.2, 0.8, -1.0]], np.float32)


def test_bc_learns_a_linear_gaussian_mapping(tmp_path):
  """a = W o + N(0, 0.1²): BC's mode recovers W o and its spread the noise."""
  rng = np.random.default_rng(0)
  spec = continuous_spec(UNBOUNDED)
  episodes = []
  for _ in range(200):
    obs = rng.normal(size=(5, 3)).astype(np.float32)
    action = (obs[:-1] @ WEIGHTS.T + 0.1 * rng.normal(size=(4, 2))).astype(np.float32)
    episodes.append((obs, action, np.zeros(4, np.float32)))
  dataset = write(tmp_path / 'linear', spec, episodes)
  agent, run = value_tests.train('bc', dataset, str(tmp_path / 'bc'), num_steps=600)
  test_obs = rng.normal(size=(256, 3)).astype(np.float32)
  error = np.abs(modes(agent, run, test_obs) - test_obs @ WEIGHTS.T).mean()
  assert error < 0.1, error  # ignoring the observation: about 1
  inputs = networks.dummy_inputs(spec, batch_size=256, time=1)._replace(
      observation={'obs': jnp.asarray(test_obs)[:, None]})
  out, _ = agent.network.apply(run.state.params, inputs, (), jax.random.key(0))
  std = float(jnp.exp(continuous.distribution(out.logits['action']).log_std).mean())
  assert 0.05 < std < 0.2, std


TARGETS = np.array([-0.5, 0.5], np.float32)


def reach_dataset(path):
  """Each step shows a target c in {-0.5, 0.5} and pays 1 - |a - c| / 2 for a torque
  a in [-1, 1]; half the episodes hit the target (noise 0.05), half act uniformly."""
  rng = np.random.default_rng(0)
  spec = continuous_spec(specs.ArraySpec((1,), 'float32', minimum=-1.0, maximum=1.0),
                         observation_size=1)
  episodes = []
  for episode in range(400):
    target = rng.choice(TARGETS, size=5).astype(np.float32)
    if episode % 2:
      action = rng.uniform(-1, 1, size=4)
    else:
      action = np.clip(target[:-1] + 0.05 * rng.normal(size=4), -1, 1)
    action = action.astype(np.float32)[:, None]
    reward = (1 - np.abs(action[:, 0] - target[:-1]) / 2).astype(np.float32)
    episodes.append((target[:, None], action, reward))
  return write(path, spec, episodes)


@pytest.fixture(scope='module')
def reach(tmp_path_factory):
  return reach_dataset(tmp_path_factory.mktemp('reach') / 'data')


def reach_error(agent, run):
  return float(np.abs(modes(agent, run, TARGETS[:, None])[:, 0] - TARGETS).mean())


@pytest.fixture(scope='module')
def bc_reach_error(reach, tmp_path_factory):
  agent, run = value_tests.train('bc', reach, str(tmp_path_factory.mktemp('bc')),
                                 num_steps=400)
  return reach_error(agent, run)


@pytest.mark.parametrize('name, section', [
    ('iql', dict(gamma=0.5, temperature=10.0)),
    ('cql', dict(gamma=0.5, alpha=1.0, entropy_weight=0.01)),
])
def test_value_agents_find_the_target_that_bc_blurs(name, section, reach, bc_reach_error,
                                                     tmp_path):
  """BC imitates the mixture (its mode falls between the target and the uniform
  half's mean); IQL and CQL follow the paying half."""
  agent, run = value_tests.train(name, reach, str(tmp_path / name), section,
                                 unroll_length=2, num_steps=400)
  error = reach_error(agent, run)
  assert bc_reach_error > 0.1, bc_reach_error
  assert error < 0.5 * bc_reach_error, (error, bc_reach_error)


def _cli(*args):
  return subprocess.run(
      [sys.executable, '-c',
       'import sys; from offline_rl import cli; cli.run(["offline-rl"] + sys.argv[1:])',
       *args], capture_output=True, text=True, timeout=600)


def test_pendulum_records_trains_and_evaluates_from_the_command_line(tmp_path):
  """data record -> data info -> train (IQL: value, Q(s, a) and the Gaussian policy)
  -> evaluate, on episodes cut to 20 steps."""
  controller = 'python:offline_rl.experiments.value_benchmark:pendulum_controller'
  dataset, workdir = str(tmp_path / 'pendulum'), str(tmp_path / 'iql')
  short = '--env_kwargs={"max_episode_steps": 20}'
  done = _cli('data', 'record', '--env=gym/Pendulum-v1', short,
              f'--matchup={controller}(0.0)', f'--matchup={controller}(1.0)',
              '--num_episodes=4', '--num_envs=2', dataset)
  assert done.returncode == 0, done.stderr
  done = _cli('data', 'info', dataset)
  assert done.returncode == 0 and 'action: float32[1]' in done.stdout, done.stdout
  done = _cli('train', '--config=experiments/iql.py', f'--config.dataset={dataset}',
              '--config.num_steps=4', '--config.updates_per_call=2',
              '--config.batch_size=8', '--config.unroll_length=2',
              '--config.network.mlp_sizes=(16,)', f'--workdir={workdir}')
  assert done.returncode == 0, done.stderr
  done = _cli('evaluate', '--env=gym/Pendulum-v1', short, f'--agent={workdir}',
              '--games=2', f'--store={tmp_path / "results.jsonl"}')
  assert done.returncode == 0, done.stderr
  assert 'mean return' in done.stdout, done.stdout


def test_a_minari_box_action_keeps_its_bounds(tmp_path, monkeypatch):
  """A Minari dataset's Box action imports with its bounds, so BC's policy is squashed
  into them."""
  monkeypatch.setenv('MINARI_DATASETS_PATH', str(tmp_path / 'minari'))
  import gymnasium as gym  # pylint: disable=g-import-not-at-top
  import minari  # pylint: disable=g-import-not-at-top
  from offline_rl import datasets  # pylint: disable=g-import-not-at-top
  env = minari.DataCollector(gym.make('Pendulum-v1', max_episode_steps=10))
  for episode in range(2):
    env.reset(seed=episode)
    for _ in range(10):
      env.step(env.action_space.sample())
  env.create_dataset(dataset_id='test/pendulum-v0', algorithm_name='random')
  env.close()
  dataset = datasets.import_minari('test/pendulum-v0', tmp_path / 'rlds')
  action = dataset.spec.action['action']
  assert (action.shape, action.minimum, action.maximum) == ((1,), -2.0, 2.0)
  assert networks.continuous.is_continuous(dataset.spec.action)
