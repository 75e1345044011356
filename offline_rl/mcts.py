"""One call into mctx for every planner: MZS-MCTS (a learned model,
`offline_rl.agents.muzero.search`) and the pgx search bots (the true game,
`offline_rl.environments.adapters.pgx_bots`).

It chooses the mctx policy and converts the platform's `legal_action_mask` (True =
legal) into mctx's `invalid_actions` (True = illegal) at the call, the one place
that convention crosses. The model enters as mctx's own data and callable:

    output = mcts.search(params, key, root, recurrent_fn, legal_action_mask,
                         kind='gumbel', num_simulations=32, max_depth=5)

Letters: B searches, A actions of a node.
"""
from __future__ import annotations

import functools

import jax

KINDS = ('muzero', 'gumbel')


def search(params, key: jax.Array, root: mctx.RootFnOutput, recurrent_fn,
           legal_action_mask: jax.Array, *, kind: str, num_simulations: int,
           max_depth: int | None = None, temperature=1.0,
           dirichlet_fraction=0.0, rescale_values: bool = True,
           value_scale: float = 0.1) -> mctx.PolicyOutput:
  """One batched search from `root`.

  Args:
    params: handed to `recurrent_fn(params, key, action [B], embedding) ->
      (mctx.RecurrentFnOutput, embedding)`.
    root: mctx.RootFnOutput, prior logits [B, A], value [B], embedding.
    legal_action_mask: [B, A] bool, True = legal at the root.
    kind: 'muzero' (PUCT, mctx.muzero_policy) or 'gumbel' (Gumbel MuZero,
      mctx.gumbel_muzero_policy, Danihelka et al. 2022).
    num_simulations: simulations per search.
    max_depth: the deepest node, in steps from the root (None: as deep as the
      simulations reach). A learned model is trusted only as far as it was unrolled.
    temperature: muzero: the visit counts' temperature of the played action (0: the
      most visited); gumbel: the scale of the root's Gumbel noise (0: the best child).
    dirichlet_fraction: muzero only: the weight of Dirichlet noise on the root prior.
    rescale_values: gumbel only: min-max rescale the root's completed Q-values to
      [0, 1] (mctx's default). False keeps them in the returns' own units, so that
      children whose values differ by noise alone do not outweigh the prior.
    value_scale: gumbel only: the weight c_scale of the completed Q-values against
      the prior logits, σ(q) = (c_visit + max N) c_scale q (mctx's default 0.1, made
      for Q-values in [0, 1]).

  Returns:
    mctx.PolicyOutput: action [B], action_weights [B, A], search_tree.
  """
  import mctx  # pylint: disable=g-import-not-at-top  (the platform imports without it)
  if kind == 'muzero':
    return mctx.muzero_policy(
        params, key, root, recurrent_fn, num_simulations,
        invalid_actions=~legal_action_mask, max_depth=max_depth,
        dirichlet_fraction=dirichlet_fraction, temperature=temperature)
  if kind == 'gumbel':
    return mctx.gumbel_muzero_policy(
        params, key, root, recurrent_fn, num_simulations,
        invalid_actions=~legal_action_mask, max_depth=max_depth,
        qtransform=functools.partial(mctx.qtransform_completed_by_mix_value,
                                     rescale_values=rescale_values,
                                     value_scale=value_scale),
        gumbel_scale=temperature)
  raise ValueError(f'mcts.search: kind must be one of {KINDS}, got {kind!r}.')
