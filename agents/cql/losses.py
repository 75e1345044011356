"""Conservative Q-learning (CQL(H), Kumar et al. 2020) for factorised discrete actions.

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
