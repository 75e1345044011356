"""The learner's periodic evaluation hook, on the platform's evaluator.

`evaluate` plays the agent's policy against fixed opponents with
`offline_rl.evaluation.play` (one compiled loop, seats alternating in two-player games)
and reports the mean return and, for two-player games, win, draw and loss rates. Ratings
and tournaments live in offline_rl.evaluation and offline_rl.ratings.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from offline_rl import agent as agent_lib
from offline_rl import evaluation
from offline_rl import types


def evaluate(env, policy: types.Policy, opponents: Sequence[types.Policy] = (),
             num_episodes: int = 64, seed: int = 0) -> dict[str, float]:
  """Mean return (and win, draw and loss rates in two-player games) of `policy`
  against `opponents` over `num_episodes` games.

  The evaluator reuses its compiled program for policies with the same apply
  functions, e.g. one policy with new params via `policy._replace(params=...)`.
  """
  results = evaluation.play(env, [policy, *opponents], seed=seed,
                            num_games=num_episodes)
  returns = np.asarray(results.returns)[:, 0]
  summary = {'return': float(returns.mean())}
  if env.spec.num_players > 1:
    summary.update(win_rate=float((returns > 0).mean()),
                   draw_rate=float((returns == 0).mean()),
                   loss_rate=float((returns < 0).mean()))
  return summary


def make_eval_fn(env, agent, opponents: Sequence[types.Policy] = (),
                 num_episodes: int = 64, greedy: bool | None = None, seed: int = 0,
                 top_rating=lambda: None):
  """`eval_fn(params, step) -> results` for `Learner(eval_fn=...)`.

  The agent's policy keeps its apply function fixed and puts everything that varies in
  its params, so the evaluator compiles once. `top_rating()` gives the top rating
  seen in training, the rating input of rating-conditioned agents unless the config's
  `eval_rating` is set (`offline_rl.agent.eval_rating`).
  """
  if len(opponents) != env.spec.num_players - 1:
    raise ValueError(f'{env.spec.env_id} has {env.spec.num_players} seats: give '
                     f'{env.spec.num_players - 1} opponent policies for evaluation.')

  def eval_fn(params, step):
    rating = agent_lib.eval_rating(agent.config, top_rating())
    policy = agent.make_policy(params, greedy=greedy, rating=rating)
    return evaluate(env, policy, opponents, num_episodes, seed + int(step))
  return eval_fn
