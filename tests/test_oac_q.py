"""OAC with `oac.advantage='q'`: the critic learns Q^μ per action head and each head's
policy gradient is weighted by its own learned advantage (agents/oac/losses.py).

Mutations these tests catch (checked, see tests/README.md): the hand computation any
change of the Q target, the per-head baseline or the heads' masks; the learning test a
Q target that ignores the logged action (q regressed on V̄(s_t)): its advantages
vanish and the policy stays at BC."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import windows
from test_value_agents import CONTEXTS, SPEC as COMMIT, bc_run, first_step_policy, good, \
    good_probability, train, uniform_dataset  # noqa: F401 (fixtures)

from offline_rl import agent as agent_lib
from offline_rl import agents
from offline_rl import errors
from offline_rl import networks
from offline_rl import specs
from offline_rl.agents.oac import losses as oac_losses

SPEC = {'function': specs.ArraySpec((), 'int32', num_values=2),
        'arg': specs.ArraySpec((), 'int32', num_values=3)}
ILLEGAL = -1e9


def log_softmax(x):
  x = np.asarray(x, np.float64)
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_q_advantage_loss_by_hand_with_two_heads_and_a_conditional_mask():
  rng = np.random.default_rng(3)
  # function 0 leaves one arg legal (no choice); function 1 allows args 0 and 2.
  arg_rows = np.array([[0, 1, 0], [1, 0, 1]], bool)
  action = {'function': np.array([[1, 0, 1]]), 'arg': np.array([[2, 1, 0]])}
  legal_arg = arg_rows[action['function'][0]][None]  # [1, 3, 3] given the logged f
  legal = {'function': np.ones((1, 3, 2), bool), 'arg': legal_arg}
  # The network's logits come masked (ILLEGAL where a value is illegal).
  masked = lambda x, n: np.where(legal[n], x, ILLEGAL)
  logits = {n: masked(rng.normal(size=(1, 3, s.num_values)), n) for n, s in SPEC.items()}
  teacher = {n: masked(rng.normal(size=(1, 3, s.num_values)), n) for n, s in SPEC.items()}
  q = {n: rng.normal(size=(1, 3, s.num_values)) for n, s in SPEC.items()}
  value = rng.normal(size=(1, 3))
  reward, discount = np.array([[0.5, -1.0, 0.0]]), np.array([[1.0, 1.0, 1.0]])
  batch = windows.window(action=action, reward=reward, discount=discount,
                         legal_action_mask={'function': np.ones((1, 3, 2), bool),
                                            'arg': np.broadcast_to(arg_rows, (1, 3, 2, 3))})

  def apply(params, inputs, core_state, key, actions=None, greedy=False):
    return networks.NetworkOutputs(params['logits'], actions, params.get('value'),
                                   params.get('q')), core_state
  net = networks.Network(None, apply, lambda b: ())
  gamma, lam, clip, q_weight = 0.9, 0.6, 1.5, 0.7
  cfg = dict(gamma=gamma, lambda_=lam, ratio_clip=clip, value_weight=1.0,
             policy_weight=1.0, distillation_weight=0.0, distillation_direction='forward',
             distillation_decay_steps=0, emphatic=False, emphatic_steps=2,
             emphatic_lambda=0.5, head_weights={}, advantage='q', q_weight=q_weight)
  params = jax.tree.map(jnp.asarray, dict(logits=logits, value=value, q=q))
  context = agent_lib.LossContext(target=None, teacher={'logits': jax.tree.map(
      jnp.asarray, teacher)}, step=0)
  loss, metrics = oac_losses.oac_loss(net, net, SPEC, cfg, params, context, batch,
                                      jax.random.key(0))
  # TD(λ) returns of t = 0, 1, bootstrapped with the online V at t = 2.
  g1 = reward[0, 1] + gamma * value[0, 2]
  g0 = reward[0, 0] + gamma * ((1 - lam) * value[0, 1] + lam * g1)
  g = np.array([g0, g1])
  value_loss = np.mean(0.5 * (value[0, :2] - g) ** 2)
  t = np.arange(2)
  q_logged = {n: q[n][0, t, action[n][0, :2]] for n in SPEC}
  q_loss = sum(np.mean(0.5 * (q_logged[n] - g) ** 2) for n in SPEC)
  # Head h's advantage: its logged Q minus its Q's mean under the BC head.
  adv = {n: q_logged[n] - (np.exp(log_softmax(teacher[n][0, :2])) *
                           np.where(legal[n][0, :2], q[n][0, :2], 0.0)).sum(-1)
         for n in SPEC}
  used = {'function': np.array([True, True]), 'arg': np.array([True, False])}
  lp = {n: log_softmax(logits[n][0, :2])[t, action[n][0, :2]] for n in SPEC}
  lb = {n: log_softmax(teacher[n][0, :2])[t, action[n][0, :2]] for n in SPEC}
  rho = np.minimum(clip, np.exp(sum(np.where(used[n], lp[n] - lb[n], 0.0) for n in SPEC)))
  pg = np.mean(-rho * sum(np.where(used[n], adv[n] * lp[n], 0.0) for n in SPEC))
  np.testing.assert_allclose(metrics['q/loss'], q_loss, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(metrics['policy/pg_loss'], pg, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(loss, value_loss + pg + q_weight * q_loss, rtol=1e-4,
                             atol=1e-6)
  # Normalised: each head over its own choice steps (arg has one: its A becomes 0).
  _, metrics = oac_losses.oac_loss(net, net, SPEC, dict(cfg, normalize_advantage=True),
                                   params, context, batch, jax.random.key(0))
  standard = (adv['function'] - adv['function'].mean()) / adv['function'].std()
  np.testing.assert_allclose(metrics['policy/pg_loss'],
                             np.mean(-rho * standard * lp['function']), rtol=1e-4,
                             atol=1e-6)


def test_an_unknown_advantage_is_a_config_error():
  config = agents.default_config('oac')
  config.oac.advantage = 'sarsa'
  with pytest.raises(errors.ConfigError, match="oac.advantage is one of"):
    agents.make('oac', COMMIT, config)


def test_q_advantages_find_the_delayed_reward_that_bc_cannot(
    uniform_dataset, bc_run, tmp_path):  # noqa: F811 (fixtures)
  """On the Commit task (tests/test_value_agents.py) the first step's function alone
  decides the reward, three steps later; Q^μ(s, f) must learn that from uniform data,
  and the policy follows its advantages away from uniform BC."""
  bc_dir, bc_good = bc_run
  agent, run = train('oac', uniform_dataset, str(tmp_path),
                     dict(distillation_weight=0.05, lambda_=1.0, advantage='q'),
                     unroll_length=3, teacher=bc_dir)
  probs = first_step_policy(agent, run.params)
  assert np.all(np.argmax(probs, -1) == good(np.arange(CONTEXTS))), probs
  p_good = good_probability(agent, run.params)
  assert p_good.mean() > bc_good.mean() + 0.35, (p_good, bc_good)


def test_q_diagnostic_by_hand():
  """The Q check: squared errors against G^λ, and the correlation of the learned
  advantage q − V with the sampled one G^λ − V."""
  from offline_rl.agents.oac import diagnostics
  value = np.array([0.0, 0.5, -0.5, 0.2])
  returns = np.array([1.0, 0.5, -1.0, 0.0])
  q = {'function': np.array([0.5, 0.5, -0.5, 0.1]), 'arg': np.array([0.9, 0.6, -0.9, 0.0])}
  report = diagnostics.summarise_q(value, returns, q, np.array([0, 0, 1, 1]),
                                   bootstrap=50)
  sampled, learned = returns - value, q['arg'] - value
  np.testing.assert_allclose(report['value_squared_error'], np.mean(sampled ** 2))
  np.testing.assert_allclose(report['q_squared_error']['function'],
                             np.mean((q['function'] - returns) ** 2))
  np.testing.assert_allclose(report['advantage_correlation'],
                             np.corrcoef(learned, sampled)[0, 1])
  assert report['steps'] == 4
