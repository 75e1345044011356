"""The training Batch: windows of consecutive steps of logged episodes.

Shapes: B windows, T unroll length. A window holds T+1 steps: index 0 carries the
observation and action *before* the first trained step (the network's "previous
action" input); indices 1..T are trained. Windows never cross an episode boundary:
steps outside the window's episode (before its first or after its last step) are
zero-filled and have `mask` False.
"""
from __future__ import annotations

from typing import Any, NamedTuple

Array = Any
PyTree = Any


class Batch(NamedTuple):
  """Windows [B, T+1, ...] of the RLDS step fields plus masks and episode metadata.

  Attributes:
    observation: pytree [B, T+1, ...].
    action: pytree [B, T+1, ...] keyed like the action spec.
    reward: [B, T+1] float32.
    discount: [B, T+1] float32.
    is_first: [B, T+1] bool.
    is_last: [B, T+1] bool.
    is_terminal: [B, T+1] bool.
    legal_action_mask: pytree [B, T+1, ...] of bool, or None.
    mask: [B, T+1] bool, True where the step belongs to the window's episode.
    metadata: dict of [B] arrays: per-episode values such as 'rating' (the acting
      seat's rating), 'outcome', 'episode_return'.
  """
  observation: PyTree
  action: PyTree
  reward: Array
  discount: Array
  is_first: Array
  is_last: Array
  is_terminal: Array
  legal_action_mask: PyTree | None
  mask: Array
  metadata: dict[str, Array]
