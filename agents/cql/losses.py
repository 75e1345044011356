"""Conservative Q-learning (CQL(H), Kumar et al. 2020): `cql_loss` for factorised
discrete actions, `continuous_cql_loss` for a continuous action.

The joint Q of a factorised action is not enumerable, so it is decomposed
autoregressively over the heads, as the Q-Transformer does (Chebotar et al. 2023):
head h's q_h(s, a_<h, ·) is read from the stream after the earlier heads' values, and
its Bellman target is the best value of the next head given the logged one; the last
head backs up through the reward to the first head of the next state:

  y_h = max_v q^target_{h+1}(s_t, a_<=h, v)                         h < H
  y_H = r_t + γ d_t max_v q^target_1(s_{t+1}, v)                    (t = 0..T-2)
  L_TD  = Σ_h ½ (q_h(s_t, a_<=h) - y_h)²
  L_CQL = Σ_h [logsumexp_v q_h(s_t, a_<h, v) - q_h(s_t, a_<=h)]   (legal v, used heads)

so max over the first head equals the max over joint actions. The maxima and the
logsumexp run over the legal values only. The policy is Boltzmann in Q (the network's
`policy_from_q`): the penalty is the cross-entropy of the logged action under it.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from offline_rl import agent as agent_lib
from offline_rl import batch as batch_lib
from offline_rl import losses
from offline_rl.networks import continuous


def cql_loss(network, teacher_network, action_spec, cfg, params,
             context: agent_lib.LossContext, batch: batch_lib.Batch, key):
  """(loss [], metrics {name: []}); `cfg` is the config's `cql` section as a dict."""
  out = losses.forward(network, params, batch, key)
  target = losses.forward(network, context.target, batch, key)
  names = list(action_spec)
  terms = losses.head_terms(action_spec, out.logits, batch)
  q_logged = losses.q_of_logged(out.q, batch)
  where = losses.value_steps(batch)  # [B, T-1]
  first_next = losses.masked_max(target.q[names[0]], terms.legal[names[0]])  # [B, T]
  td_loss, penalty = 0.0, 0.0
  for i, name in enumerate(names):
    if i + 1 < len(names):
      following = names[i + 1]
      y = losses.masked_max(target.q[following], terms.legal[following])[:, :-1]
    else:
      y = (batch.reward[:, 1:-1] + cfg['gamma'] * batch.discount[:, 1:-1] *
           first_next[:, 1:])
    td_loss = td_loss + losses.value_regression(q_logged[name][:, :-1],
                                                jax.lax.stop_gradient(y), where)
    gap = losses.masked_logsumexp(out.q[name], terms.legal[name]) - q_logged[name]
    penalty = penalty + losses.masked_mean(gap, terms.used[name])
  loss = td_loss + cfg['alpha'] * penalty
  metrics = {'q/td_loss': td_loss, 'q/cql_penalty': penalty,
             'q/mean': losses.masked_mean(q_logged[names[-1]][:, :-1], where)}
  kl_loss, kl_metrics = losses.configured_distillation(
      teacher_network, action_spec, cfg, out.logits, context, batch, key)
  loss = loss + kl_loss
  metrics.update(kl_metrics)
  return loss, metrics


def continuous_cql_loss(network, teacher_network, action_spec, cfg, params,
                        context: agent_lib.LossContext, batch: batch_lib.Batch, key):
  """CQL(H) for one continuous head (Kumar et al. 2020, on SAC): a Gaussian actor and
  a critic Q(s, a) that reads the action.

    L_TD    = ½ (Q(s_t, a_t) - y_t)²,  y_t = r_t + γ d_t Q^target(s_{t+1}, a'),
              a' ~ π(s_{t+1})                                         (t = 0..T-2)
    L_CQL   = log (1/2K) Σ_i exp(Q(s_t, a_i) - log μ(a_i)) - Q(s_t, a_t)
              over K uniform actions and K actions of π(s_t) (importance-weighted
              by their densities μ: the paper's CQL(H) estimate of logsumexp_a Q)
    L_actor = α_H log π(ã | s_t) - Q(s_t, ã),  ã ~ π(s_t) reparameterised, the
              critic held fixed
    loss = L_TD + alpha L_CQL + L_actor (+ distillation).

  The sampled actions are scored by one pass each with an extra candidate axis
  (`networks.continuous.GaussianHeads`); the penalty's candidates carry no gradient.
  """
  (name, leaf), = action_spec.items()
  next_key, policy_key, uniform_key, actor_key = jax.random.split(key, 4)
  inputs = losses.network_inputs(batch)
  core_state = network.initial_state(inputs.is_first.shape[0])

  def q_of(network_params, actions, q_key):  # actions [B, T, (K,) A] -> [B, T, (K)]
    outputs, _ = network.apply(network_params, inputs, core_state, q_key,
                               actions={name: actions})
    return outputs.q[name]

  out = losses.forward(network, params, batch, key)
  policy = jax.lax.stop_gradient(out.logits[name])  # [B, T, 2A]
  q_logged = out.q[name]  # [B, T]
  where = losses.value_steps(batch)
  trained = losses.trained_steps(batch)

  next_action, _ = continuous.sample(leaf, policy, next_key)
  q_next = q_of(context.target, next_action, next_key)
  y = (batch.reward[:, 1:-1] + cfg['gamma'] * batch.discount[:, 1:-1] * q_next[:, 1:])
  td_loss = losses.value_regression(q_logged[:, :-1], jax.lax.stop_gradient(y), where)

  samples = int(cfg['num_action_samples'])
  uniform, uniform_log_prob = continuous.uniform(leaf, uniform_key,
                                                 policy.shape[:2] + (samples,))
  sampled, sampled_log_prob = continuous.sample(leaf, policy, policy_key, (samples,))
  candidates = jax.lax.stop_gradient(jnp.concatenate([uniform, sampled], axis=2))
  density = jax.lax.stop_gradient(
      jnp.concatenate([uniform_log_prob, sampled_log_prob], axis=2))  # [B, T, 2K]
  q_candidates = q_of(params, candidates, policy_key)  # [B, T, 2K]
  logsumexp = (jax.nn.logsumexp(q_candidates - density, axis=-1)
               - jnp.log(2.0 * samples))
  penalty = losses.masked_mean(logsumexp - q_logged, trained)

  action, log_prob = continuous.sample(leaf, out.logits[name], actor_key)
  q_action = q_of(jax.lax.stop_gradient(params), action, actor_key)
  actor_loss = losses.masked_mean(cfg['entropy_weight'] * log_prob - q_action, trained)

  loss = td_loss + cfg['alpha'] * penalty + actor_loss
  metrics = {'q/td_loss': td_loss, 'q/cql_penalty': penalty,
             'q/mean': losses.masked_mean(q_logged[:, :-1], where),
             'policy/loss': actor_loss,
             'policy/log_prob': losses.masked_mean(log_prob, trained)}
  kl_loss, kl_metrics = losses.configured_distillation(
      teacher_network, action_spec, cfg, out.logits, context, batch, key)
  metrics.update(kl_metrics)
  return loss + kl_loss, metrics
