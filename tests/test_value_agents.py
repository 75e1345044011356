"""The value agents learn what behaviour cloning cannot, on a task whose answer depends
on the observation and arrives late: "Commit". Each episode draws a context c of 4;
the first action's function commits, and only the last transition pays 1 if that
function was good(c) = c mod 3. The behaviour data choose uniformly, so BC learns the
uniform policy, while OAC, E-OAC, IQL and CQL must carry the delayed reward back
through TD(λ) or Q targets to the first step of each context. The same data check
that distillation pulls towards BC and that a target network resumes exactly.

Mutations these tests catch (checked by applying them, see tests/README.md): rewards
read one step late (onto `is_last`, which carries none), a network that ignores the
observation, and a policy gradient of the wrong sign."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offline_rl import agents
from offline_rl import data
from offline_rl import datasets
from offline_rl import learner
from offline_rl import networks
from offline_rl import specs
from offline_rl.datasets import converters
from offline_rl.datasets import features

CONTEXTS, STEPS = 4, 3
SPEC = specs.EnvSpec(
    env_id='test/commit', version='0', num_players=1,
    observation={'obs': specs.ArraySpec((CONTEXTS + STEPS + 1 + 3,), 'float32')},
    action={'function': specs.ArraySpec((), 'int32', num_values=3),
            'arg': specs.ArraySpec((), 'int32', num_values=2)},
    legal_action_mask={'function': specs.ArraySpec((3,), 'bool'),
                       'arg': specs.ArraySpec((3, 2), 'bool')},
    max_episode_steps=STEPS)
ARG_ROWS = np.array([[1, 0], [1, 1], [1, 1]], bool)  # function 0 takes no argument


def good(context):
  return context % 3


def observation(context, t, first):
  obs = np.zeros(SPEC.observation['obs'].shape, np.float32)
  obs[context] = 1
  obs[CONTEXTS + t] = 1
  if first is not None:
    obs[CONTEXTS + STEPS + 1 + first] = 1
  return obs


def commit_episodes(num_episodes, skill, seed):
  """Episodes whose functions are good(c) with probability `skill`, else uniform."""
  rng = np.random.default_rng(seed)
  for _ in range(num_episodes):
    context = int(rng.integers(CONTEXTS))
    functions = np.where(rng.random(STEPS) < skill, good(context),
                         rng.integers(3, size=STEPS))
    args = np.where(functions == 0, 0, rng.integers(2, size=STEPS))
    first = int(functions[0])
    obs = [observation(context, t, None if t == 0 else first) for t in range(STEPS + 1)]
    reward = np.zeros(STEPS, np.float32)
    reward[-1] = float(first == good(context))
    flat = converters.transitions_to_steps(
        {'obs': np.stack(obs[:-1])}, {'function': functions.astype(np.int32),
                                      'arg': args.astype(np.int32)},
        reward, True, {'obs': obs[-1]})
    flat['steps/legal_action_mask/function'] = np.ones((STEPS + 1, 3), bool)
    flat['steps/legal_action_mask/arg'] = np.broadcast_to(ARG_ROWS, (STEPS + 1, 3, 2))
    yield flat, {
        'env_id': SPEC.env_id, 'env_version': SPEC.version,
        'env_params': features.metadata_json(SPEC), 'seed': np.int64(seed),
        'seat': np.int32(0), 'policy_id': f'skill-{skill}', 'rating': np.float32(skill),
        'opponent_policy_id': '', 'opponent_rating': np.float32(np.nan),
        'outcome': np.float32(reward.sum()), 'length': np.int32(STEPS + 1),
        'episode_return': np.float32(reward.sum())}


@pytest.fixture(scope='module')
def uniform_dataset(tmp_path_factory):
  path = tmp_path_factory.mktemp('commit') / 'uniform'
  converters.write_episodes(path, SPEC, commit_episodes(600, 0.0, seed=0))
  return str(path)


def section_name(name):
  return 'oac' if name == 'eoac' else name


def tiny(name, section=None, **overrides):
  """A small config of agent `name`; `section` updates its own section (`cfg.oac`)."""
  config = agents.default_config(name)
  config.network.mlp_sizes = (64, 64)
  config.network.value_hidden = (64,)
  # The episodes' ratings are their policies' skills: a rating input would let BC
  # play the best skill, and these tests measure what imitating the mixture misses.
  config.network.use_rating = False
  config.update(batch_size=64, num_steps=400, updates_per_call=100, log_every=100,
                checkpoint_every=0, seed=0)
  config.optimizer.learning_rate = 3e-3
  config.update(overrides)
  if section:
    config[section_name(name)].update(section)
  return config


def train(name, dataset, workdir, section=None, **overrides):
  return train_config(tiny(name, section, **overrides), dataset, workdir)


def train_config(config, dataset, workdir):
  name = str(config.agent)
  windows = data.make_iterator(dataset, batch_size=int(config.batch_size),
                               unroll_length=int(config.unroll_length),
                               seed=int(config.seed), validation_fraction=0.0)
  agent = agents.make(name, windows.spec, config)
  run = learner.Learner(agent, windows, config, workdir, progress=False,
                        tensorboard=False)
  run.train()
  run.close()
  return agent, run


def first_step_policy(agent, params):
  """[CONTEXTS, 3] the policy's function probabilities at each context's first step."""
  obs = np.stack([observation(c, 0, None) for c in range(CONTEXTS)])[:, None]
  inputs = networks.NetworkInputs(
      observation={'obs': jnp.asarray(obs)},
      legal_action_mask={'function': jnp.ones((CONTEXTS, 1, 3), bool),
                         'arg': jnp.broadcast_to(ARG_ROWS, (CONTEXTS, 1, 3, 2))},
      prev_action={'function': jnp.zeros((CONTEXTS, 1), jnp.int32),
                   'arg': jnp.zeros((CONTEXTS, 1), jnp.int32)},
      is_first=jnp.ones((CONTEXTS, 1), bool), rating=jnp.full((CONTEXTS, 1), jnp.nan))
  outputs, _ = agent.network.apply(params, inputs, agent.network.initial_state(CONTEXTS),
                                   jax.random.key(0), greedy=True)
  return np.asarray(jax.nn.softmax(outputs.logits['function'][:, 0]))


def good_probability(agent, params):
  probs = first_step_policy(agent, params)
  return probs[np.arange(CONTEXTS), good(np.arange(CONTEXTS))]


@pytest.fixture(scope='module')
def bc_run(uniform_dataset, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('bc'))
  agent, run = train('bc', uniform_dataset, workdir, num_steps=200)
  return workdir, good_probability(agent, run.params)


def test_bc_of_uniform_data_is_uniform(bc_run):
  _, p_good = bc_run
  np.testing.assert_allclose(p_good, 1 / 3, atol=0.08)


@pytest.fixture(scope='module')
def skilled_dataset(tmp_path_factory):
  path = tmp_path_factory.mktemp('commit') / 'skilled'
  converters.write_episodes(path, SPEC, commit_episodes(400, 0.8, seed=1))
  return str(path)


@pytest.mark.parametrize('network', [
    dict(),  # windows of one step, an MLP
    # windows of three steps through an LSTM core, with previous actions as inputs
    dict(unroll_length=3, core='lstm', core_size=32, use_prev_action=True),
])
def test_bc_follows_the_data_where_they_depend_on_the_context(
    network, skilled_dataset, tmp_path):
  """BC fits the behaviour's conditional distribution, P(good | c) = 0.8 + 0.2 / 3,
  which it can only do by reading the context in the observation."""
  network = dict(network)
  config = tiny('bc', unroll_length=network.pop('unroll_length', 1), num_steps=300)
  config.network.update(network)
  agent, run = train_config(config, skilled_dataset, str(tmp_path))
  p_good = good_probability(agent, run.params)
  np.testing.assert_allclose(p_good, 0.8 + 0.2 / 3, atol=0.07)


# Targets move fast (tau 0.05) so that the reward travels back three steps in 400
# updates; OAC's distillation is light so that one improvement step shows.
VALUE_AGENTS = {
    'oac': dict(distillation_weight=0.05, lambda_=1.0),
    'eoac': dict(distillation_weight=0.05, lambda_=1.0, target_network=True,
                 target_tau=0.05),
    'iql': dict(target_tau=0.05),
    'cql': dict(target_tau=0.05, alpha=0.1),
}


@pytest.mark.parametrize('name', sorted(VALUE_AGENTS))
def test_value_agents_find_the_delayed_reward_that_bc_cannot(
    name, uniform_dataset, bc_run, tmp_path):
  bc_dir, bc_good = bc_run
  agent, run = train(name, uniform_dataset, str(tmp_path), VALUE_AGENTS[name],
                     unroll_length=3, teacher=bc_dir)
  probs = first_step_policy(agent, run.params)
  assert np.all(np.argmax(probs, -1) == good(np.arange(CONTEXTS))), (name, probs)
  p_good = good_probability(agent, run.params)
  # CQL acts by softmax(Q): Q-values 1 apart give the good function at most e/(e+2).
  margin = 0.15 if name == 'cql' else 0.35
  assert p_good.mean() > bc_good.mean() + margin, (name, p_good, bc_good)


def test_distillation_pulls_oac_towards_bc(uniform_dataset, bc_run, tmp_path):
  """As the distillation weight grows, the KL to the BC teacher shrinks."""
  bc_dir, _ = bc_run
  kls = []
  for weight in (0.03, 3.0):
    _, run = train('oac', uniform_dataset, str(tmp_path / str(weight)),
                   dict(distillation_weight=weight, lambda_=1.0),
                   unroll_length=3, teacher=bc_dir, num_steps=200)
    kls.append(learner.read_metrics(run.workdir)[-1]['distillation/kl'])
  assert kls[1] < 0.5 * kls[0], kls


def test_a_target_network_resumes_bit_identically(uniform_dataset, bc_run, tmp_path):
  bc_dir, _ = bc_run
  config = tiny('oac', dict(target_network=True, target_tau=0.1), unroll_length=3,
                teacher=bc_dir,
                num_steps=30, updates_per_call=5, checkpoint_every=10, log_every=10)
  make_windows = lambda: data.make_iterator(uniform_dataset, batch_size=64,
                                            unroll_length=3, validation_fraction=0.0)
  agent = agents.make('oac', SPEC, config)
  whole = learner.Learner(agent, make_windows(), config, str(tmp_path / 'whole'),
                          progress=False, tensorboard=False).train()

  class Crash(Exception):
    pass

  def crash_at_25(params, step):
    if step == 25:
      raise Crash
    return {}
  first = learner.Learner(agent, make_windows(), config.copy_and_resolve_references(),
                          str(tmp_path / 'resumed'), eval_fn=crash_at_25,
                          progress=False, tensorboard=False)
  first.config.eval_every = 5
  with pytest.raises(Crash):
    first.train()
  resumed = learner.Learner(agent, make_windows(), config, str(tmp_path / 'resumed'),
                            progress=False, tensorboard=False)
  assert int(resumed.state.step) == 20
  final = resumed.train()
  same = lambda a, b: all(jax.tree.leaves(jax.tree.map(np.array_equal, a, b)))
  assert same(final.target, whole.target) and same(final.params, whole.params)
  assert same(final.opt_state, whole.opt_state)
  # The target moved (it is not the params, nor its initial value).
  assert not same(final.target, final.params)


@pytest.mark.parametrize('task, margin', [('breakout', 3.0), ('lunarlander', 200.0)])
def test_single_agent_tracks_mix_a_good_and_a_poor_policy(task, margin):
  """The benchmark's scripted policies are what its normalised scores assume: the good
  one scores far above the poor one (Breakout: about 18 against 0.6 over 500 steps;
  LunarLander: about 260 against -200)."""
  pytest.importorskip('minatar' if task == 'breakout' else 'Box2D')
  from offline_rl.experiments import value_benchmark
  task_setting = value_benchmark.setting(task)
  good, poor = (learner.evaluate(task_setting.env, task_setting.references[name], (), 4,
                                 seed=0)['return'] for name in ('good', 'poor'))
  assert good - poor > margin, (good, poor)
