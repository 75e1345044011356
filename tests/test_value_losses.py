"""The value agents' loss terms and losses against hand computations on tiny windows,
and the RLDS alignment that every batch source serves."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import windows

from offline_rl import agent as agent_lib
from offline_rl import data
from offline_rl import datasets
from offline_rl import losses
from offline_rl import networks
from offline_rl import specs
from offline_rl.agents.cql import losses as cql_losses
from offline_rl.agents.iql import losses as iql_losses
from offline_rl.agents.oac import losses as oac_losses
from offline_rl.environments import make
from offline_rl.environments import toy

ACTION = {'action': specs.ArraySpec((), 'int32', num_values=2)}


def fake_network():
  """A Network whose outputs are its params: logits, value and q per step [B, T]."""
  def apply(params, inputs, core_state, key, actions=None, greedy=False):
    del inputs, key, greedy
    return networks.NetworkOutputs(
        {'action': params['logits']}, actions, params.get('value'),
        None if 'q' not in params else {'action': params['q']}), core_state
  return networks.Network(None, apply, lambda batch: ())


def log_softmax(x):
  x = np.asarray(x, np.float64)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_lambda_returns_by_hand():
  r = np.array([[1.0, 0.5, 2.0, 0.0]])
  d = np.array([[1.0, 0.0, 1.0, 1.0]])  # the transition after step 1 is terminal
  v = np.array([[10.0, 20.0, 30.0, 40.0]])
  is_last = np.array([[False, False, True, False]])
  g = np.asarray(losses.lambda_returns(r, d, v, is_last, gamma=0.9, lambda_=0.5))
  # t=2 is the last step: G_1 = r_1 + γ d_1 v_2 (λ_1 = 0) = 0.5; G_2 = r_2 + γ v_3.
  g2 = 2.0 + 0.9 * 40.0
  g1 = 0.5 + 0.9 * 0.0 * 30.0
  g0 = 1.0 + 0.9 * 1.0 * (0.5 * 20.0 + 0.5 * g1)
  np.testing.assert_allclose(g, [[g0, g1, g2]], rtol=1e-6)


def test_emphatic_trace_by_hand():
  rho = np.array([[0.5, 2.0, 1.0, 1.0]], np.float32)
  where = np.array([[True, True, False, True]])
  d = np.ones((1, 4), np.float32)
  m = np.asarray(losses.emphatic_trace(rho, where, d, gamma=0.9, lambda_e=0.25,
                                       steps=3))
  # F_t = 1 + f_{t-1} + f_{t-1} f_{t-2} (n = 3), f_t = γ d_t ρ_t where t acts.
  f = [0.45, 1.8, 0.0, 0.9]
  follow_on = [1.0, 1 + f[0], 1 + f[1] + f[1] * f[0], 1 + f[2] + f[2] * f[1]]
  np.testing.assert_allclose(m[0], [0.25 + 0.75 * x for x in follow_on], rtol=1e-6)


def test_oac_and_eoac_losses_by_hand():
  rng = np.random.default_rng(0)
  logits, teacher = rng.normal(size=(1, 3, 2)), rng.normal(size=(1, 3, 2))
  value, target = rng.normal(size=(1, 3)), rng.normal(size=(1, 3))
  action = np.array([[0, 1, 1]])
  reward, discount = np.array([[0.5, -1.0, 2.0]]), np.array([[1.0, 1.0, 0.0]])
  batch = windows.window(action={'action': action}, reward=reward, discount=discount)
  gamma, lam, clip, weight = 0.9, 0.7, 1.2, 0.3
  cfg = dict(gamma=gamma, lambda_=lam, ratio_clip=clip, value_weight=1.0,
             policy_weight=1.0, distillation_weight=weight,
             distillation_direction='forward', distillation_decay_steps=0, emphatic=False,
             emphatic_steps=2,
             emphatic_lambda=0.5, head_weights={})
  net = fake_network()
  context = agent_lib.LossContext(
      target={'logits': jnp.zeros((1, 3, 2)), 'value': jnp.asarray(target)},
      teacher={'logits': jnp.asarray(teacher)}, step=0)
  params = {'logits': jnp.asarray(logits), 'value': jnp.asarray(value)}
  loss, metrics = oac_losses.oac_loss(net, net, ACTION, cfg, params, context, batch,
                                      jax.random.key(0))
  # By hand: returns for t = 0, 1, bootstrapped with the target's value at t = 2.
  g1 = reward[0, 1] + gamma * discount[0, 1] * target[0, 2]
  g0 = reward[0, 0] + gamma * discount[0, 0] * ((1 - lam) * target[0, 1] + lam * g1)
  g = np.array([g0, g1])
  value_loss = np.mean(0.5 * (value[0, :2] - g) ** 2)
  lp, lb = log_softmax(logits[0]), log_softmax(teacher[0])
  log_pi = lp[np.arange(3), action[0]]
  log_bc = lb[np.arange(3), action[0]]
  rho = np.minimum(clip, np.exp(log_pi - log_bc))
  advantage = g - target[0, :2]
  pg = np.mean(-rho[:2] * advantage * log_pi[:2])
  kl = np.mean(np.sum(np.exp(lb) * (lb - lp), -1))
  np.testing.assert_allclose(metrics['value/loss'], value_loss, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(metrics['policy/pg_loss'], pg, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(metrics['distillation/kl'], kl, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(loss, value_loss + pg + weight * kl, rtol=1e-4, atol=1e-6)
  # E-OAC: the policy gradient weighted by M_t = λ_e + (1 - λ_e) F_t, n = 2.
  _, metrics = oac_losses.oac_loss(net, net, ACTION, dict(cfg, emphatic=True), params,
                                   context, batch, jax.random.key(0))
  follow_on = np.array([1.0, 1.0 + gamma * rho[0]])
  emphasis = 0.5 + 0.5 * follow_on
  np.testing.assert_allclose(metrics['policy/pg_loss'],
                             np.mean(-emphasis * rho[:2] * advantage * log_pi[:2]),
                             rtol=1e-4, atol=1e-6)
  # Normalised advantages: (A - mean) / std over the window's two value steps.
  _, metrics = oac_losses.oac_loss(net, net, ACTION, dict(cfg, normalize_advantage=True),
                                   params, context, batch, jax.random.key(0))
  standard = (advantage - advantage.mean()) / advantage.std()
  np.testing.assert_allclose(metrics['policy/pg_loss'],
                             np.mean(-rho[:2] * standard * log_pi[:2]), rtol=1e-4, atol=1e-6)
  # A distillation schedule: the weight decays linearly to 0 over 10 updates.
  decayed = dict(cfg, distillation_decay_steps=10)
  for step, factor in ((5, 0.5), (20, 0.0)):
    loss_at, _ = oac_losses.oac_loss(net, net, ACTION, decayed, params,
                                     context._replace(step=step), batch,
                                     jax.random.key(0))
    np.testing.assert_allclose(loss_at, value_loss + pg + factor * weight * kl,
                               rtol=1e-4, atol=1e-6)
  # Without a target network, V̄ is the online value (no gradient).
  no_target = context._replace(target=None)
  _, metrics = oac_losses.oac_loss(net, net, ACTION, cfg, params, no_target, batch,
                                   jax.random.key(0))
  g1 = reward[0, 1] + gamma * discount[0, 1] * value[0, 2]
  g0 = reward[0, 0] + gamma * discount[0, 0] * ((1 - lam) * value[0, 1] + lam * g1)
  np.testing.assert_allclose(
      metrics['value/loss'], np.mean(0.5 * (value[0, :2] - np.array([g0, g1])) ** 2),
      rtol=1e-4, atol=1e-6)
  # The reverse direction is KL(π || π_BC).
  _, metrics = oac_losses.oac_loss(net, net, ACTION,
                                   dict(cfg, distillation_direction='reverse'), params,
                                   context, batch, jax.random.key(0))
  np.testing.assert_allclose(metrics['distillation/kl'],
                             np.mean(np.sum(np.exp(lp) * (lp - lb), -1)), rtol=1e-4, atol=1e-6)


def test_iql_loss_by_hand():
  rng = np.random.default_rng(1)
  logits, q, q_target = (rng.normal(size=(1, 3, 2)) for _ in range(3))
  value = rng.normal(size=(1, 3))
  action = np.array([[1, 0, 1]])
  reward, discount = np.array([[0.0, 1.0, 0.0]]), np.array([[1.0, 0.0, 1.0]])
  batch = windows.window(action={'action': action}, reward=reward, discount=discount)
  cfg = dict(gamma=0.9, expectile=0.7, temperature=2.0, max_weight=5.0,
             value_weight=1.0, q_weight=1.0, policy_weight=1.0, distillation_weight=0.0,
             distillation_direction='forward', distillation_decay_steps=0,
             head_weights={})
  net = fake_network()
  params = {'logits': jnp.asarray(logits), 'value': jnp.asarray(value),
            'q': jnp.asarray(q)}
  context = agent_lib.LossContext(
      target={'logits': jnp.asarray(logits), 'value': jnp.asarray(value),
              'q': jnp.asarray(q_target)}, teacher=None, step=0)
  loss, metrics = iql_losses.iql_loss(net, net, ACTION, cfg, params, context, batch,
                                      jax.random.key(0))
  t = np.arange(3)
  qt = q_target[0, t, action[0]]
  u = qt - value[0]
  value_loss = np.mean(np.abs(0.7 - (u < 0)) * u ** 2)
  y = reward[0, :2] + 0.9 * discount[0, :2] * value[0, 1:]
  q_loss = np.mean(0.5 * (q[0, t[:2], action[0, :2]] - y) ** 2)
  weights = np.minimum(np.exp(2.0 * u), 5.0)
  policy = np.mean(-weights * log_softmax(logits[0])[t, action[0]])
  np.testing.assert_allclose(metrics['value/loss'], value_loss, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(metrics['q/loss'], q_loss, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(metrics['policy/loss'], policy, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(loss, value_loss + q_loss + policy, rtol=1e-4, atol=1e-6)


def test_cql_loss_by_hand_with_two_heads_and_a_conditional_mask():
  spec = {'function': specs.ArraySpec((), 'int32', num_values=2),
          'arg': specs.ArraySpec((), 'int32', num_values=3)}
  rng = np.random.default_rng(2)
  q = {k: rng.normal(size=(1, 3, s.num_values)) for k, s in spec.items()}
  q_target = {k: rng.normal(size=(1, 3, s.num_values)) for k, s in spec.items()}
  # function 0 leaves one arg legal (no choice); function 1 allows args 0 and 2.
  arg_rows = np.array([[0, 1, 0], [1, 0, 1]], bool)
  mask = {'function': np.ones((1, 3, 2), bool),
          'arg': np.broadcast_to(arg_rows, (1, 3, 2, 3))}
  action = {'function': np.array([[1, 0, 1]]), 'arg': np.array([[2, 1, 0]])}
  reward, discount = np.array([[1.0, 0.0, 0.5]]), np.array([[1.0, 1.0, 0.0]])
  batch = windows.window(action=action, reward=reward, discount=discount,
                         legal_action_mask=mask)

  def apply(params, inputs, core_state, key, actions=None, greedy=False):
    return networks.NetworkOutputs(params, actions, None, params), core_state
  net = networks.Network(None, apply, lambda b: ())
  cfg = dict(gamma=0.9, alpha=0.5, distillation_weight=0.0,
             distillation_direction='forward', distillation_decay_steps=0,
             head_weights={})
  context = agent_lib.LossContext(jax.tree.map(jnp.asarray, q_target), None, 0)
  loss, metrics = cql_losses.cql_loss(net, net, spec, cfg, jax.tree.map(jnp.asarray, q),
                                      context, batch, jax.random.key(0))
  t = np.arange(3)
  legal_arg = arg_rows[action['function'][0]]  # [3, 3]
  best_arg = np.max(np.where(legal_arg, q_target['arg'][0], -np.inf), -1)
  y_function = best_arg[:2]
  y_arg = reward[0, :2] + 0.9 * discount[0, :2] * q_target['function'][0, 1:].max(-1)
  q_f = q['function'][0, t, action['function'][0]]
  q_a = q['arg'][0, t, action['arg'][0]]
  td = np.mean(0.5 * (q_f[:2] - y_function) ** 2) + np.mean(0.5 * (q_a[:2] - y_arg) ** 2)

  def lse(x, legal):
    x = np.where(legal, x, -np.inf)
    return np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1)) + x.max(-1)
  gap_f = lse(q['function'][0], np.ones((3, 2), bool)) - q_f
  gap_a = lse(q['arg'][0], legal_arg) - q_a
  # arg counts only where it has a choice and the logged value is legal: steps 0, 2.
  penalty = gap_f.mean() + gap_a[[0, 2]].mean()
  np.testing.assert_allclose(metrics['q/td_loss'], td, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(metrics['q/cql_penalty'], penalty, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(loss, td + 0.5 * penalty, rtol=1e-4, atol=1e-6)


def test_every_batch_source_serves_the_rlds_alignment(tmp_path):
  """Step t holds the reward for a_t: never a reward on `is_last`, the terminal
  transition's discount is 0, and the rewards sum to each episode's return."""
  env = make('toy/corridor-v0', length=4, max_steps=10)
  path = tmp_path / 'corridor'
  datasets.record(env, [(toy.bot(0.9, 1500.0), toy.bot(0.3, 800.0))], path,
                  num_episodes=16, seed=3, num_envs=8, progress=False, log=None)
  sources = {
      backend: data.make_iterator(str(path), batch_size=64, unroll_length=3, seed=0,
                                  validation_fraction=0.0, backend=backend)
      for backend in ('memory', 'stream')}
  batches = {name: next(it) for name, it in sources.items()}
  stacked = sources['memory'].next_many(2)
  batches['next_many'] = jax.tree.map(lambda x: x[1], stacked)
  for name, batch in batches.items():
    b = jax.tree.map(np.asarray, batch)
    inside = b.mask
    rewarded = inside & (b.reward != 0)
    assert rewarded.any(), name
    assert not (rewarded & b.is_last).any(), name
    # The step before a terminal last step carries the reward and discount 0.
    before_terminal = np.zeros_like(inside)
    before_terminal[:, :-1] = b.is_last[:, 1:] & b.is_terminal[:, 1:] & inside[:, 1:]
    assert before_terminal.any(), name
    assert np.all(b.discount[before_terminal] == 0.0), name
    assert np.all(b.reward[before_terminal] != 0.0), name
    # Every other transition whose successor is in the window continues: discount 1.
    inner = (inside & ~before_terminal & ~b.is_last)[:, :-1]
    assert np.all(b.discount[:, :-1][inner] == 1.0), name
  dataset = datasets.load(path)
  for e in range(dataset.num_episodes):
    episode = dataset.episode(e)
    np.testing.assert_allclose(np.sum(episode['steps']['reward']),
                               dataset.metadata['episode_return'][e])


def test_critic_diagnostic_by_hand():
  """The OAC critic check: AUC with ties, sign accuracy per decided step, draws out."""
  from offline_rl.agents.oac import diagnostics
  won = np.array([True, True, False, False])
  assert diagnostics.auc(np.array([0.9, 0.8, 0.1, 0.2]), won) == 1.0
  assert diagnostics.auc(np.array([0.1, 0.2, 0.9, 0.8]), won) == 0.0
  # One tie between a win and a loss counts ½: 3.5 of 4 pairs ordered.
  assert diagnostics.auc(np.array([0.9, 0.5, 0.5, 0.1]), won) == 0.875
  steps = diagnostics.ValueSteps(
      value=np.array([0.5, -0.2, -0.4, 0.3, 0.7]),
      advantage=np.array([0.1, np.nan, -0.3, 0.2, 0.0]),
      outcome=np.array([1, 1, -1, -1, 0]), window=np.array([0, 0, 1, 1, 2]),
      phase=np.array([0.1, 0.5, 0.2, 0.9, 0.5]))
  report = diagnostics.summarise(steps, bootstrap=200)
  assert report['decided_steps']['accuracy'] == 0.5  # Right at 0.5 and -0.4.
  assert report['decided_steps']['steps'] == 4 and report['draw_steps_left_out'] == 1
  assert report['by_phase']['first third']['accuracy'] == 1.0
  assert report['by_phase']['second third']['accuracy'] == 0.0
  assert report['auc'] == 0.75
  np.testing.assert_allclose(report['advantage_abs_mean'], 0.15)
  # Gradient agreement: cosines of the pairs, scale-free, over whole pytrees.
  grads = [{'a': np.array([1.0, 0.0]), 'b': np.array([0.0])},
           {'a': np.array([2.0, 0.0]), 'b': np.array([0.0])},
           {'a': np.array([0.0, 1.0]), 'b': np.array([1.0])}]
  agreement = diagnostics.gradient_agreement(grads)
  np.testing.assert_allclose(agreement['mean_cosine'], 1 / 3)  # 1, 0 and 0.
  assert agreement['min_cosine'] == 0.0 and agreement['max_cosine'] == 1.0
  np.testing.assert_allclose(agreement['gradient_norm'], (1 + 2 + 2 ** 0.5) / 3)


def test_oac_policy_gradient_reads_choice_steps_only_and_waits_for_the_critic():
  """A forced step (one legal value) carries no policy gradient: the PG term and the
  advantages' normalisation average over the choice steps only; before
  `policy_delay_steps` updates the PG term is off."""
  rng = np.random.default_rng(1)
  logits, teacher = rng.normal(size=(1, 4, 2)), rng.normal(size=(1, 4, 2))
  value = rng.normal(size=(1, 4))
  action = np.array([[1, 0, 0, 1]])
  legal = np.ones((1, 4, 2), bool)
  legal[0, 1, 1] = False  # step 1 is forced
  reward = np.array([[0.3, -0.2, 1.0, 0.0]])
  batch = windows.window(action={'action': action}, reward=reward,
                         legal_action_mask={'action': legal})
  gamma, lam = 0.9, 0.5
  cfg = dict(gamma=gamma, lambda_=lam, ratio_clip=1.0, value_weight=1.0,
             policy_weight=1.0, distillation_weight=0.0, distillation_direction='forward',
             distillation_decay_steps=0, emphatic=False, emphatic_steps=2,
             emphatic_lambda=0.5, head_weights={}, normalize_advantage=True)
  net = fake_network()
  context = agent_lib.LossContext(target=None, teacher={'logits': jnp.asarray(teacher)},
                                  step=0)
  params = {'logits': jnp.asarray(logits), 'value': jnp.asarray(value)}
  loss, metrics = oac_losses.oac_loss(net, net, ACTION, cfg, params, context, batch,
                                      jax.random.key(0))
  g = np.zeros(3)
  g[2] = reward[0, 2] + gamma * value[0, 3]
  for t in (1, 0):
    g[t] = reward[0, t] + gamma * ((1 - lam) * value[0, t + 1] + lam * g[t + 1])
  advantage = g - value[0, :3]
  choice = np.array([0, 2])
  standard = (advantage[choice] - advantage[choice].mean()) / advantage[choice].std()
  lp, lb = log_softmax(logits[0]), log_softmax(teacher[0])
  log_pi = lp[choice, action[0, choice]]
  rho = np.minimum(1.0, np.exp(log_pi - lb[choice, action[0, choice]]))
  pg = np.mean(-rho * standard * log_pi)
  np.testing.assert_allclose(metrics['policy/pg_loss'], pg, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(metrics['policy/choice_fraction'], 2 / 3, rtol=1e-6)
  value_loss = np.mean(0.5 * (value[0, :3] - g) ** 2)
  np.testing.assert_allclose(loss, value_loss + pg, rtol=1e-4, atol=1e-6)
  delayed = dict(cfg, policy_delay_steps=10)
  for step, expected in ((9, value_loss), (10, value_loss + pg)):
    loss_at, _ = oac_losses.oac_loss(net, net, ACTION, delayed, params,
                                     context._replace(step=step), batch, jax.random.key(0))
    np.testing.assert_allclose(loss_at, expected, rtol=1e-4, atol=1e-6)
