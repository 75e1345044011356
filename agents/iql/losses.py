"""Implicit Q-learning (IQL, Kostrikov et al. 2022) for factorised discrete actions.

Factorised actions have no enumerable joint Q, and IQL needs none: it only evaluates
the logged action. Each head h has Q-values q_h(s, a_<h, ·) read from the
autoregressive stream after the earlier heads' logged values; every head regresses its
logged value on the same TD target y_t, so q_h(s, a_<=h) estimates
E_{a_>h ~ μ}[Q(s, a)] (the later heads' values drawn from the data, as they are) and
the last head's estimates Q(s, a) of the whole logged action. On one forward pass:

  L_V  = |τ - 1(u < 0)| u²,  u = Q_target(s_t, a_t) - V(s_t)    (expectile, all trained t)
  L_Q  = Σ_h ½ (q_h(s_t, a_<=h) - y_t)²,  y_t = r_t + γ d_t V(s_{t+1})   (t = 0..T-2)
  L_π  = - min(exp(β (Q_target(s_t, a_t) - V(s_t))), w_max) log π(a_t | s_t)
  loss = value_weight L_V + q_weight L_Q + policy_weight L_π (+ distillation).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from offline_rl import agent as agent_lib
from offline_rl import batch as batch_lib
from offline_rl import losses


def iql_loss(network, teacher_network, action_spec, cfg, params,
             context: agent_lib.LossContext, batch: batch_lib.Batch, key):
  """(loss [], metrics {name: []}); `cfg` is the config's `iql` section as a dict."""
  out = losses.forward(network, params, batch, key)
  target = losses.forward(network, context.target, batch, key)
  last = list(action_spec)[-1]
  q_target = jax.lax.stop_gradient(losses.q_of_logged(target.q, batch)[last])  # [B, T]
  trained = losses.trained_steps(batch)
  u = q_target - out.value
  expectile = jnp.abs(cfg['expectile'] - (u < 0).astype(jnp.float32))
  value_loss = losses.masked_mean(expectile * jnp.square(u), trained)

  where = losses.value_steps(batch)
  y = (batch.reward[:, 1:-1] + cfg['gamma'] * batch.discount[:, 1:-1] *
       jax.lax.stop_gradient(out.value[:, 1:]))
  q_logged = losses.q_of_logged(out.q, batch)
  q_loss = sum(losses.value_regression(q_logged[n][:, :-1], y, where)
               for n in action_spec)

  advantage = jax.lax.stop_gradient(q_target - out.value)
  weights = jnp.minimum(jnp.exp(cfg['temperature'] * advantage), cfg['max_weight'])
  policy_loss, metrics = losses.behaviour_cloning(action_spec, out.logits, batch,
                                                  cfg['head_weights'], weights=weights)
  loss = (cfg['value_weight'] * value_loss + cfg['q_weight'] * q_loss +
          cfg['policy_weight'] * policy_loss)
  kl_loss, kl_metrics = losses.configured_distillation(
      teacher_network, action_spec, cfg, out.logits, context, batch, key)
  loss = loss + kl_loss
  metrics.update(kl_metrics)
  metrics.update({
      'value/loss': value_loss, 'q/loss': q_loss, 'policy/loss': policy_loss,
      'value/mean': losses.masked_mean(out.value, trained),
      'q/mean': losses.masked_mean(q_target, trained),
      'policy/advantage': losses.masked_mean(advantage, trained),
      'policy/weight': losses.masked_mean(weights, trained),
  })
  return loss, metrics
