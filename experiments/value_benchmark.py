"""Value agents against BC on mixed-quality data: the numbers in docs/agents.md.

  .venv/bin/python experiments/value_benchmark.py --env=corridor --seeds=3
  .venv/bin/python experiments/value_benchmark.py --env=cartpole --seeds=3
  .venv/bin/python experiments/value_benchmark.py --env=pendulum --seeds=3

The dataset mixes a good and a poor policy, so imitating all of it is mediocre:
  corridor: Corridor (length 8) games of bot(0.9) and bot(0.1) against each other,
    both seats recorded; agents are scored by win rate against bot(0.5).
  cartpole: CartPole-v1 episodes of a PD controller and of the same controller taking
    a uniformly random action 80% of the time; agents are scored by return.
  pendulum: Pendulum-v1 (continuous torque) episodes of a swing-up controller and of a
    uniformly random torque; BC, IQL and CQL only (OAC is for discrete actions),
    scored by return and normalised to 0 (random) .. 100 (the controller), both
    evaluated here on the same seeds.
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


def setting(name: str):
  """(env, matchups, evaluation opponents, the score's name, episodes to record)."""
  if name == 'corridor':
    env = make('toy/corridor-v0', length=8, max_steps=40)
    good, poor = toy.bot(0.9, rating=1500.0), toy.bot(0.1, rating=800.0)
    return env, [(good, poor), (poor, good)], [toy.bot(0.5)], 'win_rate', 800
  if name == 'cartpole':
    env = make('gym/CartPole-v1')
    return env, [(pd_controller(0.0),), (pd_controller(0.8),)], [], 'return', 200
  if name == 'pendulum':
    env = make('gym/Pendulum-v1')
    return (env, [(pendulum_controller(0.0),), (pendulum_controller(1.0),)], [],
            'return', 200)
  raise SystemExit(f'--env must be corridor, cartpole or pendulum, not {name!r}.')


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
  env, matchups, opponents, score, num_episodes = setting(args.env)
  root = os.path.join(args.workdir, args.env)
  dataset = os.path.join(root, 'data')
  if not os.path.exists(dataset):
    datasets.record(env, matchups, dataset, num_episodes=num_episodes, num_envs=16,
                    progress=False, log=None)
  # Continuous actions: the agents defined for them, on windows of one transition
  # (CQL scores 20 sampled actions a step).
  names = ('bc', 'iql', 'cql') if args.env == 'pendulum' else AGENTS
  greedy = GREEDY.get(args.env, ())
  rows = names + (('bc/greedy',) if greedy else ())  # BC greedy: their reference.
  results = {row: [] for row in rows}
  references = {}
  if args.env == 'pendulum':
    for name, (policy,) in zip(('expert', 'random'), matchups):
      references[name] = [float(learner.evaluate(env, policy, (), args.episodes,
                                                 seed=1000 + seed)['return'])
                          for seed in range(args.seeds)]
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
    if references:  # 0 = random, 100 = expert, from their means.
      low, high = (float(sum(references[k])) / len(references[k])
                   for k in ('random', 'expert'))
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
