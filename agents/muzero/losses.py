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
  L_d^k = BCE(σ(ĉ^k_t), d_{t+k-1})   (k >= 1) d_{t+k-1}: the discount after a_{t+k-1},
                                     0 on the transition into a terminal step

  loss = mean over k of (policy_weight L_π + value_weight L_v + reward_weight L_r
                         + discount_weight L_d) + distillation (optional, at k = 0)

A step t starts an unroll only if it carries an action. Episode ends inside the
window: past a terminal last step the model is absorbing, as MuZero trains it (reward
and value targets 0, no policy target), so that search cannot dream beyond the end;
past a truncation (or past the window's end) nothing is known and the unroll's targets
are masked out. The predicted discount σ(ĉ) is the model's own episode end (0 past a
terminal step too): search discounts by it, so that whatever the model still
predicts after the end (rewards, values) counts zero there.
π⁰ is masked by the observed legal actions; π^k (k >= 1) is not, as search cannot
know a future state's legal actions, and learns them from the data: L_π^k (k >= 1)
counts every logged action, also where it was the only legal one (AlphaStar's BC
masking skips those at k = 0). The gradient
into the embedding is halved at every unroll step (MuZero's scaling).

Reanalyse (MuZero Unplugged, `reanalyse_fraction` f > 0): on the first round(f B)
windows of the batch, L_π^k becomes the cross-entropy -Σ_c p_{t+k}(c) log π^k_t(c) to
the visit distribution p of a search with the target network over the candidates c
of step t+k, and G bootstraps the searched root value instead of v⁰ (see
`reanalyse.py`); the loss averages the logged and the reanalysed policy terms by
their share of the batch.

Letters: B batch, T unroll length (windows [B, T+1]), K unroll steps, D embedding.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from offline_rl import agent as agent_lib
from offline_rl import batch as batch_lib
from offline_rl import losses
from offline_rl.agents.muzero import reanalyse
from offline_rl.agents.muzero import search


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


def unroll_actions(action_spec, batch: batch_lib.Batch, k: int, key) -> dict:
  """The actions [B, T] per head driving unroll step k: the logged a_{t+k-1} where
  step t+k-1 carries one, else uniformly random values.

  Past an episode's end the model is trained as absorbing; with the logged padding
  (one fixed action) it learned that for that action only, and search, which takes
  every action there, found the rewards of the last step repeating: on Corridor the
  root Q-values reached 6 at 32 simulations and 26 at 128 in a game whose returns lie
  in [-1, 1], and more simulations lost (docs/agents.md). Random actions there, as
  muzero-general pads its unrolls, teach the absorbing state for all of them."""
  carries = ahead(losses.trained_steps(batch), k - 1)
  keys = jax.random.split(key, len(action_spec))
  return {name: jnp.where(carries, ahead(batch.action[name][:, 1:], k - 1),
                          jax.random.randint(head_key, carries.shape, 0,
                                             leaf.num_values))
          for head_key, (name, leaf) in zip(keys, action_spec.items())}


def unroll(model, action_spec, params, batch: batch_lib.Batch, key, steps: int):
  """The model unrolled `steps` steps from every step of the windows along the logged
  actions (`unroll_actions`): a list over k = 0..K of (logits dict [B, T, V], value
  [B, T], reward [B, T] and continuation logit [B, T] (None at k = 0), embedding
  [B*T, D])."""
  root = losses.forward(model.network, params, batch, key)
  actions = losses.logged_actions(batch)
  shape = root.value.shape
  flat = lambda x: x.reshape((-1,) + x.shape[2:])
  unflat = lambda x: x.reshape(shape + x.shape[1:])
  embedding = flat(root.embedding)
  out = [(root.logits, root.value, None, None, embedding)]
  for k in range(1, steps + 1):
    action = jax.tree.map(flat, unroll_actions(action_spec, batch, k,
                                               jax.random.fold_in(key, 3000 + k)))
    embedding, reward, continuation = model.dynamics(
        params, scale_gradient(embedding, 0.5), action)
    logits, _, value = model.predict(
        params, embedding, jax.random.fold_in(key, k),
        actions=jax.tree.map(lambda a: flat(ahead(a, k)), actions))
    out.append((jax.tree.map(unflat, logits), unflat(value), unflat(reward),
                unflat(continuation), embedding))
  return out


def past_terminal_end(batch: batch_lib.Batch, j: int):
  """[B, T] bool: step t starts an unroll and step t+j lies at or past the last
  step of an episode that the rules ended inside the window. There the model is
  absorbing (reward, value and discount 0), as MuZero trains it; past a truncation,
  or past the window, nothing is known and nothing is trained."""
  trained = losses.trained_steps(batch)
  terminated = jnp.any(batch.is_terminal[:, 1:] & batch.mask[:, 1:], axis=1)[:, None]
  return trained & terminated & ~ahead(trained, j)


def transition_targets(batch: batch_lib.Batch, k: int):
  """The targets of unroll step k >= 1's transition (the action a_{t+k-1}) from
  every step t: (reward [B, T], discount [B, T], where [B, T] bool).

  Inside the episode: the logged r_{t+k-1} and d_{t+k-1} (d is 0 on the transition
  into a terminal step); past a terminal end: 0 and 0; elsewhere `where` is False."""
  trained = losses.trained_steps(batch)
  real = ahead(trained, k - 1) & trained
  logged = lambda x: jnp.where(real, ahead(x[:, 1:], k - 1), 0.0)
  return (logged(batch.reward), logged(batch.discount),
          real | past_terminal_end(batch, k - 1))


def discount_loss(logit, target, where):
  """Binary cross-entropy of σ(logit) to the discount target, averaged over `where`.

  logit, target: [B, T] (target in [0, 1]: 1 the episode goes on, 0 it ended);
  where: [B, T] bool."""
  target = jax.lax.stop_gradient(target)
  cross_entropy = (jax.nn.softplus(logit) - target * logit)  # -t log σ - (1-t) log(1-σ)
  return losses.masked_mean(cross_entropy, where)


def searched_policy_loss(model, params, embedding, searched, k: int, where, key,
                         legal_action_mask):
  """Cross-entropy of π^k_t to the search's policy at t+k over its candidates [].

  embedding: [B*T, D] s^k; where: [B, T] bool; legal_action_mask: the observed masks
  [B*T, ...] at k = 0, else None."""
  shape = where.shape
  flat = lambda x: x.reshape((-1,) + x.shape[2:])
  log_pi = reanalyse.candidate_log_probs(
      model, params, embedding,
      jax.tree.map(lambda c: flat(ahead(c, k)), searched.candidates),
      jax.random.fold_in(key, 1000 + k), legal_action_mask)
  cross_entropy = -(flat(ahead(searched.policy, k)) * log_pi).sum(-1).reshape(shape)
  return losses.masked_mean(cross_entropy, where)


def mzs_loss(model, settings: search.SearchSettings, teacher_network, action_spec, cfg,
             params, context: agent_lib.LossContext, batch: batch_lib.Batch, key):
  """(loss [], metrics {name: []}); `cfg` is the config's `muzero` section as a dict.

  With `reanalyse_fraction` f > 0, the first round(f B) windows of the batch take
  their policy targets and value bootstraps from a search with the target network
  (`reanalyse.targets`), the others from the logged data."""
  steps = int(cfg['unroll_steps'])
  predictions = unroll(model, action_spec, params, batch, key, steps)
  target_value = jax.lax.stop_gradient(
      losses.forward(model.network, context.target, batch, key).value)
  num_reanalysed = round(float(cfg['reanalyse_fraction']) * batch.reward.shape[0])
  searched = None
  if num_reanalysed:
    searched = reanalyse.targets(model, settings, context.target, batch,
                                 jax.random.fold_in(key, 2000))
    reanalysed = (jnp.arange(batch.reward.shape[0]) < num_reanalysed)[:, None]
    target_value = jnp.where(reanalysed, searched.value, target_value)
  returns = losses.lambda_returns(
      batch.reward[:, 1:], batch.discount[:, 1:], target_value, batch.is_last[:, 1:],
      gamma=cfg['gamma'], lambda_=cfg['lambda_'])  # [B, T-1]
  trained = losses.trained_steps(batch)  # [B, T]
  value_steps = losses.value_steps(batch)  # [B, T-1]
  observed_masks = (None if batch.legal_action_mask is None else jax.tree.map(
      lambda x: x[:, 1:].reshape((-1,) + x.shape[2:]), batch.legal_action_mask))
  total, metrics = 0.0, {}
  for k, (logits, value, predicted_reward, continuation, embedding) in enumerate(
      predictions):
    logged = batch_ahead(batch, k)
    if k:
      # π^k learns the logged action also where the state allowed only that one (a
      # waiting seat's pass in a turn-based game): search takes every action at a
      # node, and a forced action it never learned leads into untrained dynamics.
      logged = logged._replace(legal_action_mask=None)
    if searched is not None:
      logged = logged._replace(mask=logged.mask & ~reanalysed)
    policy_loss, policy_metrics = losses.behaviour_cloning(
        action_spec, logits, logged, cfg['head_weights'])
    if searched is not None:
      share = num_reanalysed / batch.reward.shape[0]
      searched_loss = searched_policy_loss(
          model, params, embedding, searched, k, ahead(trained, k) & trained & reanalysed,
          key, observed_masks if k == 0 else None)
      policy_loss = (1.0 - share) * policy_loss + share * searched_loss
      metrics[f'unroll_{k}/searched_policy_loss'] = searched_loss
    real = ahead(value_steps, k) & trained[:, :-1]
    value_loss = losses.value_regression(
        value[:, :-1], jnp.where(real, ahead(returns, k), 0.0),
        real | past_terminal_end(batch, k)[:, :-1])
    term = cfg['policy_weight'] * policy_loss + cfg['value_weight'] * value_loss
    metrics[f'unroll_{k}/policy_loss'] = policy_loss
    metrics[f'unroll_{k}/value_loss'] = value_loss
    if predicted_reward is not None:
      reward, discount, where = transition_targets(batch, k)
      reward_loss = losses.value_regression(predicted_reward, reward, where)
      ended_loss = discount_loss(continuation, discount, where)
      term = (term + cfg['reward_weight'] * reward_loss
              + cfg['discount_weight'] * ended_loss)
      metrics[f'unroll_{k}/reward_loss'] = reward_loss
      metrics[f'unroll_{k}/discount_loss'] = ended_loss
    if k == 0:
      metrics.update(policy_metrics)
    total = total + term / (steps + 1)
  kl_loss, kl_metrics = losses.configured_distillation(
      teacher_network, action_spec, cfg, predictions[0][0], context, batch, key)
  metrics.update(kl_metrics)
  metrics['value/return'] = losses.masked_mean(returns, value_steps)
  return total + kl_loss, metrics
