"""The cost of each agent's update beside BC's: same network, batch, windows, machine.

  .venv/bin/python benchmarks/bench_agents.py [--rounds=3] [--batch_size=64]

Every agent trains on the same recorded Corridor dataset (windows of T=8 steps, batch
64, the default 256-256 MLP torso); the measured call is the learner's compiled
K-update step (K=50) on batches already on the device, so sampling is excluded and
only the update differs. OAC and E-OAC run two networks at their defaults (online
with gradient, frozen BC teacher; 'oac+target' adds the optional target network),
IQL and CQL two (online and target). Rounds interleave the agents call by call, so a
change in the machine's load hits all of them; the median of each agent's per-round
best is reported, with its ratio to BC's.

Target (issue: value agents): an OAC update costs at most 2.5x a BC update.
Writes benchmarks/results/agents.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # pylint: disable=g-import-not-at-top
import numpy as np

from offline_rl import agents
from offline_rl import data
from offline_rl import datasets
from offline_rl import learner
from offline_rl.environments import make
from offline_rl.environments import toy

AGENTS = ('bc', 'oac', 'oac+target', 'eoac', 'iql', 'cql')
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                       'agents.json')
UNROLL, K = 8, 50


def build(name, dataset, teacher, batch_size, workdir):
  """A learner of agent `name` ('oac+target': OAC with its target network) and K
  batches on the device."""
  agent = name.split('+')[0]
  config = agents.default_config(agent)
  if name == 'oac+target':
    config.oac.target_network = True
  config.update(batch_size=batch_size, unroll_length=UNROLL, num_steps=K,
                updates_per_call=K, checkpoint_every=0, log_every=K)
  if name != 'bc':
    config.teacher = teacher
  windows = data.make_iterator(dataset, batch_size=batch_size, unroll_length=UNROLL,
                               validation_fraction=0.0, backend='memory')
  run = learner.Learner(agents.make(agent, windows.spec, config), windows, config,
                        workdir, progress=False, tensorboard=False)
  batches = jax.block_until_ready(run._next_group(K))  # pylint: disable=protected-access
  return run, batches


def time_call(run, batches) -> float:
  start = time.perf_counter()
  state, metrics = run._update(run.state, run.teacher, batches)  # pylint: disable=protected-access
  jax.block_until_ready((state, metrics))
  return K / (time.perf_counter() - start)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--calls', type=int, default=5, help='calls per agent a round')
  parser.add_argument('--batch_size', type=int, default=64)
  args = parser.parse_args()
  tmp = tempfile.mkdtemp()
  env = make('toy/corridor-v0', length=8, max_steps=40)
  dataset = os.path.join(tmp, 'corridor')
  datasets.record(env, [(toy.bot(0.9, 1500.0), toy.bot(0.3, 800.0))], dataset,
                  num_episodes=256, num_envs=64, progress=False, log=None)
  bc_config = agents.default_config('bc')
  bc_config.update(num_steps=1, updates_per_call=1, checkpoint_every=0)
  bc_windows = data.make_iterator(dataset, batch_size=8, unroll_length=1,
                                  validation_fraction=0.0)
  teacher = os.path.join(tmp, 'bc')
  learner.Learner(agents.make('bc', bc_windows.spec, bc_config), bc_windows,
                  bc_config, teacher, progress=False, tensorboard=False).train()
  runs = {name: build(name, dataset, teacher, args.batch_size, os.path.join(tmp, name))
          for name in AGENTS}
  for run, batches in runs.values():  # compile
    time_call(run, batches)
  best = {name: [] for name in AGENTS}
  for _ in range(args.rounds):
    rates = {name: [] for name in AGENTS}
    for _ in range(args.calls):
      for name, (run, batches) in runs.items():
        rates[name].append(time_call(run, batches))
    for name in AGENTS:
      best[name].append(max(rates[name]))
  medians = {name: float(np.median(best[name])) for name in AGENTS}
  result = {
      'updates_per_second': medians,
      'cost_relative_to_bc': {n: medians['bc'] / medians[n] for n in AGENTS},
      'batch_size': args.batch_size, 'unroll_length': UNROLL, 'updates_per_call': K,
      'rounds': args.rounds, 'calls_per_round': args.calls,
      'machine': platform.machine(), 'cpu_count': os.cpu_count(),
      'load_average': os.getloadavg(), 'jax': jax.__version__,
      'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
  }
  print(f'{"agent":10} {"updates/s":>10} {"cost vs BC":>10}')
  for name in AGENTS:
    print(f'{name:10} {medians[name]:10.1f} {result["cost_relative_to_bc"][name]:9.2f}x')
  target = result['cost_relative_to_bc']['oac'] <= 2.5
  print(f'OAC update / BC update = {result["cost_relative_to_bc"]["oac"]:.2f} '
        f'(target <= 2.5: {"met" if target else "missed"})')
  os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
  with open(RESULTS, 'w') as f:
    json.dump(result, f, indent=2)


if __name__ == '__main__':
  main()
