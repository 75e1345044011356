"""The BC loss: teacher-forced cross-entropy on every action head (AlphaStar Unplugged).

A head's term at a step counts only where
  * the step is trained: inside the window's episode (`mask`) and not `is_last`
    (no action follows the last observation);
  * the head is used: under the legal mask (conditioned on the logged function) it
    has more than one legal value; a head whose row is all-False or has a single
    forced value carries no choice;
  * the logged value is legal under that mask (AlphaStar drops those too).
Each head's cross-entropy is averaged over the steps where it counts, multiplied by
its weight, and the heads are summed.

Letters: B batch, T unroll length (the batch holds T+1 steps), V a head's values.
"""
from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp

from offline_rl import batch as batch_lib
from offline_rl import networks
from offline_rl.networks import heads as heads_lib


def network_inputs(batch: batch_lib.Batch, rating=None) -> networks.NetworkInputs:
  """The network inputs [B, T] of a batch [B, T+1]: steps 1..T, previous actions 0..T-1.

  Args:
    batch: the training windows.
    rating: override of the rating input ([B] or scalar); default the episodes'
      'rating' metadata (NaN becomes 0).
  """
  shift = lambda x: x[:, 1:]
  is_first = shift(batch.is_first)
  if rating is None:
    rating = batch.metadata.get('rating', jnp.zeros(is_first.shape[:1], jnp.float32))
  rating = jnp.nan_to_num(jnp.asarray(rating, jnp.float32))
  rating = jnp.broadcast_to(rating.reshape(rating.shape + (1,) * (2 - rating.ndim)),
                            is_first.shape)
  return networks.NetworkInputs(
      observation=jax.tree.map(shift, batch.observation),
      legal_action_mask=(None if batch.legal_action_mask is None else
                         jax.tree.map(shift, batch.legal_action_mask)),
      prev_action=jax.tree.map(lambda x: x[:, :-1], batch.action),
      is_first=is_first,
      rating=rating)


def trained_steps(batch: batch_lib.Batch):
  """[B, T] bool: steps 1..T inside the episode that carry an action."""
  return batch.mask[:, 1:] & ~batch.is_last[:, 1:]


def cross_entropy_terms(action_spec, logits: Mapping[str, jax.Array], actions,
                        legal_action_mask, trained):
  """Per-head masked cross-entropy and statistics.

  Args:
    action_spec: dict of ArraySpec, heads in order.
    logits: dict of [B, T, V] masked logits.
    actions: dict of [B, T] int, the logged actions.
    legal_action_mask: dict of [B, T, V] / [B, T, n_first, V] bool, or None.
    trained: [B, T] bool.

  Returns:
    dict head -> (mean loss [], used count [], accuracy [], illegal fraction []).
  """
  rows = heads_lib.head_masks(action_spec, legal_action_mask, actions)
  out = {}
  denominator = jnp.maximum(trained.sum(), 1)
  for name in action_spec:
    action = actions[name].astype(jnp.int32)[..., None]
    log_probs = jax.nn.log_softmax(logits[name].astype(jnp.float32))
    nll = -jnp.take_along_axis(log_probs, action, axis=-1)[..., 0]
    row = rows[name]
    logged_legal = jnp.take_along_axis(row, action, axis=-1)[..., 0]
    num_legal = row.sum(-1)
    used = trained & (num_legal > 1) & logged_legal
    count = used.sum()
    loss = jnp.where(used, nll, 0.0).sum() / jnp.maximum(count, 1)
    correct = jnp.argmax(logits[name], -1) == action[..., 0]
    accuracy = jnp.where(used, correct, False).sum() / jnp.maximum(count, 1)
    illegal = (trained & (num_legal > 0) & ~logged_legal).sum() / denominator
    out[name] = (loss, count, accuracy, illegal)
  return out


def bc_loss(network: networks.Network, action_spec, head_weights: Mapping[str, float],
            params, batch: batch_lib.Batch, key):
  """The BC loss of `params` on `batch` (see the module docstring).

  Returns:
    (loss [], metrics {name: []}).
  """
  inputs = network_inputs(batch)
  actions = jax.tree.map(lambda x: x[:, 1:], batch.action)
  batch_size = inputs.is_first.shape[0]
  outputs, _ = network.apply(params, inputs, network.initial_state(batch_size), key,
                             actions=actions)
  terms = cross_entropy_terms(action_spec, outputs.logits, actions,
                              inputs.legal_action_mask, trained_steps(batch))
  total = 0.0
  metrics = {}
  for name, (loss, count, accuracy, illegal) in terms.items():
    total = total + float(head_weights.get(name, 1.0)) * loss
    metrics[f'{name}/cross_entropy'] = loss
    metrics[f'{name}/accuracy'] = accuracy
    metrics[f'{name}/used_steps'] = count.astype(jnp.float32)
    metrics[f'{name}/illegal_logged'] = illegal
  return total, metrics
