"""Does an OAC run's behaviour value V^μ know who wins? The first check of a critic.

OAC's policy gradient is only as good as its advantages G_t − V^μ(s_t); in a game
with one ±1 reward at the end, V^μ(s_t) is the expected outcome, so a critic that
has learned anything predicts the winner of held-out games better than chance.

`experiments/oac_diagnostics.py RUN` scores a run's value head on windows of its
validation split (the episodes the run held out, `validation_fraction`) and prints,
as JSON, over the steps of decided games (outcome ±1): the accuracy of sign V(s_t)
as a prediction of the outcome with a 95% bootstrap interval over the sampled
windows, the same per third of the game (when the observation has Skirmish's `tick`
scalar, the fraction of the tick limit), the AUC and correlation of V with the
outcome, and the spread of the TD(λ) advantages that the run's loss uses.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from offline_rl import batch as batch_lib
from offline_rl import losses


class ValueSteps(NamedTuple):
  """The scored steps, flattened to [N]."""
  value: np.ndarray  # V(s_t)
  advantage: np.ndarray  # G^λ_t − V(s_t) with the run's γ and λ; NaN without successor
  outcome: np.ndarray  # the episode's outcome: ±1, 0 a draw
  window: np.ndarray  # the sampled window the step came from (the bootstrap's unit)
  phase: np.ndarray  # the game's progress in [0, 1], NaN when unknown


def value_and_advantage(network, cfg: dict, params, batch: batch_lib.Batch, key):
  """(V [B, T], G^λ − V [B, T]) on steps 1..T of `batch` [B, T+1]; the advantage is
  NaN at step T, whose return needs a successor. Jittable."""
  out = losses.forward(network, params, batch, key)
  returns = losses.lambda_returns(batch.reward[:, 1:], batch.discount[:, 1:], out.value,
                                  batch.is_last[:, 1:], gamma=cfg['gamma'],
                                  lambda_=cfg['lambda_'])  # [B, T-1]
  advantage = jnp.concatenate(
      [returns - out.value[:, :-1], jnp.full_like(out.value[:, :1], jnp.nan)], axis=1)
  return out.value, advantage


def tick_index(spec) -> int | None:
  """The index of the `tick` scalar (tick / max_ticks) in `observation['scalars']`, or
  None when the environment has none."""
  names = dict(spec.params).get('scalar_names', ())
  if 'scalars' not in spec.observation or 'tick' not in names:
    return None
  return list(names).index('tick')


def flatten_steps(batch: batch_lib.Batch, value, advantage, first_window: int,
                  tick: int | None) -> ValueSteps:
  """The trained steps of `batch` with their value [B, T] and advantage [B, T]."""
  where = np.asarray(losses.trained_steps(batch))  # [B, T]
  b, t = where.shape
  per_window = lambda x: np.broadcast_to(np.asarray(x).reshape(b, 1), (b, t))[where]
  phase = (np.asarray(batch.observation['scalars'])[:, 1:, tick] if tick is not None
           else np.full((b, t), np.nan))
  return ValueSteps(value=np.asarray(value)[where], advantage=np.asarray(advantage)[where],
                    outcome=per_window(batch.metadata['outcome']),
                    window=per_window(first_window + np.arange(b)),
                    phase=phase[where])


def auc(score: np.ndarray, positive: np.ndarray) -> float:
  """P(a random positive scores above a random negative), ties counting ½."""
  _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
  upper = np.cumsum(counts)  # Average rank of each distinct score, from 1.
  ranks = (upper - (counts - 1) / 2.0)[inverse]
  n_pos, n_neg = positive.sum(), (~positive).sum()
  return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def accuracy_with_interval(correct: np.ndarray, window: np.ndarray, rng,
                           bootstrap: int) -> dict:
  """Mean of `correct` [N] with a 95% interval resampling whole windows (the steps
  of one window are not independent)."""
  if not len(correct):
    return dict(accuracy=None, interval=None, steps=0)
  ids, inverse = np.unique(window, return_inverse=True)
  hits = np.bincount(inverse, correct.astype(float), len(ids))
  sizes = np.bincount(inverse, None, len(ids))
  draws = rng.integers(0, len(ids), (bootstrap, len(ids)))
  resampled = hits[draws].sum(1) / sizes[draws].sum(1)
  return dict(accuracy=float(correct.mean()),
              interval=[float(np.percentile(resampled, 2.5)),
                        float(np.percentile(resampled, 97.5))],
              steps=int(len(correct)))


def summarise(steps: ValueSteps, *, bootstrap: int = 1000, seed: int = 0) -> dict:
  """The report's numbers (module doc) over the steps of decided games."""
  rng = np.random.default_rng(seed)
  decided = steps.outcome != 0
  value, won, window = steps.value[decided], steps.outcome[decided] > 0, steps.window[decided]
  correct = (value > 0) == won
  by_phase = {}
  if np.isfinite(steps.phase).all():
    phase = steps.phase[decided]
    for i, name in enumerate(('first third', 'second third', 'last third')):
      part = (phase >= i / 3) & ((phase < (i + 1) / 3) | (i == 2))
      by_phase[name] = accuracy_with_interval(correct[part], window[part], rng, bootstrap)
  advantage = steps.advantage[np.isfinite(steps.advantage)]
  return dict(
      decided_steps=accuracy_with_interval(correct, window, rng, bootstrap),
      draw_steps_left_out=int((~decided).sum()),
      by_phase=by_phase, auc=auc(value, won),
      correlation=float(np.corrcoef(value, np.where(won, 1.0, -1.0))[0, 1]),
      value_mean=float(value.mean()), value_std=float(value.std()),
      advantage_std=float(advantage.std()),
      advantage_abs_mean=float(np.abs(advantage).mean()))


def gradient_agreement(gradients: list) -> dict:
  """The mean pairwise cosine of `gradients` (pytrees of one shape), each computed on
  an independent batch: near 0 when the batch's gradient is mostly sampling noise
  (then Adam, which normalises its steps, moves the policy by noise), near 1 when
  the batches agree."""
  flat = [np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(g)])
          for g in gradients]
  if len(flat) < 2:
    raise ValueError('gradient_agreement needs gradients of at least two batches.')
  unit = [f / max(np.linalg.norm(f), 1e-30) for f in flat]
  cosines = [float(unit[i] @ unit[j]) for i in range(len(unit))
             for j in range(i + 1, len(unit))]
  return dict(mean_cosine=float(np.mean(cosines)), min_cosine=float(np.min(cosines)),
              max_cosine=float(np.max(cosines)), batches=len(flat),
              gradient_norm=float(np.mean([np.linalg.norm(f) for f in flat])))


def q_and_returns(network, cfg: dict, params, batch: batch_lib.Batch, key):
  """(V [B, T-1], G^λ [B, T-1], {head: q_h(s, a_≤h) [B, T-1]}, where [B, T-1]) on
  the value steps of `batch` [B, T+1], for a run with Q heads (oac.advantage 'q').
  Jittable."""
  out = losses.forward(network, params, batch, key)
  returns = losses.lambda_returns(batch.reward[:, 1:], batch.discount[:, 1:], out.value,
                                  batch.is_last[:, 1:], gamma=cfg['gamma'],
                                  lambda_=cfg['lambda_'])
  q = {n: x[:, :-1] for n, x in losses.q_of_logged(out.q, batch).items()}
  return out.value[:, :-1], returns, q, losses.value_steps(batch)


def summarise_q(value, returns, q: dict, window, *, bootstrap: int = 1000,
                seed: int = 0) -> dict:
  """Does Q^μ know more than V^μ about the logged action? Over value steps [N]
  (`q` in the heads' autoregressive order, so the last is Q(s, a) of the whole action):
  each head's squared error against G^λ beside V's, and the correlation of the last
  head's learned advantage q(s, a) − V(s) with the sampled one G^λ − V(s), with a
  95% interval resampling whole windows. A correlation near 0 means the Q heads
  learned the state's value but nothing about the action."""
  rng = np.random.default_rng(seed)
  last = list(q)[-1]
  learned, sampled = q[last] - value, returns - value
  ids, inverse = np.unique(window, return_inverse=True)
  draws = rng.integers(0, len(ids), (bootstrap, len(ids)))
  members = [np.flatnonzero(inverse == i) for i in range(len(ids))]
  corr = lambda rows: float(np.corrcoef(learned[rows], sampled[rows])[0, 1])
  resampled = [corr(np.concatenate([members[i] for i in d])) for d in draws]
  return dict(steps=int(len(value)),
              value_squared_error=float(np.mean(np.square(sampled))),
              q_squared_error={n: float(np.mean(np.square(x - returns)))
                               for n, x in q.items()},
              advantage_correlation=corr(np.arange(len(value))),
              advantage_correlation_interval=[float(np.percentile(resampled, 2.5)),
                                              float(np.percentile(resampled, 97.5))],
              learned_advantage_std=float(learned.std()),
              sampled_advantage_std=float(sampled.std()))
