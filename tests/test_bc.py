"""BC and FT-BC learn: from a strong Corridor bot, through the CLI on a recorded
dataset (FT-BC warm-starts from BC and beats it), with rating conditioning, and on
CartPole (slow). The loss masks unused heads and illegal logged actions."""
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import windows

from offline_rl import agents
from offline_rl import data
from offline_rl import datasets
from offline_rl import learner
from offline_rl import losses as offline_losses
from offline_rl import specs
from offline_rl.environments import make
from offline_rl.environments import toy
from offline_rl.networks import heads

EXPERIMENT = os.path.join(os.path.dirname(__file__), '..', 'experiments', 'bc.py')
WEAK = 'offline_rl.environments.toy:bot(0.3)'


def tiny(config, **overrides):
  config.network.mlp_sizes = (32, 32)
  config.batch_size = 64
  config.updates_per_call = 50
  config.log_every = 50
  config.optimizer.learning_rate = 3e-3
  config.update(overrides)
  return config


@pytest.fixture(scope='module')
def env():
  return make('toy/corridor-v0', length=6, max_steps=20)


def corridor_data(path, batch_size=64, **kwargs):
  return data.make_iterator(path, batch_size=batch_size, unroll_length=1,
                            validation_fraction=0.0, **kwargs)


def test_bc_of_a_strong_bot_beats_a_weak_bot(env, corridor_dataset, tmp_path):
  windows = corridor_data(corridor_dataset, filters='rating>=1500')
  config = tiny(agents.default_config('bc'), num_steps=300)
  agent = agents.make('bc', env.spec, config)
  learner.Learner(agent, windows, config, str(tmp_path), progress=False).train()
  policy = learner.load_policy(str(tmp_path), greedy=False)
  assert policy.policy_id == 'bc'
  weak = toy.bot(0.3)
  trained = learner.evaluate(env, policy, [weak], num_episodes=200)
  fresh = dict(policy.params, network=agent.init(jax.random.PRNGKey(0)))
  untrained = learner.evaluate(env, policy._replace(params=fresh), [weak],
                               num_episodes=200)
  assert trained['win_rate'] > 0.85, trained
  assert untrained['win_rate'] < 0.6, untrained


def test_rating_conditioning_plays_at_the_requested_level(env, corridor_dataset,
                                                          tmp_path):
  windows = corridor_data(corridor_dataset)  # both seats
  config = tiny(agents.default_config('bc'), num_steps=400)
  config.network.use_rating = True
  agent = agents.make('bc', env.spec, config)
  run = learner.Learner(agent, windows, config, str(tmp_path), progress=False)
  run.train()
  assert run.meta['top_rating'] == 1500.0
  top = learner.load_policy(str(tmp_path))  # defaults to the top rating seen
  assert float(top.params['rating']) == 1500.0
  low = top._replace(params=dict(top.params, rating=jnp.float32(800.0)))
  opponent = toy.bot(0.5)
  wins_top = learner.evaluate(env, top, [opponent], 300)['win_rate']
  wins_low = learner.evaluate(env, low, [opponent], 300)['win_rate']
  assert wins_top > wins_low + 0.15, (wins_top, wins_low)


@pytest.fixture(scope='module')
def corridor_dataset(env, tmp_path_factory):
  path = tmp_path_factory.mktemp('data') / 'corridor'
  strong, weak = toy.bot(0.9, rating=1500.0), toy.bot(0.1, rating=800.0)
  datasets.record(env, [(strong, weak), (weak, strong)], str(path), num_episodes=128,
                  num_envs=64, progress=False, log=None)
  return str(path)


def experiment(name, **overrides):
  """The config `experiments/bc.py:<name>`, loaded as the command line loads it."""
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  config = config_flags.config_flags._LoadConfigModule(  # pylint: disable=protected-access
      'bc_experiment', EXPERIMENT).get_config(name)
  config.update(overrides)
  return config


def tiny_cli(config, dataset):
  config.update(dataset=dataset, batch_size=64, updates_per_call=50, log_every=50,
                eval_episodes=256, eval_opponent=WEAK, validation_fraction=0.0)
  config.network.mlp_sizes = (32, 32)
  return config


def test_bc_then_ftbc_on_a_recorded_dataset(corridor_dataset, tmp_path):
  """FT-BC's filter alone: without the rating input (which lets BC itself play the
  top-rated half, test_rating_conditioning_plays_at_the_requested_level), BC imitates
  the mixture and FT-BC on the top-rated half wins more."""
  from offline_rl.learner import experiment as experiment_lib  # pylint: disable=g-import-not-at-top
  bc_dir, ft_dir = str(tmp_path / 'bc'), str(tmp_path / 'ftbc')
  bc_config = tiny_cli(experiment('bc', num_steps=300, eval_every=300),
                       corridor_dataset)
  bc_config.optimizer.learning_rate = 3e-3
  bc_config.network.use_rating = False
  bc = experiment_lib.train(bc_config, bc_dir, progress=False)
  bc_eval = learner.read_metrics(bc_dir, 'eval')
  assert os.listdir(os.path.join(bc_dir, 'checkpoints')) == ['300']
  # FT-BC: the top-rated half at a lower rate with warm-up; it must start from BC.
  ft_config = tiny_cli(experiment('ftbc', num_steps=200, eval_every=200,
                                  init_from=bc_dir), corridor_dataset)
  ft_config.optimizer.learning_rate = 1e-3
  ft_config.network.use_rating = False
  assert ft_config.filters == 'rating>=1500'
  experiment_lib.train(ft_config, ft_dir, progress=False)
  ft_train = learner.read_metrics(ft_dir)
  ft_eval = learner.read_metrics(ft_dir, 'eval')
  # From scratch, 50 warm-up steps at <= 5e-5 leave the loss near log(3) = 1.1.
  assert ft_train[0]['loss'] < 0.6, ft_train[0]
  assert ft_eval[-1]['win_rate'] >= 0.8, ft_eval
  assert ft_eval[-1]['win_rate'] > bc_eval[-1]['win_rate'] + 0.05, (ft_eval, bc_eval)
  _, _, ft_meta = learner.load_agent(ft_dir)
  assert ft_meta['init_from'].startswith(bc.workdir)


def test_validation_windows_do_not_depend_on_the_training_seed(corridor_dataset):
  """Runs that differ only in their seed score the same held-out windows (so their
  validation losses compare), while their training windows differ."""
  from offline_rl.learner import experiment as experiment_lib  # pylint: disable=g-import-not-at-top
  def first(seed, split):
    config = tiny_cli(experiment('bc', seed=seed), corridor_dataset)
    config.validation_fraction = 0.25
    iterator = (experiment_lib.make_validation_iterator(config, None)
                if split == 'validation' else experiment_lib.make_iterator(config))
    return jax.tree.map(np.asarray, next(iterator))
  for leaf_0, leaf_1 in zip(jax.tree.leaves(first(0, 'validation')),
                            jax.tree.leaves(first(1, 'validation'))):
    np.testing.assert_array_equal(leaf_0, leaf_1)
  assert any(not np.array_equal(leaf_0, leaf_1) for leaf_0, leaf_1 in zip(
      jax.tree.leaves(first(0, 'train')), jax.tree.leaves(first(1, 'train'))))


def test_ftbc_needs_a_bc_run_and_a_matching_network(env, corridor_dataset, tmp_path):
  from offline_rl.learner import experiment as experiment_lib  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='init_from'):
    agents.make('ftbc', env.spec, experiment('ftbc', dataset='/data'))
  with pytest.raises(ValueError, match='config.dataset'):
    experiment_lib.check_config(experiment('bc'))
  windows = corridor_data(corridor_dataset)
  bc_config = tiny(agents.default_config('bc'), num_steps=50)
  bc_agent = agents.make('bc', env.spec, bc_config)
  bc_run = learner.Learner(bc_agent, windows, bc_config, str(tmp_path / 'bc'),
                           progress=False)
  bc_run.train()
  ft_config = tiny(agents.default_config('ftbc'), num_steps=50,
                   init_from=str(tmp_path / 'bc'))
  ft = learner.Learner(agents.make('ftbc', env.spec, ft_config), windows, ft_config,
                       str(tmp_path / 'ft'), progress=False)
  assert int(ft.state.step) == 0 and ft.meta['init_fresh'] == []
  assert all(jax.tree.leaves(jax.tree.map(np.array_equal, ft.params, bc_run.params)))
  wider = tiny(agents.default_config('ftbc'), init_from=str(tmp_path / 'bc'))
  wider.network.mlp_sizes = (48, 32)
  with pytest.raises(ValueError, match='does not fit this network'):
    learner.Learner(agents.make('ftbc', env.spec, wider), windows, wider,
                    str(tmp_path / 'wider'), progress=False)


def test_the_train_command_line(corridor_dataset, tmp_path):
  """The real `offline-rl train` parses config overrides and writes a run."""
  command = [os.path.join(os.path.dirname(sys.executable), 'offline-rl'), 'train',
             '--config', f'{EXPERIMENT}:bc', f'--config.dataset={corridor_dataset}',
             '--config.num_steps=20', '--config.updates_per_call=10',
             '--config.batch_size=16', '--config.network.mlp_sizes=(8,)',
             '--cpu_cores=1', f'--workdir={tmp_path}/run']
  result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'Trained bc to step 20' in result.stderr
  config = json.loads(open(f'{tmp_path}/run/config.json').read())
  assert config['num_steps'] == 20 and config['network']['mlp_sizes'] == [8]


def test_cross_entropy_masks_unused_heads_and_illegal_logged_actions():
  spec = {'function': specs.ArraySpec((), 'int32', num_values=3),
          'unit': specs.ArraySpec((), 'int32', num_values=3)}
  unit_rows = np.array([[1, 1, 0],    # function 0: two legal units
                        [0, 0, 0],    # function 1: uses no unit
                        [0, 1, 0]],   # function 2: one forced unit
                       bool)
  steps = 5
  mask = {'function': np.ones((1, steps, 3), bool),
          'unit': np.broadcast_to(unit_rows, (1, steps, 3, 3))}
  actions = {'function': np.array([[0, 1, 2, 0, 0]]), 'unit': np.array([[1, 0, 1, 2, 0]])}
  batch = windows.window(action=actions, legal_action_mask=mask,
                         is_last=np.array([[False, False, False, False, True]]))
  rows = heads.head_masks(spec, mask, actions)
  logits = {k: heads.apply_mask(jnp.zeros((1, steps, 3)), rows[k]) for k in spec}
  _, metrics = offline_losses.behaviour_cloning(spec, logits, batch)
  assert int(metrics['function/used_steps']) == 4
  assert float(metrics['function/illegal_logged']) == 0.0
  np.testing.assert_allclose(metrics['function/cross_entropy'], np.log(3), rtol=1e-6)
  # Unit: step 0 counts (2 legal); step 1 unused (no legal unit); step 2 forced;
  # step 3 logged an illegal unit; step 4 is the last (no action follows).
  assert int(metrics['unit/used_steps']) == 1
  np.testing.assert_allclose(metrics['unit/cross_entropy'], np.log(2), rtol=1e-6)
  np.testing.assert_allclose(metrics['unit/illegal_logged'], 1 / 4)
  # Head weights multiply each head's mean.
  loss, _ = offline_losses.behaviour_cloning(spec, logits, batch, {'unit': 3.0})
  np.testing.assert_allclose(loss, np.log(3) + 3 * np.log(2), rtol=1e-6)
  # The loss is finite and its gradient too, even with illegal logged actions.
  grad = jax.grad(lambda z: offline_losses.behaviour_cloning(
      spec, {'function': logits['function'], 'unit': heads.apply_mask(z, rows['unit'])},
      batch)[0])(jnp.zeros((1, steps, 3)))
  assert np.all(np.isfinite(grad)) and np.abs(grad[0, 3]).sum() == 0


def cartpole_controller(timestep, state, key):
  """A PD controller on pole angle and angular velocity (plus cart terms)."""
  del key
  x, x_dot, theta, theta_dot = jax.tree.leaves(timestep.observation)[0]
  push_right = theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot > 0
  return {'action': push_right.astype(jnp.int64)}, state


@pytest.mark.slow
def test_bc_on_cartpole_reaches_475(tmp_path):
  from offline_rl import types  # pylint: disable=g-import-not-at-top
  env = make('gym/CartPole-v1')
  expert = types.Policy('pd', lambda p, ts, s, k: cartpole_controller(ts, s, k), ())
  expert_return = learner.evaluate(env, expert, [], num_episodes=16)['return']
  assert expert_return >= 495, expert_return
  path = str(tmp_path / 'expert')
  datasets.record(env, [(expert,)], path, num_episodes=32, num_envs=16, progress=False,
                  log=None)
  expert_windows = data.make_iterator(path, batch_size=256, unroll_length=1,
                                validation_fraction=0.0)
  config = agents.default_config('bc')
  config.update(num_steps=3000, updates_per_call=100, log_every=500,
                checkpoint_every=3000)
  agent = agents.make('bc', env.spec, config)
  learner.Learner(agent, expert_windows, config, str(tmp_path / 'run'),
                  progress=False).train()
  policy = learner.load_policy(str(tmp_path / 'run'), greedy=True)
  result = learner.evaluate(env, policy, [], num_episodes=16)
  assert result['return'] >= 475, result
