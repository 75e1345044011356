"""The MuZero Supervised loss (MZS), AlphaStar Unplugged; MuZero (Schrittwieser et al.
2020) trained on logged windows.

The representation h reads steps 1..T of a window (`offline_rl.losses.forward`, which
also gives the prediction f at every step: unroll step k = 0). From each step t the
dynamics g then unroll k = 1..K along the logged actions a_t .. a_{t+K-1}:

  s⁰_t = h(o_≤t),  (s^k_t, r̂^k_t) = g(s^{k-1}_t, a_{t+k-1}),  (π^k_t, v^k_t) = f(s^k_t)

and every unroll step k = 0..K is trained on the logged future of t:

  L_π^k = -log π^k_t(a_{t+k})        where step t+k carries an action
  L_v^k = ½ (v^k_t - G_{t+k})²       G: TD(λ) behaviour return bootstrapped with the
                                     target network's v⁰ (`offline_rl.losses.lambda_returns`)
  L_r^k = ½ (r̂^k_t - r_{t+k-1})²     (k >= 1) r_{t+k-1}: the reward of a_{t+k-1}

  loss = mean over k of (policy_weight L_π + value_weight L_v + reward_weight L_r)
         + distillation (optional, at k = 0)

A step t starts an unroll only if it carries an action. Episode ends inside the
window: past a terminal last step the model is absorbing, as MuZero trains it (reward
and value targets 0, no policy target), so that search cannot dream beyond the end;
past a truncation (or past the window's end) nothing is known and the unroll's targets
are masked out.
π⁰ is masked by the observed legal actions; π^k (k >= 1) is not, as search cannot
know a future state's legal actions, and learns them from the data. The gradient
into the embedding is halved at every unroll step (MuZero's scaling).

Letters: B batch, T unroll length (windows [B, T+1]), K unroll steps, D embedding.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from offline_rl import agent as agent_lib
from offline_rl import batch as batch_lib
from offline_rl import losses


def ahead(x, k: int):
  """x [B, T, ...] read k steps later: row t holds x[t+k]; the end is zero-filled."""
  if k == 0:
    return x
  return jnp.concatenate([x[:, k:], jnp.zeros_like(x[:, :k])], axis=1)


def batch_ahead(batch: batch_lib.Batch, k: int) -> batch_lib.Batch:
  """The windows seen k steps later from each step that starts an unroll: step t of
  the result is step t+k, in the episode only where step t carries an action."""
  starts = batch.mask & ~batch.is_last
  shifted = jax.tree.map(lambda x: ahead(x, k), batch._replace(metadata={}))
  return shifted._replace(mask=shifted.mask & starts, metadata=batch.metadata)


def scale_gradient(x, scale: float):
  return x * scale + jax.lax.stop_gradient(x) * (1.0 - scale)


def unroll(model, params, batch: batch_lib.Batch, key, steps: int):
  """The model unrolled `steps` steps from every step of the windows along the logged
  actions: a list over k = 0..K of (logits dict [B, T, V], value [B, T], reward [B, T]
  (None at k = 0))."""
  root = losses.forward(model.network, params, batch, key)
  actions = losses.logged_actions(batch)
  shape = root.value.shape
  flat = lambda x: x.reshape((-1,) + x.shape[2:])
  unflat = lambda x: x.reshape(shape + x.shape[1:])
  embedding = flat(root.embedding)
  out = [(root.logits, root.value, None)]
  for k in range(1, steps + 1):
    action = jax.tree.map(lambda a: flat(ahead(a, k - 1)), actions)
    embedding, reward = model.dynamics(params, scale_gradient(embedding, 0.5), action)
    logits, _, value = model.predict(
        params, embedding, jax.random.fold_in(key, k),
        actions=jax.tree.map(lambda a: flat(ahead(a, k)), actions))
    out.append((jax.tree.map(unflat, logits), unflat(value), unflat(reward)))
  return out


def mzs_loss(model, teacher_network, action_spec, cfg, params,
             context: agent_lib.LossContext, batch: batch_lib.Batch, key):
  """(loss [], metrics {name: []}); `cfg` is the config's `muzero` section as a dict."""
  steps = int(cfg['unroll_steps'])
  predictions = unroll(model, params, batch, key, steps)
  target_value = jax.lax.stop_gradient(
      losses.forward(model.network, context.target, batch, key).value)
  returns = losses.lambda_returns(
      batch.reward[:, 1:], batch.discount[:, 1:], target_value, batch.is_last[:, 1:],
      gamma=cfg['gamma'], lambda_=cfg['lambda_'])  # [B, T-1]
  trained = losses.trained_steps(batch)  # [B, T]
  value_steps = losses.value_steps(batch)  # [B, T-1]
  reward = batch.reward[:, 1:]
  # The episode ended by the rules inside the window: past its last step the model
  # is absorbing (reward 0, value 0), as MuZero trains it; past a truncation, or past
  # the window, nothing is known and nothing is trained.
  terminated = jnp.any(batch.is_terminal[:, 1:] & batch.mask[:, 1:], axis=1)[:, None]
  beyond = lambda j: trained & terminated & ~ahead(trained, j)  # [B, T]
  total, metrics = 0.0, {}
  for k, (logits, value, predicted_reward) in enumerate(predictions):
    policy_loss, policy_metrics = losses.behaviour_cloning(
        action_spec, logits, batch_ahead(batch, k), cfg['head_weights'])
    real = ahead(value_steps, k) & trained[:, :-1]
    value_loss = losses.value_regression(
        value[:, :-1], jnp.where(real, ahead(returns, k), 0.0),
        real | beyond(k)[:, :-1])
    term = cfg['policy_weight'] * policy_loss + cfg['value_weight'] * value_loss
    metrics[f'unroll_{k}/policy_loss'] = policy_loss
    metrics[f'unroll_{k}/value_loss'] = value_loss
    if predicted_reward is not None:
      real = ahead(trained, k - 1) & trained
      reward_loss = losses.value_regression(
          predicted_reward, jnp.where(real, ahead(reward, k - 1), 0.0),
          real | beyond(k - 1))
      term = term + cfg['reward_weight'] * reward_loss
      metrics[f'unroll_{k}/reward_loss'] = reward_loss
    if k == 0:
      metrics.update(policy_metrics)
    total = total + term / (steps + 1)
  kl_loss, kl_metrics = losses.configured_distillation(
      teacher_network, action_spec, cfg, predictions[0][0], context, batch, key)
  metrics.update(kl_metrics)
  metrics['value/return'] = losses.masked_mean(returns, value_steps)
  return total + kl_loss, metrics
