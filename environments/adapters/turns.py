"""The convention for turn-based games in a protocol that steps all seats together.

The protocol's `step(state, action)` takes every seat's action (a pytree [P, ...]).
Turn-based games (PettingZoo AEC, pgx, OpenSpiel) follow one convention:

  * `observation['to_play']`: float32 per seat, 1.0 for the seat whose action the
    next step applies (several seats at a simultaneous-move node), else 0.0.
  * Only the acting seat's action is applied; a waiting seat's action is ignored.
  * A waiting seat's legal-action mask allows exactly one action, index 0 (a stand-in
    for "pass"): it is never all-False, so a policy never samples from an empty
    distribution, and a behaviour-cloning loss with masked logits is exactly zero
    there. Whatever a waiting seat "chooses" is recorded but has no effect.
  * At `is_last` every seat's mask is all-True (no action follows; pgx does the same).
  * Rewards go to every seat at every step: the loser's -1 arrives at the same step as
    the winner's +1.

A recorder or learner that wants only the decisions selects steps with
`observation['to_play'] > 0`.
"""
from __future__ import annotations

import numpy as np

WAITING_ACTION = 0


def seat_masks(legal: np.ndarray, to_play: np.ndarray, is_last) -> np.ndarray:
  """Applies the convention to per-seat masks (NumPy or jax.numpy arrays).

  Args:
    legal: [..., P, A] bool, each seat's legal actions (rows of waiting seats unused).
    to_play: [..., P] bool.
    is_last: [...] bool.

  Returns:
    [..., P, A] bool masks: the acting seats' own, one-hot WAITING_ACTION for waiting
    seats, all-True where is_last.
  """
  xp = _namespace(legal)
  num_actions = legal.shape[-1]
  waiting = xp.arange(num_actions) == WAITING_ACTION
  masks = xp.where(to_play[..., None], legal, waiting)
  return xp.where(xp.asarray(is_last)[..., None, None], True, masks)


def _namespace(array):
  if isinstance(array, np.ndarray):
    return np
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  return jnp
