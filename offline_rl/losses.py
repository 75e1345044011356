"""Loss terms that agents sum, all read from one forward pass over a window.

An agent's loss runs its network once on the window (`forward`) and adds terms that
read the outputs they need: behaviour cloning (`behaviour_cloning`), distillation
towards a frozen teacher (`distillation`), a TD(λ) value (`value_regression` on
`lambda_returns`), a policy gradient, Q regression. Every term is a pure function of
arrays, so an agent is a short sum and each term is tested once.

Time alignment (RLDS, see `offline_rl.batch.Batch`): the network reads steps 1..T of a
window [B, T+1]; in the [B, T] arrays below, index t holds o_t, the logged a_t, the
reward r_t *for* a_t and the discount d_t of the transition to o_{t+1} (0 into a
terminal state). A step is trained where it lies in the episode and is not `is_last`
(no action follows the last observation). A TD target at t needs o_{t+1}, so value
terms train t = 0..T-2 and bootstrap from the network's value at T-1; the last step of
an episode contributes its observation's value only through a discount of 1 (a
truncated episode), never a reward.

Letters: B batch, T unroll length, V a head's values, H heads.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple

import chex
import jax
import jax.numpy as jnp

from offline_rl import batch as batch_lib
from offline_rl import networks
from offline_rl.networks import continuous
from offline_rl.networks import heads as heads_lib


def network_inputs(batch: batch_lib.Batch, rating=None) -> networks.NetworkInputs:
  """The network inputs [B, T] of a batch [B, T+1]: steps 1..T, previous actions 0..T-1.

  Args:
    batch: the training windows.
    rating: override of the rating input ([B] or scalar); default the episodes'
      'rating' metadata, NaN where an episode has none (the network reads NaN as
      no rating).
  """
  shift = lambda x: x[:, 1:]
  is_first = shift(batch.is_first)
  if rating is None:
    rating = batch.metadata.get('rating', jnp.full(is_first.shape[:1], jnp.nan))
  rating = jnp.asarray(rating, jnp.float32)
  rating = jnp.broadcast_to(rating.reshape(rating.shape + (1,) * (2 - rating.ndim)),
                            is_first.shape)
  return networks.NetworkInputs(
      observation=jax.tree.map(shift, batch.observation),
      legal_action_mask=(None if batch.legal_action_mask is None else
                         jax.tree.map(shift, batch.legal_action_mask)),
      prev_action=jax.tree.map(lambda x: x[:, :-1], batch.action),
      is_first=is_first,
      rating=rating)


def logged_actions(batch: batch_lib.Batch) -> dict:
  """dict of [B, T] int: the logged actions of steps 1..T."""
  return jax.tree.map(lambda x: x[:, 1:], batch.action)


def trained_steps(batch: batch_lib.Batch):
  """[B, T] bool: steps 1..T inside the episode that carry an action."""
  return batch.mask[:, 1:] & ~batch.is_last[:, 1:]


def forward(network: networks.Network, params, batch: batch_lib.Batch, key
            ) -> networks.NetworkOutputs:
  """The network on steps 1..T of the windows, teacher-forced on the logged actions."""
  inputs = network_inputs(batch)
  outputs, _ = network.apply(params, inputs,
                             network.initial_state(inputs.is_first.shape[0]), key,
                             actions=logged_actions(batch))
  return outputs


def masked_mean(x, where):
  """The mean of x [...] over the True entries of `where` [...] (0 when none)."""
  where = jnp.broadcast_to(where, x.shape)
  return jnp.where(where, x, 0.0).sum() / jnp.maximum(where.sum(), 1)


class HeadTerms(NamedTuple):
  """Per-head quantities of the logged action, each dict head -> [B, T].

  Attributes:
    log_prob: log π_h(a_h | s, a_<h) of the logged value.
    used: the head carries a choice here: the step is trained, more than one value
      is legal and the logged value is legal (AlphaStar Unplugged's BC masking).
    legal: dict head -> [B, T, V] bool, the legal values given the logged first head.
  """
  log_prob: dict
  used: dict
  legal: dict


def head_terms(action_spec, logits: Mapping[str, jax.Array], batch: batch_lib.Batch
               ) -> HeadTerms:
  """The logged action's per-head log-probabilities and where each head counts."""
  actions = logged_actions(batch)
  mask = (None if batch.legal_action_mask is None else
          jax.tree.map(lambda x: x[:, 1:], batch.legal_action_mask))
  legal = heads_lib.head_masks(action_spec, mask, actions)
  trained = trained_steps(batch)
  log_prob, used = {}, {}
  for name in action_spec:
    action = actions[name].astype(jnp.int32)[..., None]
    log_probs = jax.nn.log_softmax(logits[name].astype(jnp.float32))
    log_prob[name] = jnp.take_along_axis(log_probs, action, axis=-1)[..., 0]
    logged_legal = jnp.take_along_axis(legal[name], action, axis=-1)[..., 0]
    used[name] = trained & (legal[name].sum(-1) > 1) & logged_legal
  return HeadTerms(log_prob=log_prob, used=used, legal=legal)


def joint_log_prob(terms: HeadTerms):
  """[B, T] log π(a | s) of the logged joint action: the used heads' sum."""
  return sum(jnp.where(terms.used[n], terms.log_prob[n], 0.0) for n in terms.log_prob)


def behaviour_cloning(action_spec, logits, batch: batch_lib.Batch,
                      head_weights: Mapping[str, float] | None = None,
                      weights=None):
  """Teacher-forced cross-entropy of every head (AlphaStar Unplugged's BC loss).

  Each head's negative log-likelihood is averaged over the steps where it is used,
  multiplied by its weight (default 1), and the heads are summed.

  Args:
    action_spec: dict of ArraySpec, heads in order.
    logits: dict of [B, T, V] masked logits.
    batch: the windows.
    head_weights: {head: weight}.
    weights: optional [B, T] per-step weights (advantage weighting); None = 1.

  Returns:
    (loss [], metrics {name: []}): per head cross_entropy, accuracy, used_steps and
    illegal_logged (trained steps whose logged value the mask forbids).
    A continuous head is `continuous_behaviour_cloning`'s.
  """
  if continuous.is_continuous(action_spec):
    return continuous_behaviour_cloning(action_spec, logits, batch, weights)
  head_weights = head_weights or {}
  terms = head_terms(action_spec, logits, batch)
  trained = trained_steps(batch)
  actions = logged_actions(batch)
  total, metrics = 0.0, {}
  for name in action_spec:
    used = terms.used[name]
    nll = -terms.log_prob[name]
    if weights is not None:
      nll = nll * weights
    loss = masked_mean(nll, used)
    total = total + float(head_weights.get(name, 1.0)) * loss
    correct = jnp.argmax(logits[name], -1) == actions[name].astype(jnp.int32)
    action = actions[name].astype(jnp.int32)[..., None]
    logged_legal = jnp.take_along_axis(terms.legal[name], action, axis=-1)[..., 0]
    illegal = trained & (terms.legal[name].sum(-1) > 0) & ~logged_legal
    metrics[f'{name}/cross_entropy'] = loss
    metrics[f'{name}/accuracy'] = masked_mean(correct.astype(jnp.float32), used)
    metrics[f'{name}/used_steps'] = used.sum().astype(jnp.float32)
    metrics[f'{name}/illegal_logged'] = illegal.sum() / jnp.maximum(trained.sum(), 1)
  return total, metrics


def continuous_behaviour_cloning(action_spec, params, batch: batch_lib.Batch,
                                 weights=None):
  """The negative log-likelihood of the logged continuous action (its Gaussian,
  tanh-squashed within bounds), averaged over the trained steps.

  Args:
    action_spec: {name: ArraySpec}, one continuous head.
    params: {name: [B, T, 2A]} the head's distribution parameters.
    batch: the windows.
    weights: optional [B, T] per-step weights (advantage weighting); None = 1.

  Returns:
    (loss [], metrics): '{head}/nll', '{head}/mode_error' (mean absolute difference
    of the distribution's mode from the logged action) and '{head}/used_steps'.
  """
  (name, leaf), = action_spec.items()
  action = logged_actions(batch)[name]
  trained = trained_steps(batch)
  nll = -continuous.log_prob(leaf, params[name], action)
  loss = masked_mean(nll if weights is None else nll * weights, trained)
  error = jnp.abs(continuous.mode(leaf, params[name]) - action).reshape(
      trained.shape + (-1,)).mean(-1)
  return loss, {f'{name}/nll': masked_mean(nll, trained),
                f'{name}/mode_error': masked_mean(error, trained),
                f'{name}/used_steps': trained.sum().astype(jnp.float32)}


def distillation(action_spec, logits, teacher_logits, batch: batch_lib.Batch, *,
                 weight: float, direction: str = 'forward',
                 head_weights: Mapping[str, float] | None = None):
  """KL between the policy and a frozen teacher, per head, on the trained steps.

  'forward' is KL(teacher || policy) (mode-covering: the cross-entropy to the
  teacher's distribution, AlphaStar's distillation); 'reverse' is KL(policy ||
  teacher) (mode-seeking: keeps the policy inside the teacher's support). Each head
  is averaged over the steps where it is used (see `head_terms`), weighted, summed,
  and the sum is multiplied by `weight`. The teacher gets no gradient.

  A continuous head's KL is its Gaussians' (`networks.continuous.kl`).

  Returns:
    (loss [], metrics): 'distillation/kl' (unweighted, summed over heads) and per
    head '{head}/kl_teacher'.
  """
  if direction not in ('forward', 'reverse'):
    raise ValueError(f"distillation direction must be 'forward' or 'reverse', got "
                     f'{direction!r}.')
  if continuous.is_continuous(action_spec):
    (name, _), = action_spec.items()
    teacher = jax.lax.stop_gradient(teacher_logits[name])
    p, q = ((teacher, logits[name]) if direction == 'forward' else
            (logits[name], teacher))
    kl = masked_mean(continuous.kl(p, q), trained_steps(batch))
    return weight * kl, {f'{name}/kl_teacher': kl, 'distillation/kl': kl}
  head_weights = head_weights or {}
  terms = head_terms(action_spec, logits, batch)
  total_kl, metrics = 0.0, {}
  for name in action_spec:
    policy = jax.nn.log_softmax(logits[name].astype(jnp.float32))
    teacher = jax.lax.stop_gradient(
        jax.nn.log_softmax(teacher_logits[name].astype(jnp.float32)))
    p, q = (teacher, policy) if direction == 'forward' else (policy, teacher)
    # Illegal values have ~0 probability under both; exp(p) zeroes them.
    kl = jnp.sum(jnp.exp(p) * (p - q), axis=-1)
    kl = masked_mean(kl, terms.used[name])
    metrics[f'{name}/kl_teacher'] = kl
    total_kl = total_kl + float(head_weights.get(name, 1.0)) * kl
  metrics['distillation/kl'] = total_kl
  return weight * total_kl, metrics


def configured_distillation(teacher_network, action_spec, cfg: Mapping, logits, context,
                            batch: batch_lib.Batch, key, teacher_logits=None):
  """The distillation term an agent's config section asks for: `distillation_weight`
  (0: none), `distillation_decay_steps`, `distillation_direction`, `head_weights`.

  The teacher runs on the batch unless its `teacher_logits` are given (OAC has them).
  Returns (loss [], metrics), or (0, {}) without distillation.
  """
  if cfg['distillation_weight'] <= 0:
    return 0.0, {}
  if teacher_logits is None:
    teacher_logits = forward(teacher_network, context.teacher, batch, key).logits
  return distillation(
      action_spec, logits, teacher_logits, batch,
      weight=decayed_weight(cfg['distillation_weight'], context.step,
                            cfg['distillation_decay_steps']),
      direction=cfg['distillation_direction'], head_weights=cfg['head_weights'])


def decayed_weight(weight: float, step, decay_steps: int):
  """`weight`, decayed linearly to 0 over `decay_steps` updates (0: constant)."""
  if decay_steps <= 0:
    return weight
  return weight * jnp.clip(1.0 - step / decay_steps, 0.0, 1.0)


def lambda_returns(reward, discount, value, is_last, *, gamma: float, lambda_: float):
  """TD(λ) returns G_t for t = 0..T-2 of windows in the RLDS alignment.

  G_t = r_t + γ d_t ((1 - λ_t) v_{t+1} + λ_t G_{t+1}), bootstrapped with v_{T-1};
  λ_t is 0 where step t+1 is the episode's last (its value is the target, as no
  reward follows it). This is `rlax.lambda_returns`' recursion, written here as one
  reverse `lax.scan` over the batch: importing rlax loads TensorFlow (through
  distrax and TensorFlow Probability) into every process that trains.

  Args:
    reward, discount: [B, T] r_t and d_t.
    value: [B, T] v_t (usually a target network's, without gradient).
    is_last: [B, T] bool.
    gamma, lambda_: the discount factor and the trace parameter.

  Returns:
    [B, T-1] the returns, without gradient.
  """
  chex.assert_rank([reward, discount, value, is_last], 2)
  chex.assert_equal_shape([reward, discount, value, is_last])
  lambdas = lambda_ * (1.0 - is_last[:, 1:].astype(jnp.float32))  # [B, T-1]
  r = reward[:, :-1].astype(jnp.float32)
  d = gamma * discount[:, :-1].astype(jnp.float32)
  v = value[:, 1:].astype(jnp.float32)

  def backward(following, xs):
    r_t, d_t, v_t, l_t = xs  # each [B]
    g = r_t + d_t * ((1.0 - l_t) * v_t + l_t * following)
    return g, g
  time_major = lambda x: jnp.swapaxes(x, 0, 1)
  _, returns = jax.lax.scan(backward, v[:, -1],
                            tuple(map(time_major, (r, d, v, lambdas))), reverse=True)
  return jax.lax.stop_gradient(time_major(returns))


def value_steps(batch: batch_lib.Batch):
  """[B, T-1] bool: steps 0..T-2 with an action and a successor in the window."""
  return trained_steps(batch)[:, :-1]


def value_regression(value, returns, where):
  """½ (v_t - G_t)² averaged over `where`; value [B, T-1], returns [B, T-1]."""
  return masked_mean(0.5 * jnp.square(value - jax.lax.stop_gradient(returns)), where)


def emphatic_trace(rho, where, discount, *, gamma: float, lambda_e: float,
                   steps: int):
  """N-step emphasis M_t = λ_e + (1 - λ_e) F_t (interest 1), Jiang et al. 2021.

  F_t = Σ_{k<n} γ^k (Π_{j=1..k} d_{t-j} ρ_{t-j}) over the earlier steps of the same
  window, stopping at the window's start or a step that carries no action.

  Args:
    rho: [B, T] importance ratios of the logged actions (clipped, no gradient).
    where: [B, T] bool, steps that carry an action.
    discount: [B, T] d_t.
    gamma, lambda_e, steps: γ, λ_e and n.

  Returns:
    [B, T] M_t, without gradient.
  """
  factor = jnp.where(where, gamma * discount * jax.lax.stop_gradient(rho), 0.0)
  product = jnp.ones_like(factor)  # Π_{j=1..k} factor[t-j], k = 0 first.
  follow_on = product
  for k in range(1, steps):
    # A step before the window's first has no factor: the product stops there.
    product = product * jnp.pad(factor[:, :-k], ((0, 0), (k, 0)))[:, :factor.shape[1]]
    follow_on = follow_on + product
  return jax.lax.stop_gradient(lambda_e + (1.0 - lambda_e) * follow_on)


def q_of_logged(q: Mapping[str, jax.Array], batch: batch_lib.Batch) -> dict:
  """dict head -> [B, T]: each head's Q-value of the logged value.

  A continuous head's Q [B, T] is already that of the action the network was
  teacher-forced on (`forward`: the logged one).
  """
  actions = logged_actions(batch)
  return {name: values if values.ndim == 2 else jnp.take_along_axis(
      values, actions[name].astype(jnp.int32)[..., None], axis=-1)[..., 0]
          for name, values in q.items()}


def masked_max(q, legal):
  """max over legal values of q [..., V]; legal [..., V] bool (a row with none: 0)."""
  best = jnp.max(jnp.where(legal, q, heads_lib.ILLEGAL_LOGIT), axis=-1)
  return jnp.where(legal.any(-1), best, 0.0)


def masked_logsumexp(q, legal):
  """logsumexp over legal values of q [..., V] (a row with none: 0)."""
  value = jax.nn.logsumexp(jnp.where(legal, q, heads_lib.ILLEGAL_LOGIT), axis=-1)
  return jnp.where(legal.any(-1), value, 0.0)
