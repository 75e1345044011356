"""Value agents against BC on mixed-quality data: the numbers in docs/agents.md.

  .venv/bin/python experiments/value_benchmark.py --env=corridor --seeds=3
  .venv/bin/python experiments/value_benchmark.py --env=cartpole --seeds=3
  .venv/bin/python experiments/value_benchmark.py --env=pendulum --seeds=3
  .venv/bin/python experiments/value_benchmark.py --env=breakout --seeds=3
  .venv/bin/python experiments/value_benchmark.py --env=lunarlander --seeds=3

The dataset mixes a good and a poor policy, so imitating all of it is mediocre:
  corridor: Corridor (length 8) games of bot(0.9) and bot(0.1) against each other,
    both seats recorded; agents are scored by win rate against bot(0.5).
  cartpole: CartPole-v1 episodes of a PD controller and of the same controller taking
    a uniformly random action 80% of the time; agents are scored by return.
  pendulum: Pendulum-v1 (continuous torque) episodes of a swing-up controller and of a
    uniformly random torque; BC, IQL and CQL only (OAC is for discrete actions).
  breakout: MinAtar Breakout-v1 (500 steps at most) episodes of a ball-tracking
    paddle controller and of uniformly random actions.
  lunarlander: LunarLander-v3 episodes of a PD landing controller and of uniformly
    random actions.
Single-agent tasks are scored by return, also normalised to 0 (the poor policy) ..
100 (the good one), both evaluated here on the agents' evaluation seeds.
For each seed, BC trains on all of the data; OAC and E-OAC start from that BC run and
distil towards it; IQL and CQL train from scratch. Every agent's policy samples its
actions (BC then reproduces the data's mixture), except those in `GREEDY`: on
CartPole, CQL acts greedily on its Q-values (its softmax at temperature 1 is near
uniform where Q-values differ by less than one), and BC is also scored greedily as its
reference. `OVERRIDES` holds the per-task settings that differ from the agents'
defaults, with the reason. Each (agent, seed) is evaluated on
--episodes games; the table gives the mean over seeds with a 95% bootstrap interval,
and the JSON holds every seed's figure.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import NamedTuple

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp

from offline_rl import agents
from offline_rl import data
from offline_rl import datasets
from offline_rl import learner
from offline_rl import types
from offline_rl.environments import make
from offline_rl.environments import toy
from offline_rl.ratings import scores

AGENTS = ('bc', 'oac', 'eoac', 'iql', 'cql')
GREEDY = {'cartpole': ('cql',)}
# IQL's temperature β = 3 is the paper's for D4RL locomotion after 1M updates; on
# CartPole's returns of up to 500 and after 1,500 updates the critic's errors of a few
# units saturate exp(β A) (seed 0: β = 3 returns 120, β = 1 344, β = 0.3 383, BC 284).
OVERRIDES = {'cartpole': {'iql': {'iql.temperature': 0.3}}}


def pd_controller(noise: float):
  """CartPole's PD controller; with probability `noise` a uniformly random push."""
  def apply(params, timestep, state, key):
    del params
    x, x_dot, theta, theta_dot = jax.tree.leaves(timestep.observation)[0]
    push = (theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot > 0).astype(jnp.int64)
    explore, coin = jax.random.split(key)
    random = jax.random.bernoulli(coin).astype(jnp.int64)
    push = jnp.where(jax.random.uniform(explore) < noise, random, push)
    return {'action': push}, state
  return types.Policy(f'pd-noise{noise}', apply, ())


def pendulum_controller(noise: float = 0.0):
  """Pendulum-v1's swing-up: energy pumping, then PD control near the top; with
  probability `noise` a uniformly random torque instead. Return about -140 at noise 0.

  The dynamics are θ'' = 15 sin θ + 3u (θ = 0 upright), so E = ½ θ'² + 15 (cos θ - 1)
  is 0 upright at rest and dE/dt = 3 u θ': pushing along θ' by -E pumps energy in.
  """
  def apply(params, timestep, state, key):
    del params
    cos, sin, velocity = jax.tree.leaves(timestep.observation)[0]
    energy = 0.5 * velocity ** 2 + 15.0 * (cos - 1.0)
    pump = jnp.where(jnp.abs(velocity) > 1e-3, -energy * velocity, 1.0)
    torque = jnp.where(cos > 0.85, -(10.0 * jnp.arctan2(sin, cos) + 2.0 * velocity), pump)
    explore, coin = jax.random.split(key)
    torque = jnp.where(jax.random.uniform(coin) < noise,
                       jax.random.uniform(explore, (), jnp.float32, -2.0, 2.0), torque)
    return {'action': jnp.clip(torque, -2.0, 2.0)[None].astype(jnp.float32)}, state
  return types.Policy(f'swingup-noise{noise}', apply, ())


def breakout_tracker(noise: float = 0.0):
  """MinAtar Breakout-v1 (actions no-op, left, right): move the paddle under the
  column where the ball will reach row 8, predicted from the ball and its trail with
  the walls' reflections (and, rising, one bounce off the lowest row of bricks);
  with probability `noise` a uniformly random action. Return about 18 at noise 0
  over 500 steps, 0.6 at noise 1.
  """
  def apply(params, timestep, state, key):
    del params
    obs = jax.tree.leaves(timestep.observation)[0].astype(jnp.float32)  # [10, 10, 4]
    cols = jnp.arange(10, dtype=jnp.float32)
    paddle = (obs[9, :, 0] * cols).sum() / jnp.maximum(obs[9, :, 0].sum(), 1.0)
    ball_x = (obs[..., 1].sum(0) * cols).sum() / jnp.maximum(obs[..., 1].sum(), 1.0)
    ball_y = (obs[..., 1].sum(1) * cols).sum() / jnp.maximum(obs[..., 1].sum(), 1.0)
    trail_x = (obs[..., 2].sum(0) * cols).sum() / jnp.maximum(obs[..., 2].sum(), 1.0)
    trail_y = (obs[..., 2].sum(1) * cols).sum() / jnp.maximum(obs[..., 2].sum(), 1.0)
    dx = jnp.sign(ball_x - trail_x)
    falling = ball_y > trail_y
    # The ball's column on row 8, above the paddle: a wall holds it one step in the
    # edge column, so its unfolded path has period 20.
    p = jnp.mod(ball_x + dx * (8.0 - ball_y), 20.0)
    landing = jnp.where(p > 9.0, 19.0 - p, p)
    # Rising, it bounces off the lowest row of bricks (or the ceiling) first.
    bricks = obs[..., 3].any(1)
    lowest = jnp.max(jnp.where(bricks, jnp.arange(10), -1))
    k = ball_y + 8.0 - 2.0 * (lowest + 1) + (lowest >= 0)
    q = jnp.mod(ball_x + dx * k, 20.0)
    target = jnp.where(falling, landing, jnp.where(q > 9.0, 19.0 - q, q))
    action = jnp.where(target < paddle, 1, jnp.where(target > paddle, 2, 0))
    explore, coin = jax.random.split(key)
    action = jnp.where(jax.random.uniform(coin) < noise,
                       jax.random.randint(explore, (), 0, 3), action)
    return {'action': action.astype(jnp.int32)}, state
  return types.Policy(f'tracker-noise{noise}', apply, ())

def lander_controller(noise: float = 0.0):
  """LunarLander-v3 (actions no-op, left engine, main engine, right engine): a PD
  controller written for this benchmark. It tilts towards the pad (target angle from
  x and vx), holds a descent profile (target height 0.55 |x|), fires the main engine
  when lift is needed more than a turn, and only damps the fall once a leg touches;
  with probability `noise` a uniformly random action. Return about 260 at noise 0,
  -200 at noise 1.
  """
  def apply(params, timestep, state, key):
    del params
    x, y, vx, vy, angle, spin, left, right = jax.tree.leaves(timestep.observation)[0]
    down = (left > 0.5) | (right > 0.5)
    tilt = jnp.clip(0.5 * x + 1.0 * vx, -0.4, 0.4)
    turn = jnp.where(down, 0.0, 0.5 * (tilt - angle) - 1.0 * spin)
    lift = jnp.where(down, -0.5 * vy, 0.5 * (0.55 * jnp.abs(x) - y) - 0.5 * vy)
    action = jnp.where((lift > jnp.abs(turn)) & (lift > 0.05), 2,
                       jnp.where(turn < -0.05, 3, jnp.where(turn > 0.05, 1, 0)))
    explore, coin = jax.random.split(key)
    action = jnp.where(jax.random.uniform(coin) < noise,
                       jax.random.randint(explore, (), 0, 4), action)
    return {'action': action.astype(jnp.int32)}, state
  return types.Policy(f'lander-noise{noise}', apply, ())
class Setting(NamedTuple):
  """A benchmark task: the data's mixture and how agents are scored."""
  env: object
  matchups: list  # Recorded alternately: [(good, poor), (poor, good)] or [(good,), (poor,)].
  opponents: list  # Evaluation opponents (two-player games).
  score: str  # 'win_rate' or 'return'.
  num_episodes: int  # Episodes recorded.
  references: dict  # {'good': policy, 'poor': policy}: 100 and 0 of the normalised
  # score, evaluated beside the agents (single-agent tasks).


def setting(name: str) -> Setting:
  """The task `name`'s environment, data mixture and score."""
  if name == 'corridor':
    env = make('toy/corridor-v0', length=8, max_steps=40)
    good, poor = toy.bot(0.9, rating=1500.0), toy.bot(0.1, rating=800.0)
    return Setting(env, [(good, poor), (poor, good)], [toy.bot(0.5)], 'win_rate', 800, {})
  tasks = {
      'cartpole': (lambda: make('gym/CartPole-v1'), pd_controller, 0.8),
      'pendulum': (lambda: make('gym/Pendulum-v1'), pendulum_controller, 1.0),
      # Episodes cut at 500 steps (a truncation, bootstrapped): the tracker would
      # otherwise play for thousands of steps.
      'breakout': (lambda: make('gym/MinAtar/Breakout-v1', max_episode_steps=500),
                   breakout_tracker, 1.0),
      'lunarlander': (lambda: make('gym/LunarLander-v3'), lander_controller, 1.0),
  }
  if name not in tasks:
    raise SystemExit(f'--env must be corridor or one of {sorted(tasks)}, not {name!r}.')
  make_env, controller, poor_noise = tasks[name]
  good, poor = controller(0.0), controller(poor_noise)
  return Setting(make_env(), [(good,), (poor,)], [], 'return', 200,
                 {'good': good, 'poor': poor})


def train(name, dataset, workdir, seed, steps, teacher='', unroll_length=8,
          overrides=None):
  config = agents.default_config(name)
  config.update(seed=seed, num_steps=steps, batch_size=64, updates_per_call=100,
                log_every=steps, checkpoint_every=steps, teacher=teacher,
                unroll_length=1 if name == 'bc' else unroll_length)
  for field, value in (overrides or {}).items():
    section, key = field.split('.')
    config[section][key] = value
  windows = data.make_iterator(dataset, batch_size=64,
                               unroll_length=int(config.unroll_length), seed=seed,
                               validation_fraction=0.0)
  run = learner.Learner(agents.make(name, windows.spec, config), windows, config,
                        workdir, progress=False, tensorboard=False)
  run.train()
  run.close()


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--env', default='corridor')
  parser.add_argument('--seeds', type=int, default=3)
  parser.add_argument('--steps', type=int, default=3000)
  parser.add_argument('--episodes', type=int, default=200)
  parser.add_argument('--workdir', default='runs/value_benchmark')
  args = parser.parse_args()
  task = setting(args.env)
  env, matchups, opponents, score = task.env, task.matchups, task.opponents, task.score
  root = os.path.join(args.workdir, args.env)
  dataset = os.path.join(root, 'data')
  if not os.path.exists(dataset):
    datasets.record(env, matchups, dataset, num_episodes=task.num_episodes, num_envs=16,
                    progress=False, log=None)
  # Continuous actions: the agents defined for them, on windows of one transition
  # (CQL scores 20 sampled actions a step).
  names = ('bc', 'iql', 'cql') if args.env == 'pendulum' else AGENTS
  greedy = GREEDY.get(args.env, ())
  rows = names + (('bc/greedy',) if greedy else ())  # BC greedy: their reference.
  results = {row: [] for row in rows}
  references = {name: [float(learner.evaluate(env, policy, (), args.episodes,
                                              seed=1000 + seed)['return'])
                        for seed in range(args.seeds)]
                for name, policy in task.references.items()}
  start = time.time()

  def score_of(row, run, seed, greedy):
    policy = learner.load_policy(run, greedy=greedy)
    value = float(learner.evaluate(env, policy, opponents, args.episodes,
                                   seed=1000 + seed)[score])
    results[row].append(value)
    print(f'seed {seed} {row:9} {score} {value:.3f}', flush=True)

  for seed in range(args.seeds):
    runs = {name: os.path.join(root, f'{name}-seed{seed}') for name in names}
    for name in names:
      train(name, dataset, runs[name], seed, args.steps,
            teacher=runs['bc'] if name in ('oac', 'eoac') else '',
            unroll_length=2 if args.env == 'pendulum' else 8,
            overrides=OVERRIDES.get(args.env, {}).get(name))
      score_of(name, runs[name], seed, greedy=name in greedy)
    if greedy:
      score_of('bc/greedy', runs['bc'], seed, greedy=True)
  table = {}
  print(f'\n{args.env}: {score} over {args.seeds} seeds x {args.episodes} episodes '
        f'(mean, 95% bootstrap interval over seeds)')
  for name, values in references.items():
    print(f'{name:6} {float(sum(values)) / len(values):8.3f}  per seed '
          f'{[round(v, 3) for v in values]}')
  for name in rows:
    estimate = scores.mean_ci(results[name])
    table[name] = {'mean': estimate.value, 'ci95': [estimate.lower, estimate.upper],
                   'per_seed': results[name]}
    line = (f'{name:9} {estimate.value:8.3f}  [{estimate.lower:.3f}, '
            f'{estimate.upper:.3f}]  per seed {[round(v, 3) for v in results[name]]}')
    if references:  # 0 = the poor policy, 100 = the good one, from their means.
      low, high = (float(sum(references[k])) / len(references[k])
                   for k in ('poor', 'good'))
      normalise = lambda v, low=low, high=high: 100.0 * (v - low) / (high - low)
      table[name]['normalised'] = {
          'mean': normalise(estimate.value),
          'ci95': [normalise(estimate.lower), normalise(estimate.upper)]}
      line += (f'  normalised {normalise(estimate.value):.1f} '
               f'[{normalise(estimate.lower):.1f}, {normalise(estimate.upper):.1f}]')
    print(line)
  with open(os.path.join(root, 'results.json'), 'w') as f:
    json.dump({'env': args.env, 'score': score, 'seeds': args.seeds,
               'episodes': args.episodes, 'steps': args.steps, 'agents': table,
               'references': references,
               'seconds': time.time() - start}, f, indent=2)


if __name__ == '__main__':
  main()
