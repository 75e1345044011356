"""Single-agent scores: returns with intervals, normalised scores, IQM across runs.

Letters: R runs (independent training seeds), M tasks (environments or datasets),
E episodes, S bootstrap samples.

Following Agarwal et al. (2021, "Deep RL at the edge of the statistical precipice",
the rliable library): aggregate normalised scores across runs and tasks with the
interquartile mean (the mean of the middle 50% of all R x M scores) and give
stratified-bootstrap percentile intervals, resampling runs with replacement
independently within each task. Written here from the paper's definitions.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np


class Estimate(NamedTuple):
  """A point estimate with its interval and the number of samples behind it."""
  value: float
  lower: float
  upper: float
  count: int


def mean_ci(values, *, confidence: float = 0.95, num_samples: int = 2000,
            seed: int = 0) -> Estimate:
  """Mean of [E] values with a percentile-bootstrap interval."""
  values = np.asarray(values, np.float64).reshape(-1)
  if values.size == 0:
    raise ValueError('mean_ci needs at least one value.')
  rng = np.random.default_rng(seed)
  idx = rng.integers(0, values.size, size=(num_samples, values.size))
  means = values[idx].mean(1)
  tail = 50 * (1 - confidence)
  lo, hi = np.percentile(means, [tail, 100 - tail])
  return Estimate(float(values.mean()), float(lo), float(hi), int(values.size))


def normalize(score, random_score, reference_score):
  """100 * (score - random) / (reference - random): 0 = random, 100 = the reference.

  Use the best policy in the dataset (or an expert) as the reference, and name it.
  """
  random_score = np.asarray(random_score, np.float64)
  reference_score = np.asarray(reference_score, np.float64)
  span = reference_score - random_score
  if np.any(span == 0):
    raise ValueError('The reference and random scores are equal, so normalised scores are '
                     'undefined; choose a reference policy that beats random.')
  return 100.0 * (np.asarray(score, np.float64) - random_score) / span


def iqm(scores) -> float:
  """Interquartile mean of all scores: drop the lowest and highest 25%, average the rest.

  Matches scipy.stats.trim_mean(scores, 0.25, axis=None): floor(0.25 n) values are cut
  from each end.
  """
  flat = np.sort(np.asarray(scores, np.float64).reshape(-1))
  cut = int(0.25 * flat.size)
  kept = flat[cut:flat.size - cut]
  if kept.size == 0:
    raise ValueError('iqm needs at least one score.')
  return float(kept.mean())


def stratified_bootstrap(scores, statistic: Callable[[np.ndarray], float] = iqm, *,
                         confidence: float = 0.95, num_samples: int = 2000,
                         seed: int = 0) -> Estimate:
  """A statistic of [R, M] scores with a stratified-bootstrap percentile interval.

  Each bootstrap sample draws R runs with replacement *within every task* separately
  (tasks are the strata), then applies `statistic` to the resampled [R, M] matrix.
  """
  scores = np.asarray(scores, np.float64)
  if scores.ndim == 1:
    scores = scores[:, None]
  if scores.ndim != 2 or scores.shape[0] < 1:
    raise ValueError(f'scores must be [runs, tasks]; got shape {scores.shape}.')
  runs, tasks = scores.shape
  rng = np.random.default_rng(seed)
  idx = rng.integers(0, runs, size=(num_samples, runs, tasks))
  resampled = np.take_along_axis(scores[None], idx, axis=1)  # [S, R, M]
  stats = np.array([statistic(s) for s in resampled])
  tail = 50 * (1 - confidence)
  lo, hi = np.percentile(stats, [tail, 100 - tail])
  return Estimate(float(statistic(scores)), float(lo), float(hi), int(scores.size))
