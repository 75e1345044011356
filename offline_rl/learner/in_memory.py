"""Windows sampled from rollouts held in memory, behind the data iterator interface.

`InMemoryIterator` serves `Batch`es [B, T+1, ...] from `offline_rl.rollout` output, with
the same interface as `offline_rl.data.make_iterator`'s iterators (`next()`, `.spec`,
`get_state()` / `set_state()`): tests, examples and quick experiments can train on
freshly generated episodes without writing a dataset. Sampling is uniform over the
steps that carry an action (not `is_last`), and deterministic given (seed, draws), so
a restored position continues the same sequence.

Letters: S stored steps (all episodes concatenated), B windows, T unroll length.
"""
from __future__ import annotations

from typing import Sequence

import jax
import numpy as np

from offline_rl import batch as batch_lib
from offline_rl.data import filters as filters_lib
from offline_rl import rollout
from offline_rl import specs

class InMemoryIterator:
  """Samples training windows from in-memory episodes (see the module docstring)."""

  def __init__(self, steps: rollout.Steps, spec: specs.EnvSpec, *, batch_size: int,
               unroll_length: int, seed: int = 0, seats: Sequence[int] | None = None,
               ratings: Sequence[float] | None = None,
               filters: str | Sequence[str] | None = None):
    """Args:
      steps: rollout records, `Steps` [T, N, P, ...] from `rollout.make_run`.
      spec: the environment's spec.
      batch_size: B.
      unroll_length: T; windows hold T+1 steps.
      seed: sampling seed.
      seats: which seats' experience to keep (default: all).
      ratings: each seat's rating, stored as the episodes' 'rating' metadata.
      filters: episode filters on the 'rating' metadata, in `offline_rl.data`'s
        grammar, e.g. 'rating>=1200'.
    """
    if batch_size < 1 or unroll_length < 1:
      raise ValueError(f'batch_size and unroll_length must be >= 1; got '
                       f'{batch_size} and {unroll_length}.')
    steps = jax.device_get(steps)
    num_players = spec.num_players
    seats = list(range(num_players)) if seats is None else list(seats)
    ratings = [float('nan')] * num_players if ratings is None else list(ratings)
    per_seat = [self._seat_columns(steps, p, ratings[p]) for p in seats]
    columns = {k: np.concatenate([c[k] for c in per_seat]) for k in per_seat[0]
               if k not in ('observation', 'action', 'legal_action_mask')}
    for k in ('observation', 'action', 'legal_action_mask'):
      columns[k] = jax.tree.map(lambda *x: np.concatenate(x), *[c[k] for c in per_seat])
    # Episode ids: a new one at every first step (each seat's series starts with one).
    columns['episode'] = np.cumsum(columns['is_first']) - 1
    # The data layer's filter grammar, on the one metadata field these episodes carry.
    keep = filters_lib.select(filters, {'rating': columns['rating']})
    self._columns = jax.tree.map(lambda x: x[keep], columns)
    self._columns['episode'] = np.cumsum(self._columns['is_first']) - 1
    self._trainable = np.flatnonzero(~self._columns['is_last'])
    if not len(self._trainable):
      raise ValueError('The episodes have no step with an action to train on.')
    self.spec = spec
    self.batch_size, self.unroll_length = batch_size, unroll_length
    self._seed, self._draws = int(seed), 0

  @classmethod
  def from_policies(cls, env, policies, *, num_envs: int, num_steps: int,
                    batch_size: int, unroll_length: int, seed: int = 0, **kwargs):
    """Rolls out `policies` (one per seat) and serves windows of the episodes.

    Ratings default to the policies' `rating`; `kwargs` go to the constructor.
    """
    import jax.random  # pylint: disable=g-import-not-at-top
    state = rollout.init(env, policies, jax.random.PRNGKey(seed), num_envs=num_envs)
    _, steps = rollout.make_run(env, policies, num_steps)(
        tuple(p.params for p in policies), state)
    kwargs.setdefault('ratings', [p.rating for p in policies])
    return cls(steps, env.spec, batch_size=batch_size, unroll_length=unroll_length,
               seed=seed, **kwargs)

  @staticmethod
  def _seat_columns(steps, player, rating):
    ts = steps.timestep
    take = lambda x: x[:, :, player]
    # [T, N, ...] -> env-major [N * T, ...] so that each env's episodes stay in order.
    flat = lambda x: np.swapaxes(np.asarray(x), 0, 1).reshape((-1,) + x.shape[2:])
    is_first = flat(ts.is_first)
    return {
        'observation': jax.tree.map(lambda x: flat(take(x)), ts.observation),
        'action': jax.tree.map(lambda x: flat(take(x)), steps.action),
        'legal_action_mask': (None if ts.legal_action_mask is None else
                              jax.tree.map(lambda x: flat(take(x)),
                                           ts.legal_action_mask)),
        'reward': flat(take(ts.reward)).astype(np.float32),
        'discount': flat(ts.discount).astype(np.float32),
        'is_first': is_first.astype(bool),
        'is_last': flat(ts.is_last).astype(bool),
        'is_terminal': flat(ts.is_terminal).astype(bool),
        'rating': np.full(is_first.shape, rating, np.float32),
    }

  @property
  def num_steps(self) -> int:
    """Steps with an action to train on."""
    return len(self._trainable)

  def get_state(self) -> dict:
    return {'seed': self._seed, 'draws': self._draws}

  def set_state(self, state: dict) -> None:
    self._seed, self._draws = int(state['seed']), int(state['draws'])

  def __iter__(self):
    return self

  def __next__(self) -> batch_lib.Batch:
    rng = np.random.default_rng([self._seed, self._draws])
    self._draws += 1
    starts = rng.choice(self._trainable, self.batch_size)  # [B]
    offsets = np.arange(-1, self.unroll_length)  # [T+1]
    index = starts[:, None] + offsets[None, :]  # [B, T+1]
    size = len(self._columns['episode'])
    clipped = np.clip(index, 0, size - 1)
    cols = self._columns
    valid = (index >= 0) & (index < size) & (
        cols['episode'][clipped] == cols['episode'][starts][:, None])

    def gather(x):
      out = x[clipped]
      return np.where(valid.reshape(valid.shape + (1,) * (out.ndim - 2)), out,
                      np.zeros_like(out))
    return batch_lib.Batch(
        observation=jax.tree.map(gather, cols['observation']),
        action=jax.tree.map(gather, cols['action']),
        reward=gather(cols['reward']),
        discount=gather(cols['discount']),
        is_first=gather(cols['is_first']),
        is_last=gather(cols['is_last']),
        is_terminal=gather(cols['is_terminal']),
        legal_action_mask=(None if cols['legal_action_mask'] is None else
                           jax.tree.map(gather, cols['legal_action_mask'])),
        mask=valid,
        metadata={'rating': cols['rating'][starts]})

  next = __next__
