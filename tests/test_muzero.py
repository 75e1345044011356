"""MuZero Supervised and MZS-MCTS on the "Commit" task of test_value_agents.py: each
episode draws a context c; the first action's function commits, and only the last
transition pays 1 if that function was good(c). The behaviour data choose uniformly.
A model trained on them must predict the delayed reward from the first state through
its dynamics (the reward depends on the first action, three model steps back), and a
search with that model finds the good function that the uniform prior cannot.

Mutations these tests catch (checked by applying them, see tests/README.md)."""
import functools

import jax
import jax.numpy as jnp
import mctx
import numpy as np
import pytest
import windows
from test_value_agents import ARG_ROWS
from test_value_agents import CONTEXTS
from test_value_agents import SPEC
from test_value_agents import commit_episodes
from test_value_agents import good
from test_value_agents import observation
from test_value_agents import tiny
from test_value_agents import train_config
from test_value_agents import uniform_dataset  # pylint: disable=unused-import

from offline_rl import agent as agent_lib
from offline_rl import agents
from offline_rl import data
from offline_rl import errors
from offline_rl import learner
from offline_rl import losses
from offline_rl import mcts
from offline_rl import specs
from offline_rl import types
from offline_rl.agents.muzero import losses as mzs_losses
from offline_rl.agents.muzero import reanalyse
from offline_rl.agents.muzero import search
from offline_rl.datasets import converters
from offline_rl.networks import heads

FUNCTIONS = 3


def mzs_config(name='mzs', **section):
  config = tiny(name, unroll_length=4, num_steps=600)
  config.muzero.update(dict(gamma=1.0, lambda_=1.0, unroll_steps=3, target_tau=0.05,
                            **section))
  return config


def probe(agent, params):
  """Rewards [12, 3] predicted from the first state of every (context, first
  function) case along its actions, the value [12] after the first action, their
  targets (0, 0, 1[good]) and 1[good], and the predicted discounts [12, 4] after
  each action and one more past the end (targets 1, 1, 0, 0: the third action ends
  the episode)."""
  model = agent.loss.args[0]
  cases = [(c, f) for c in range(CONTEXTS) for f in range(FUNCTIONS)]
  obs = jnp.asarray(np.stack([observation(c, 0, None) for c, _ in cases]))[:, None]
  inputs = agents_inputs(obs, len(cases))
  outputs, _ = model.network.apply(params, inputs, model.network.initial_state(
      len(cases)), jax.random.key(0))
  embedding = outputs.embedding[:, 0]
  first = jnp.asarray([f for _, f in cases], jnp.int32)
  rewards, values, discounts = [], [], []
  for k in range(4):
    function = first if k == 0 else jnp.ones_like(first)
    embedding, reward, continuation = model.dynamics(
        params, embedding, {'function': function, 'arg': jnp.zeros_like(first)})
    _, _, value = model.predict(params, embedding, jax.random.key(k))
    rewards.append(reward)
    values.append(value)
    discounts.append(jax.nn.sigmoid(continuation))
  paid = np.asarray([float(f == good(c)) for c, f in cases])
  reward_target = np.stack([np.zeros(12), np.zeros(12), paid], 1)
  return (np.stack(rewards[:3], 1), np.asarray(values[0]), reward_target, paid,
          np.stack(discounts, 1))


def agents_inputs(obs, rows):
  from offline_rl import networks  # pylint: disable=g-import-not-at-top
  return networks.NetworkInputs(
      observation={'obs': obs},
      legal_action_mask={'function': jnp.ones((rows, 1, 3), bool),
                         'arg': jnp.broadcast_to(ARG_ROWS, (rows, 1, 3, 2))},
      prev_action={'function': jnp.zeros((rows, 1), jnp.int32),
                   'arg': jnp.zeros((rows, 1), jnp.int32)},
      is_first=jnp.ones((rows, 1), bool), rating=jnp.full((rows, 1), jnp.nan))


@pytest.fixture(scope='module')
def mzs_run(uniform_dataset, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('mzs'))
  return train_config(mzs_config(), uniform_dataset, workdir)


def test_k_step_predictions_improve_on_held_out_windows(mzs_run, tmp_path):
  """On episodes it never trained on, the model's reward, value and episode-end
  losses at every unroll step k fall with training (the learner's validation
  function, on the same windows before and after)."""
  agent, run = mzs_run
  path = tmp_path / 'held_out'
  converters.write_episodes(path, SPEC, commit_episodes(200, 0.0, seed=1))
  held_out = data.make_iterator(str(path), batch_size=64, unroll_length=4, seed=0,
                                validation_fraction=0.0).next_many(8)
  validate = jax.jit(learner.make_validate(agent.loss))
  def held_out_losses(params, target, step):
    context = agent_lib.LossContext(target, None, step)
    return validate(params, context, held_out, jax.random.PRNGKey(0))
  untrained = agent.init(jax.random.key(1))
  before = held_out_losses(untrained, untrained, 0)
  after = held_out_losses(run.params, run.state.target, run.state.step)
  # From s^k, k >= 1, every target is set by the actions taken: those losses fall
  # near 0. s^0's value at an episode's first step is a coin of 1/3 (the behaviour's
  # chance of committing the good function): its loss falls less.
  for k in range(1, 4):
    for term in ('value_loss', 'reward_loss', 'discount_loss'):
      name = f'unroll_{k}/{term}'
      assert after[name] < 0.05 * before[name], (name, before[name], after[name])
  name = 'unroll_0/value_loss'
  assert after[name] < 0.3 * before[name], (before[name], after[name])


def test_the_model_learns_the_delayed_reward_through_its_dynamics(mzs_run):
  """The K-step reward and value predictions improve with training: from the first
  state, along each case's actions, the model predicts no reward for two steps, then
  1[first function good]; the value after the first action is that same payoff."""
  agent, run = mzs_run
  mse = lambda a, b: float(np.mean(np.square(a - b)))
  untrained = probe(agent, agent.init(jax.random.key(1)))
  trained = probe(agent, run.params)
  errors_before = mse(untrained[0], untrained[2]), mse(untrained[1], untrained[3])
  errors_after = mse(trained[0], trained[2]), mse(trained[1], trained[3])
  assert errors_after[0] < 0.02 and errors_after[1] < 0.03, (errors_after, trained)
  assert errors_after[0] < 0.2 * errors_before[0], (errors_before, errors_after)
  assert errors_after[1] < 0.2 * errors_before[1], (errors_before, errors_after)


def test_the_model_learns_where_the_episode_ends(mzs_run):
  """The predicted discount is 1 after the first two actions and 0 after the third,
  which terminates the episode, and stays 0 one step past the end (absorbing)."""
  agent, run = mzs_run
  discounts = probe(agent, run.params)[4]
  assert np.all(discounts[:, :2] > 0.9), discounts
  assert np.all(discounts[:, 2:] < 0.1), discounts


def first_functions(policy, function_mask=(True, True, True), seeds=8):
  """[CONTEXTS, seeds] the policy's function at each context's first step."""
  def act(obs, key):
    timestep = types.TimeStep(
        observation={'obs': obs},
        legal_action_mask={'function': jnp.asarray(function_mask),
                           'arg': jnp.asarray(ARG_ROWS)},
        reward=jnp.float32(0), discount=jnp.float32(1), is_first=jnp.bool_(True),
        is_last=jnp.bool_(False), is_terminal=jnp.bool_(False))
    action, _ = policy.apply(policy.params, timestep, policy.init_state(key), key)
    return action['function']
  obs = jnp.asarray(np.stack([observation(c, 0, None) for c in range(CONTEXTS)]))
  keys = jax.random.split(jax.random.key(0), seeds)
  return np.asarray(jax.jit(jax.vmap(jax.vmap(act, (None, 0)), (0, None)))(obs, keys))


def test_search_with_the_model_finds_what_the_prior_cannot(mzs_run):
  """The prior is BC of uniform data; Gumbel search with the learned model plays the
  good function at every context (one step of policy improvement at inference).
  (PUCT, `search='muzero'`, misses a good function sampled once of 8: its min-max
  normalised Q-values stretch the noise between the equal children's values.)"""
  agent, run = mzs_run
  config = mzs_config('mzs_mcts', num_simulations=32, num_samples=8)
  planner = agents.make('mzs_mcts', SPEC, config)
  chosen = first_functions(planner.make_policy(run.params, greedy=True))
  assert np.all(chosen == good(np.arange(CONTEXTS))[:, None]), chosen
  prior = first_functions(agent.make_policy(run.params, greedy=False), seeds=64)
  p_good = np.mean(prior == good(np.arange(CONTEXTS))[:, None])
  assert 0.15 < p_good < 0.55, p_good


def test_sampled_search_never_chooses_an_illegal_action():
  """Random models, random legal masks (the argument's mask conditioned on the
  function): every searched action is legal, with and without the conditioning."""
  config = mzs_config('mzs_mcts', num_simulations=16, num_samples=4)
  planner = agents.make('mzs_mcts', SPEC, config)
  model = planner.loss.args[0]
  settings = search.SearchSettings(16, 'muzero', 4, 1.0, 3)
  rows = 256
  key = jax.random.key(3)
  function_mask = jax.random.bernoulli(key, 0.5, (rows, 3)).at[:, 2].set(True)
  arg_mask = jax.random.bernoulli(jax.random.fold_in(key, 1), 0.5, (rows, 3, 2))
  arg_mask = arg_mask.at[:, :, 1].set(~arg_mask[:, :, 0])  # one legal argument each
  for seed in range(3):
    params = planner.init(jax.random.key(seed))
    embedding = jax.random.uniform(jax.random.key(10 + seed), (rows, 64))
    action, _, _ = jax.jit(functools.partial(search.search, model, settings),
                           static_argnames='greedy')(
        params, embedding, {'function': function_mask, 'arg': arg_mask},
        jax.random.key(seed), greedy=seed == 0)
    function, arg = np.asarray(action['function']), np.asarray(action['arg'])
    assert np.asarray(function_mask)[np.arange(rows), function].all()
    assert np.asarray(arg_mask)[np.arange(rows), function, arg].all()


def test_enumerated_search_never_chooses_an_illegal_action():
  spec = specs.EnvSpec(
      env_id='test/one-head', version='0', num_players=1,
      observation={'obs': specs.ArraySpec((4,), 'float32')},
      action={'action': specs.ArraySpec((), 'int32', num_values=7)},
      legal_action_mask={'action': specs.ArraySpec((7,), 'bool')}, max_episode_steps=10)
  config = agents.default_config('mzs_mcts')
  config.network.mlp_sizes = (16,)
  config.network.value_hidden = (16,)
  config.muzero.update(num_samples=0, num_simulations=8)
  planner = agents.make('mzs_mcts', spec, config)
  model = planner.loss.args[0]
  settings = search.SearchSettings(8, 'gumbel', 0, 0.9, 3)
  rows = 128
  legal = jax.random.bernoulli(jax.random.key(0), 0.3, (rows, 7)).at[:, 6].set(True)
  action, output, _ = search.search(
      model, settings, planner.init(jax.random.key(1)),
      jax.random.uniform(jax.random.key(2), (rows, 16)), {'action': legal},
      jax.random.key(3), greedy=False)
  assert np.asarray(legal)[np.arange(rows), np.asarray(action['action'])].all()
  assert output.action_weights.shape == (rows, 7)


def test_a_multi_head_action_needs_sampling():
  config = agents.default_config('mzs_mcts')
  config.muzero.num_samples = 0
  with pytest.raises(errors.ConfigError, match='num_samples'):
    agents.make('mzs_mcts', SPEC, config)


def test_the_search_goes_no_deeper_than_the_model_was_unrolled():
  config = agents.default_config('mzs_mcts')
  config.muzero.update(unroll_steps=3, search_depth=1)
  assert agents.make('mzs_mcts', SPEC, config).loss.args[1].max_depth == 1
  config.muzero.search_depth = 4
  with pytest.raises(errors.ConfigError, match='search_depth'):
    agents.make('mzs_mcts', SPEC, config)


def test_nothing_past_the_episode_end_reaches_the_loss():
  """Windows whose episode ends inside them: whatever lies past `is_last` (steps
  with mask False: zero-filled by the sampler, here random) changes neither the loss
  nor its gradient; the unroll stops at the episode's end."""
  config = mzs_config()
  agent = agents.make('mzs', SPEC, config)
  params = agent.init(jax.random.key(0))
  rng = np.random.default_rng(0)
  batch_size, time = 8, 4
  is_last = np.zeros((batch_size, time), bool)
  is_last[:, 2] = True
  mask = np.arange(time)[None] <= 2
  mask = np.broadcast_to(mask, (batch_size, time))

  def make(fill):
    past = ~mask
    noise = lambda shape, high: rng.integers(high, size=shape)
    function = np.where(past & fill, noise((batch_size, time), 3),
                        noise((batch_size, time), 3) * 0 + 1).astype(np.int32)
    arg = np.where(past & fill, noise((batch_size, time), 2), 1).astype(np.int32)
    reward = np.where(past & fill, rng.normal(size=(batch_size, time)),
                      np.arange(time)[None] == 1)
    obs = np.where((past & fill)[..., None],
                   rng.normal(size=(batch_size, time, 11)), 0.5)
    return windows.window(
        action={'function': function, 'arg': arg}, reward=reward, is_last=is_last,
        mask=mask, observation={'obs': obs.astype(np.float32)},
        legal_action_mask={'function': np.ones((batch_size, time, 3), bool),
                           'arg': np.broadcast_to(ARG_ROWS, (batch_size, time, 3, 2))})
  context = agent_lib.LossContext(params, None, jnp.int32(0))
  grad = jax.jit(jax.value_and_grad(
      lambda p, b: agent.loss(p, context, b, jax.random.key(0))[0]))
  clean, clean_grad = grad(params, make(False))
  noisy, noisy_grad = grad(params, make(True))
  np.testing.assert_allclose(noisy, clean, rtol=1e-5)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-4, atol=1e-6),
               noisy_grad, clean_grad)


def test_past_an_episode_end_the_unroll_takes_every_action():
  """Inside the episode the dynamics follow the logged actions; past its end (whose
  padding here is one fixed action) they take every value of every head, so the
  absorbing targets hold for any action a search takes there (on Corridor, search
  found the last reward repeating after the end: docs/agents.md)."""
  batch_size, time = 64, 4
  is_last = np.zeros((batch_size, time), bool)
  is_last[:, 2] = True
  batch = windows.window(
      action={'function': np.ones((batch_size, time), np.int32),
              'arg': np.ones((batch_size, time), np.int32)},
      is_last=is_last, mask=np.broadcast_to(np.arange(time) <= 2, (batch_size, time)))
  action_spec = heads.ordered_action_spec(SPEC.action, SPEC.legal_action_mask)
  for k in (1, 2, 3):
    actions = mzs_losses.unroll_actions(action_spec, batch, k, jax.random.key(k))
    logged = max(0, 2 - (k - 1))  # steps t whose action a_{t+k-1} was logged
    for name, values in (('function', 3), ('arg', 2)):
      action = np.asarray(actions[name])
      np.testing.assert_array_equal(action[:, :logged], 1)
      assert set(np.unique(action[:, logged:])) == set(range(values)), (k, name)


def test_transition_targets_end_with_the_episode():
  """Hand-checked: two windows of 5 steps, both episodes end at step 3 (index 2), the
  first by the rules (discount 0 into it), the second by truncation. The discount
  targets of the transition k steps ahead are the logged ones inside the episode, 0
  past the terminal end (absorbing), and untrained past the truncation."""
  time = 5
  is_last = np.zeros((2, time), bool)
  is_last[:, 2] = True
  batch = windows.window(
      action={'a': np.zeros((2, time), np.int32)},
      reward=[[0.0, 1.0, 0, 0, 0], [0.5, 0.25, 0, 0, 0]],
      discount=[[1.0, 0.0, 0, 0, 0], [1.0, 1.0, 0, 0, 0]],
      is_last=is_last, is_terminal=is_last & [[True], [False]],
      mask=np.broadcast_to(np.arange(time) <= 2, (2, time)))
  n = False
  expected = {  # k: (reward, discount, where) rows of the two windows
      1: ([[0, 1, 0, 0, 0], [0.5, 0.25, 0, 0, 0]], [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0]],
          [[1, 1, n, n, n], [1, 1, n, n, n]]),
      2: ([[1, 0, 0, 0, 0], [0.25, 0, 0, 0, 0]], [[0, 0, 0, 0, 0], [1, 0, 0, 0, 0]],
          [[1, 1, n, n, n], [1, n, n, n, n]]),
      3: ([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
          [[1, 1, n, n, n], [n, n, n, n, n]])}
  for k, (reward, discount, where) in expected.items():
    got = mzs_losses.transition_targets(batch, k)
    np.testing.assert_array_equal(np.asarray(got[2]), np.asarray(where, bool), str(k))
    where = np.asarray(where, bool)
    np.testing.assert_allclose(np.asarray(got[0])[where], np.asarray(reward)[where])
    np.testing.assert_allclose(np.asarray(got[1])[where], np.asarray(discount)[where])


def test_discount_loss_is_the_binary_cross_entropy():
  """Hand-checked: logit 0 costs log 2 whatever the target; logit log 3 (σ = 3/4)
  costs -log(3/4) at target 1 and -log(1/4) at target 0; masked entries count
  nothing."""
  cases = ((0.0, 1.0, np.log(2.0)), (0.0, 0.0, np.log(2.0)),
           (np.log(3.0), 1.0, -np.log(0.75)), (np.log(3.0), 0.0, -np.log(0.25)))
  for logit, target, expected in cases:
    np.testing.assert_allclose(
        mzs_losses.discount_loss(jnp.float32([[logit, 50.0]]), jnp.float32([[target, 0]]),
                                 jnp.asarray([[True, False]])),
        expected, rtol=1e-6, err_msg=str((logit, target)))


def test_search_discounts_by_the_predicted_episode_end():
  """The recurrent function's discount is γ σ(ĉ) of the model's dynamics, so values
  and rewards after a predicted end count zero in the search."""
  config = agents.default_config('mzs_mcts')
  config.network.update(mlp_sizes=(16,), value_hidden=(16,))
  config.muzero.update(num_samples=0, num_simulations=4)
  agent = agents.make('mzs_mcts', one_head_spec(), config)
  model = agent.loss.args[0]
  params = agent.init(jax.random.key(0))
  embedding = jax.random.uniform(jax.random.key(1), (6, 16))
  children, _, _, _ = search.candidates(
      model, search.SearchSettings(4, 'gumbel', 0, 0.9, 3), params, embedding,
      jax.random.key(2))
  action = jnp.arange(6, dtype=jnp.int32) % 5
  output, _ = search.recurrent_fn(model, search.SearchSettings(4, 'gumbel', 0, 0.9, 3))(
      params, jax.random.key(3), action, search.Node(embedding, children))
  _, reward, continuation = model.dynamics(params, embedding, {'action': action})
  np.testing.assert_allclose(output.discount, 0.9 * jax.nn.sigmoid(continuation),
                             rtol=1e-6)
  np.testing.assert_allclose(output.reward, reward, rtol=1e-6)


def test_unscaled_values_keep_the_prior_where_values_are_flat():
  """Hand-made tree: the prior favours action 0 (logits 2, 0, 0); the children's
  values differ by 0.001 only, in favour of action 1. Min-max rescaled (mctx's
  default), that noise spans the whole [0, 1] and the greedy Gumbel search plays 1;
  in return units it weighs 0.001 x (50 + visits) x value_scale: at mctx's 0.1 the
  prior's 0 stays, at 100 (about 6.6 logits) the value wins again."""
  def recurrent_fn(params, key, action, first):  # first: the root's action, or -1
    del params, key
    first = jnp.where(first < 0, action, first)
    return mctx.RecurrentFnOutput(
        reward=jnp.zeros(1), discount=jnp.ones(1), prior_logits=jnp.zeros((1, 3)),
        value=0.001 * (first == 1)), first
  root = mctx.RootFnOutput(prior_logits=jnp.asarray([[2.0, 0.0, 0.0]]),
                           value=jnp.zeros(1), embedding=jnp.full(1, -1, jnp.int32))
  played = {
      (rescale, scale): int(mcts.search(
          None, jax.random.key(0), root, recurrent_fn, jnp.ones((1, 3), bool),
          kind='gumbel', num_simulations=16, temperature=0.0, rescale_values=rescale,
          value_scale=scale).action[0])
      for rescale, scale in ((True, 0.1), (False, 0.1), (False, 100.0))}
  assert played == {(True, 0.1): 1, (False, 0.1): 0, (False, 100.0): 1}, played


def test_the_unrolled_policy_learns_forced_actions():
  """Windows where every step allows one action only (a waiting seat's pass): the
  root's BC term skips them (AlphaStar's masking), but the unrolled policy π^k
  (k >= 1), which search follows into states whose masks it cannot see, is trained
  on them."""
  agent = agents.make('mzs', SPEC, mzs_config())
  batch_size, time = 4, 4
  forced_arg = np.zeros((batch_size, time, 3, 2), bool)
  forced_arg[..., 0] = True
  batch = windows.window(
      action={'function': np.ones((batch_size, time), np.int32),
              'arg': np.zeros((batch_size, time), np.int32)},
      observation={'obs': np.full((batch_size, time, 11), 0.5, np.float32)},
      legal_action_mask={'function': np.broadcast_to([False, True, False],
                                                     (batch_size, time, 3)),
                         'arg': forced_arg})
  params = agent.init(jax.random.key(0))
  _, metrics = agent.loss(params, agent_lib.LossContext(params, None, jnp.int32(0)),
                          batch, jax.random.key(1))
  assert float(metrics['unroll_0/policy_loss']) == 0.0, metrics
  assert float(metrics['unroll_1/policy_loss']) > 0.5, metrics


def one_head_spec():
  return specs.EnvSpec(
      env_id='test/one-head', version='0', num_players=1,
      observation={'obs': specs.ArraySpec((4,), 'float32')},
      action={'action': specs.ArraySpec((), 'int32', num_values=5)},
      legal_action_mask={'action': specs.ArraySpec((5,), 'bool')}, max_episode_steps=10)


def test_reanalyse_targets_equal_a_direct_mctx_search():
  """The targets Reanalyse computes inside the loss are those of one mctx call
  written here from the model's pure functions on the same inputs and key."""
  config = agents.default_config('mzs_mcts')
  config.network.update(mlp_sizes=(16,), value_hidden=(16,))
  config.muzero.update(num_samples=0, num_simulations=12, gamma=0.9)
  agent = agents.make('mzs_mcts', one_head_spec(), config)
  model = agent.loss.args[0]
  params = agent.init(jax.random.key(0))
  rng = np.random.default_rng(0)
  batch_size, time = 3, 4
  legal = rng.random((batch_size, time, 5)) < 0.6
  legal[..., 0] = True
  batch = windows.window(
      action={'action': rng.integers(1, size=(batch_size, time)).astype(np.int32)},
      observation={'obs': rng.normal(size=(batch_size, time, 4)).astype(np.float32)},
      legal_action_mask={'action': legal})
  key = jax.random.key(7)
  settings = search.SearchSettings(12, 'gumbel', 0, 0.9, 3)
  targets = reanalyse.targets(model, settings, params, batch, key)

  represent_key, search_key = jax.random.split(key)
  root, _ = model.network.apply(params, losses.network_inputs(batch), (),
                                represent_key)
  rows = batch_size * time

  def recurrent_fn(p, k, action, embedding):
    following, reward, continuation = model.dynamics(p, embedding, {'action': action})
    logits, _, value = model.predict(p, following, k)
    return mctx.RecurrentFnOutput(reward=reward,
                                  discount=0.9 * jax.nn.sigmoid(continuation),
                                  prior_logits=logits['action'], value=value), following
  _, mctx_key = jax.random.split(search_key)
  output = mctx.gumbel_muzero_policy(
      params, mctx_key,
      mctx.RootFnOutput(prior_logits=root.logits['action'].reshape(rows, 5),
                        value=root.value.reshape(rows),
                        embedding=root.embedding.reshape(rows, -1)),
      recurrent_fn, 12, invalid_actions=~jnp.asarray(legal[:, :].reshape(rows, 5)),
      max_depth=3, gumbel_scale=0.0)
  np.testing.assert_allclose(targets.policy.reshape(rows, 5), output.action_weights,
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(targets.value.reshape(rows),
                             output.search_tree.summary().value, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(targets.candidates['action'][0, 0], np.arange(5))
  assert np.all(np.asarray(targets.policy)[~legal] == 0)


@pytest.mark.slow
def test_reanalyse_trains_inside_the_compiled_update(uniform_dataset, tmp_path):
  """A fully reanalysed run (fraction 1) trains: its search targets are finite and
  its searched-policy cross-entropy falls."""
  config = mzs_config('mzs_mcts', num_simulations=8, num_samples=4,
                      reanalyse_fraction=1.0)
  config.update(num_steps=60, updates_per_call=20, log_every=20)
  _, run = train_config(config, uniform_dataset, str(tmp_path))
  logged = learner.read_metrics(run.workdir)
  first, last = logged[0]['unroll_0/searched_policy_loss'], logged[-1][
      'unroll_0/searched_policy_loss']
  assert np.isfinite(last) and last < first, (first, last)


@pytest.mark.slow
def test_sampled_search_plays_legal_skirmish_moves():
  """MZS-MCTS on Skirmish 8x8 (function x unit x target x delay, masks conditioned on
  the function): an untrained model's searched actions are legal at every step of
  a few batched games, for both seats (slow: compiling the search over Skirmish's
  torso takes minutes on 2 shared cores)."""
  from offline_rl.environments import make  # pylint: disable=g-import-not-at-top
  env = make('skirmish/8x8')
  config = agents.default_config('mzs_mcts')
  config.network.update(mlp_sizes=(32,), conv_channels=(8,), entity_width=16,
                        value_hidden=(16,))
  config.muzero.update(num_simulations=4, num_samples=4)
  agent = agents.make('mzs_mcts', env.spec, config)
  policy = agent.make_policy(agent.init(jax.random.key(0)), greedy=False)
  names = list(env.spec.action)
  games, seats = 4, env.spec.num_players

  def legal(mask, action):
    first = action[names[0]]
    ok = mask[names[0]][first]
    for name in names[1:]:
      row = mask[name][first] if mask[name].ndim == 2 else mask[name]
      ok &= row[action[name]] | ~row.any()
    return ok

  def act(timestep, state, key):
    return policy.apply(policy.params, timestep, state, key)
  act_all = jax.jit(jax.vmap(jax.vmap(act)))
  legal_all = jax.jit(jax.vmap(jax.vmap(legal)))
  env_state, timestep = jax.jit(jax.vmap(env.reset))(
      jax.random.split(jax.random.key(1), games))
  states = jax.vmap(jax.vmap(policy.init_state))(
      jax.random.split(jax.random.key(2), (games, seats)))
  step = jax.jit(jax.vmap(env.step))
  for t in range(6):
    views = jax.vmap(lambda ts: jax.vmap(lambda p: types.seat(ts, p))(
        jnp.arange(seats)))(timestep)
    action, states = act_all(views, states, jax.random.split(jax.random.key(10 + t),
                                                             (games, seats)))
    assert np.asarray(legal_all(views.legal_action_mask, action)).all(), t
    env_state, timestep = step(env_state, action)
