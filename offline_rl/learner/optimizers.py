"""Optimisers from a config: a learning-rate schedule, global-norm clipping, AdamW."""
from __future__ import annotations

from typing import Any, Mapping

import optax

SCHEDULES = ('constant', 'cosine', 'linear')


def make_schedule(config: Mapping[str, Any], num_steps: int) -> optax.Schedule:
  """The learning rate at each update.

  Config fields: learning_rate, schedule ('constant' | 'cosine' | 'linear' decay to
  `end_learning_rate_fraction` * learning_rate over `num_steps`), warmup_steps (linear
  warm-up from 0).
  """
  peak = float(config['learning_rate'])
  name = config['schedule']
  warmup = int(config['warmup_steps'])
  end = peak * float(config['end_learning_rate_fraction'])
  decay_steps = max(int(num_steps) - warmup, 1)
  if name == 'constant':
    decay = optax.constant_schedule(peak)
  elif name == 'cosine':
    decay = optax.cosine_decay_schedule(peak, decay_steps, alpha=end / peak if peak else 0)
  elif name == 'linear':
    decay = optax.linear_schedule(peak, end, decay_steps)
  else:
    raise ValueError(f'Unknown learning-rate schedule {name!r}; choose one of '
                     f'{SCHEDULES}.')
  if warmup <= 0:
    return decay
  return optax.join_schedules(
      [optax.linear_schedule(0.0, peak, warmup), decay], [warmup])


def make_optimizer(config: Mapping[str, Any], num_steps: int
                   ) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """Clip by global norm (max_grad_norm <= 0: no clipping), then AdamW.

  Config fields: those of `make_schedule`, plus b1, b2, eps, weight_decay,
  max_grad_norm.
  """
  schedule = make_schedule(config, num_steps)
  parts = []
  if float(config['max_grad_norm']) > 0:
    parts.append(optax.clip_by_global_norm(float(config['max_grad_norm'])))
  parts.append(optax.adamw(schedule, b1=float(config['b1']), b2=float(config['b2']),
                           eps=float(config['eps']),
                           weight_decay=float(config['weight_decay'])))
  return optax.chain(*parts), schedule
