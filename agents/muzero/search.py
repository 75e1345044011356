"""MZS-MCTS: search with the learned model through mctx, over the whole action set of
a one-head action or over joint actions sampled from the prior (Sampled MuZero).

Every node of the tree holds its embedding and its candidate joint actions [S]; a
child of the root is one candidate. With `num_samples` 0 the candidates are all V
values of the single head and the prior is π itself (illegal values are excluded at
the root through mctx's `invalid_actions`). With `num_samples` S, each node samples S
joint actions from its prior π, head by head through the autoregressive heads (at the
root with the observed legal masks, so every candidate is legal). Sampled MuZero
(Hubert et al. 2021) searches the sampled actions with the prior (β̂/β) π, where β is
the sampling distribution and β̂ the empirical one of the S samples; sampling from
β = π makes it β̂: the candidates' sample frequencies. Repeated samples become one
child whose prior is its count / S (the repeats are invalid at the root and get ~0
prior below it), so the search does not split visits between equal actions.

Letters: N searches, S candidates (S = V when enumerating), D embedding width.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import mctx

from offline_rl import mcts
from offline_rl.networks import heads as heads_lib


class SearchSettings(NamedTuple):
  """The search's static knobs (they set shapes and loop lengths).

  Attributes:
    num_simulations: simulations per search.
    search: 'muzero' (PUCT, mctx.muzero_policy) or 'gumbel' (mctx.gumbel_muzero_policy).
    num_samples: S sampled joint actions per node; 0 enumerates a one-head action.
    gamma: the discount between model steps.
    max_depth: the deepest node of a tree, in model steps: at most the model's
      training unroll K, beyond which its rewards and values were never trained.
    rescale_values: gumbel: min-max rescale the root's Q-values (mctx's default);
      False keeps them in return units (`offline_rl.mcts.search`).
    value_scale: gumbel: the Q-values' weight against the prior logits (mctx's 0.1).
  """
  num_simulations: int
  search: str
  num_samples: int
  gamma: float
  max_depth: int
  rescale_values: bool = True
  value_scale: float = 0.1


class Node(NamedTuple):
  """What mctx carries as a node's embedding: the model state [N, D] and its
  candidate joint actions, dict head -> [N, S] int32."""
  embedding: jax.Array
  candidates: dict


def candidates(model, settings: SearchSettings, params, embedding, key,
               legal_action_mask=None):
  """A node's candidates, prior logits [N, S] and value [N].

  Args:
    embedding: [N, D] model states.
    legal_action_mask: dict of [N, ...] bool masks (the root's), or None (all legal).

  Returns:
    (candidates dict head -> [N, S] int32, prior logits [N, S], valid [N, S] bool:
    False for illegal values when enumerating, for repeats when sampling, value [N]).
  """
  if settings.num_samples == 0:
    logits, _, value = model.predict(params, embedding, key,
                                     legal_action_mask=legal_action_mask)
    (name, head_logits), = logits.items()
    rows, width = head_logits.shape
    values = jnp.broadcast_to(jnp.arange(width, dtype=jnp.int32), (rows, width))
    return {name: values}, head_logits, head_logits > heads_lib.ILLEGAL_LOGIT / 2, value
  rows, samples = embedding.shape[0], settings.num_samples
  repeat = lambda x: jnp.repeat(x, samples, axis=0)
  _, _, value = model.predict(params, embedding, key)
  _, chosen, _ = model.predict(
      params, repeat(embedding), key,
      legal_action_mask=(None if legal_action_mask is None else
                         jax.tree.map(repeat, legal_action_mask)))
  chosen = jax.tree.map(lambda x: x.reshape(rows, samples), chosen)
  same = jnp.all(jnp.stack([c[:, :, None] == c[:, None, :] for c in chosen.values()]),
                 axis=0)  # [N, S, S]
  first = ~jnp.any(jnp.tril(same, k=-1), axis=-1)  # no earlier equal sample
  count = same.sum(-1).astype(jnp.float32)
  prior = jnp.where(first, jnp.log(count), heads_lib.ILLEGAL_LOGIT)
  return chosen, prior, first, value


def recurrent_fn(model, settings: SearchSettings):
  """mctx's `recurrent_fn(params, key, action [N], node) -> (RecurrentFnOutput, node)`:
  the dynamics on the chosen candidate, then the prediction of the new node.

  The edge's discount is γ times the model's predicted discount σ(ĉ): where the model
  ends the episode, the child's value and everything below it count zero in the
  parent's Q, so rewards the model still predicts after the end cannot add up along
  a deep branch."""
  def step(params, key, action, node: Node):
    joint = {name: jnp.take_along_axis(c, action[:, None], axis=1)[:, 0]
             for name, c in node.candidates.items()}
    embedding, reward, continuation = model.dynamics(params, node.embedding, joint)
    children, prior, _, value = candidates(model, settings, params, embedding, key)
    output = mctx.RecurrentFnOutput(
        reward=reward, discount=settings.gamma * jax.nn.sigmoid(continuation),
        prior_logits=prior, value=value)
    return output, Node(embedding, children)
  return step


def search(model, settings: SearchSettings, params, embedding, legal_action_mask, key,
           greedy: bool):
  """One batched search from the roots' embeddings.

  Args:
    embedding: [N, D] the representation of the observed states.
    legal_action_mask: dict of [N, ...] bool, the observed legal masks (or None).
    greedy: play the most visited (muzero) / the best (gumbel, no noise) child
      instead of sampling.

  Returns:
    (joint action dict head -> [N] int32, mctx.PolicyOutput over the candidates,
    root candidates dict head -> [N, S]).
  """
  root_key, search_key = jax.random.split(key)
  children, prior, valid, value = candidates(model, settings, params, embedding,
                                             root_key, legal_action_mask)
  root = mctx.RootFnOutput(prior_logits=prior, value=value,
                           embedding=Node(embedding, children))
  output = mcts.search(params, search_key, root, recurrent_fn(model, settings), valid,
                       kind=settings.search, num_simulations=settings.num_simulations,
                       max_depth=settings.max_depth, temperature=0.0 if greedy else 1.0,
                       rescale_values=settings.rescale_values,
                       value_scale=settings.value_scale)
  action = {name: jnp.take_along_axis(c, output.action[:, None], axis=1)[:, 0]
            for name, c in children.items()}
  return action, output, children
