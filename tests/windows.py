"""Hand-made training windows for loss tests: give steps 1..T, get a Batch [B, T+1]."""
import jax
import numpy as np

from offline_rl import batch as batch_lib


def window(*, action, reward=None, discount=None, is_last=None, is_terminal=None,
           mask=None, legal_action_mask=None, observation=None, rating=None):
  """A Batch whose steps 1..T are the given [B, T] arrays; step 0 lies before the
  episode (zeros, mask False), so step 1 is the episode's first."""
  first = next(iter(action.values()))
  shape = np.shape(first)
  pad = lambda x: np.concatenate([np.zeros((shape[0], 1) + np.shape(x)[2:],
                                           np.asarray(x).dtype), np.asarray(x)], 1)
  zeros = lambda dtype: np.zeros(shape, dtype)
  is_first = zeros(bool)
  is_first[:, 0] = True
  steps_mask = np.ones(shape, bool) if mask is None else np.asarray(mask)
  return batch_lib.Batch(
      observation=jax.tree.map(pad, observation if observation is not None else
                               {'x': np.zeros(shape + (1,), np.float32)}),
      action=jax.tree.map(pad, action),
      reward=pad(zeros(np.float32) if reward is None else np.float32(reward)),
      discount=pad(np.ones(shape, np.float32) if discount is None else
                   np.float32(discount)),
      is_first=pad(is_first),
      is_last=pad(zeros(bool) if is_last is None else np.asarray(is_last)),
      is_terminal=pad(zeros(bool) if is_terminal is None else np.asarray(is_terminal)),
      legal_action_mask=(None if legal_action_mask is None else
                         jax.tree.map(pad, legal_action_mask)),
      mask=pad(steps_mask),
      metadata={'rating': np.full(shape[:1], np.nan, np.float32) if rating is None else
                np.float32(rating)})
