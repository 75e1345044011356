"""Reanalyse (MuZero Unplugged, Schrittwieser et al. 2021): policy and value targets
recomputed by search on stored windows with the target network.

Every step of the windows is searched from the target network's representation, in
one batched search inside the compiled update; as the target network follows the
online one, the targets are refreshed at every update. The search's visit
distribution over a step's candidates is the policy target of that step (in place of
the logged action) and the searched root value bootstraps the TD(λ) return (in place
of the target network's raw value).

Letters: B batch, T unroll length, S candidates, D embedding width.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from offline_rl import batch as batch_lib
from offline_rl import losses
from offline_rl.agents.muzero import search


class Targets(NamedTuple):
  """What a search gives each step of the windows.

  Attributes:
    candidates: dict head -> [B, T, S] int32, the searched joint actions.
    policy: [B, T, S] the search's action weights over them.
    value: [B, T] the searched root value.
  """
  candidates: dict
  policy: jax.Array
  value: jax.Array


def targets(model, settings: search.SearchSettings, params, batch: batch_lib.Batch,
            key) -> Targets:
  """Searches every step 1..T of the windows with `params` (the target network)."""
  represent_key, search_key = jax.random.split(key)
  root = losses.forward(model.network, params, batch, represent_key)
  shape = root.value.shape
  flat = lambda x: x.reshape((-1,) + x.shape[2:])
  unflat = lambda x: x.reshape(shape + x.shape[1:])
  masks = (None if batch.legal_action_mask is None else
           jax.tree.map(lambda x: flat(x[:, 1:]), batch.legal_action_mask))
  _, output, children = search.search(model, settings, params, flat(root.embedding),
                                      masks, search_key, greedy=True)
  return jax.lax.stop_gradient(Targets(
      jax.tree.map(unflat, children), unflat(output.action_weights),
      unflat(output.search_tree.summary().value)))


def candidate_log_probs(model, params, embedding, candidates, key,
                        legal_action_mask=None):
  """log π(c | s) [N, S] of each candidate joint action under f's heads.

  Args:
    embedding: [N, D]; candidates: dict head -> [N, S]; legal_action_mask: dict of
      [N, ...] (the observed masks at k = 0) or None.
  """
  rows, samples = next(iter(candidates.values())).shape
  repeat = lambda x: jnp.repeat(x, samples, axis=0)
  actions = jax.tree.map(lambda c: c.reshape(rows * samples), candidates)
  logits, _, _ = model.predict(
      params, repeat(embedding), key, actions=actions,
      legal_action_mask=(None if legal_action_mask is None else
                         jax.tree.map(repeat, legal_action_mask)))
  log_prob = sum(jnp.take_along_axis(jax.nn.log_softmax(logits[name]),
                                     actions[name][:, None], axis=-1)[:, 0]
                 for name in logits)
  return log_prob.reshape(rows, samples)
