"""Value agents against BC on mixed-quality data: the numbers in docs/agents.md.

  .venv/bin/python experiments/value_benchmark.py --env=corridor --seeds=3
  .venv/bin/python experiments/value_benchmark.py --env=cartpole --seeds=3

The dataset mixes a good and a poor policy, so imitating all of it is mediocre:
  corridor: Corridor (length 8) games of bot(0.9) and bot(0.1) against each other,
    both seats recorded; agents are scored by win rate against bot(0.5).
  cartpole: CartPole-v1 episodes of a PD controller and of the same controller taking
    a uniformly random action 80% of the time; agents are scored by return.
For each seed, BC trains on all of the data; OAC and E-OAC start from that BC run and
distil towards it; IQL and CQL train from scratch. The policies of BC, OAC, E-OAC and
IQL sample their actions (BC then reproduces the data's mixture); CQL's acts greedily
on its Q-values (its softmax at temperature 1 is near uniform where Q-values differ by
less than one). `OVERRIDES` holds the per-task settings that differ from the agents'
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
GREEDY = ('cql',)
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


def setting(name: str):
  """(env, matchups, evaluation opponents, the score's name, episodes to record)."""
  if name == 'corridor':
    env = make('toy/corridor-v0', length=8, max_steps=40)
    good, poor = toy.bot(0.9, rating=1500.0), toy.bot(0.1, rating=800.0)
    return env, [(good, poor), (poor, good)], [toy.bot(0.5)], 'win_rate', 800
  if name == 'cartpole':
    env = make('gym/CartPole-v1')
    return env, [(pd_controller(0.0),), (pd_controller(0.8),)], [], 'return', 200
  raise SystemExit(f'--env must be corridor or cartpole, not {name!r}.')


def train(name, dataset, workdir, seed, steps, teacher='', overrides=None):
  config = agents.default_config(name)
  config.update(seed=seed, num_steps=steps, batch_size=64, updates_per_call=100,
                log_every=steps, checkpoint_every=steps, teacher=teacher,
                unroll_length=1 if name == 'bc' else 8)
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
  # BC is also scored greedily: the reference for CQL's greedy policy.
  rows = AGENTS + ('bc/greedy',)
  results = {row: [] for row in rows}
  start = time.time()

  def score_of(row, run, seed, greedy):
    policy = learner.load_policy(run, greedy=greedy)
    value = float(learner.evaluate(env, policy, opponents, args.episodes,
                                   seed=1000 + seed)[score])
    results[row].append(value)
    print(f'seed {seed} {row:9} {score} {value:.3f}', flush=True)

  for seed in range(args.seeds):
    runs = {name: os.path.join(root, f'{name}-seed{seed}') for name in AGENTS}
    for name in AGENTS:
      train(name, dataset, runs[name], seed, args.steps,
            teacher=runs['bc'] if name in ('oac', 'eoac') else '',
            overrides=OVERRIDES.get(args.env, {}).get(name))
      score_of(name, runs[name], seed, greedy=name in GREEDY)
    score_of('bc/greedy', runs['bc'], seed, greedy=True)
  table = {}
  print(f'\n{args.env}: {score} over {args.seeds} seeds x {args.episodes} episodes '
        f'(mean, 95% bootstrap interval over seeds)')
  for row in rows:
    estimate = scores.mean_ci(results[row])
    table[row] = {'mean': estimate.value, 'ci95': [estimate.lower, estimate.upper],
                  'per_seed': results[row]}
    print(f'{row:9} {estimate.value:8.3f}  [{estimate.lower:.3f}, '
          f'{estimate.upper:.3f}]  per seed {[round(v, 3) for v in results[row]]}')
  with open(os.path.join(root, 'results.json'), 'w') as f:
    json.dump({'env': args.env, 'score': score, 'seeds': args.seeds,
               'episodes': args.episodes, 'steps': args.steps, 'agents': table,
               'seconds': time.time() - start}, f, indent=2)


if __name__ == '__main__':
  main()
