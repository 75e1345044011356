"""A periodic evaluation hook for the learner: returns (and wins) from rollouts.

`make_eval_fn` plays `num_episodes` episodes of the agent's policy (seat 0) against
fixed opponents in the other seats with `offline_rl.rollout` (one compiled scan for JAX
environments) and reports the first episode of each parallel environment: mean
return, and for two-player games the win, draw and loss rates.
The full evaluation (Elo, tournaments) lives in offline_rl.evaluation.
"""
from __future__ import annotations

from typing import Sequence

import jax
import numpy as np

from offline_rl import rollout
from offline_rl import types


def first_episode_returns(steps: rollout.Steps, player: int = 0) -> np.ndarray:
  """[N] return of the first episode of each environment in `Steps` [T, N, P, ...].

  Rewards at steps 1..L count, L the first `is_last` (the reward at a step is what the
  previous action earned). Raises if an environment never finished.
  """
  ts = jax.device_get(steps.timestep)
  is_last = np.asarray(ts.is_last)  # [T, N]
  if not is_last.any(axis=0).all():
    raise ValueError('Some episodes did not finish within the rollout; roll out at '
                     'least max_episode_steps + 1 steps.')
  end = np.argmax(is_last, axis=0)  # [N]
  t = np.arange(is_last.shape[0])[:, None]
  inside = (t >= 1) & (t <= end[None, :])
  reward = np.asarray(ts.reward)[:, :, player]
  return (reward * inside).sum(0)


def _play(env, run, policies, params, num_episodes, seed) -> dict[str, float]:
  state = rollout.init(env, policies, jax.random.PRNGKey(seed), num_envs=num_episodes)
  _, steps = run(params, state)
  returns = first_episode_returns(steps)
  results = {'return': float(returns.mean())}
  if env.spec.num_players > 1:
    results.update(win_rate=float((returns > 0).mean()),
                   draw_rate=float((returns == 0).mean()),
                   loss_rate=float((returns < 0).mean()))
  return results


_RUNS: dict = {}


def evaluate(env, policy: types.Policy, opponents: Sequence[types.Policy] = (),
             num_episodes: int = 64, seed: int = 0) -> dict[str, float]:
  """Plays `policy` in seat 0 against `opponents`: mean return (and win, draw and
  loss rates in two-player games) over the first episode of `num_episodes` envs.

  The compiled rollout is reused for policies with the same apply functions (e.g.
  one policy with new params via `policy._replace(params=...)`).
  """
  policies = [policy, *opponents]
  key = (id(env), tuple(p.apply for p in policies))
  if key not in _RUNS:
    if len(_RUNS) >= 8:
      _RUNS.pop(next(iter(_RUNS)))
    _RUNS[key] = (env, rollout.make_run(env, policies, env.spec.max_episode_steps + 1))
  run = _RUNS[key][1]
  return _play(env, run, policies, tuple(p.params for p in policies), num_episodes,
               seed)


def make_eval_fn(env, agent, opponents: Sequence[types.Policy] = (),
                 num_episodes: int = 64, greedy: bool | None = None, seed: int = 0,
                 top_rating=lambda: None):
  """`eval_fn(params, step) -> results` for `Learner(eval_fn=...)`.

  The rollout compiles once, at the first call; later calls pass the new policy
  params (the agent's policy must keep its apply function's semantics fixed and put
  everything that varies in the policy's params). `top_rating()` gives the rating
  input of rating-conditioned agents.
  """
  if len(opponents) != env.spec.num_players - 1:
    raise ValueError(f'{env.spec.env_id} has {env.spec.num_players} seats: give '
                     f'{env.spec.num_players - 1} opponent policies for evaluation.')
  cache = {}

  def eval_fn(params, step):
    policy = agent.make_policy(params, greedy=greedy, top_rating=top_rating())
    if not cache:
      cache['policies'] = [policy, *opponents]
      cache['run'] = rollout.make_run(env, cache['policies'],
                                      env.spec.max_episode_steps + 1)
    all_params = (policy.params,) + tuple(p.params for p in opponents)
    return _play(env, cache['run'], cache['policies'], all_params, num_episodes,
                 seed + int(step))
  return eval_fn
