"""MZS-MCTS's search throughput, and the MZS update beside BC's.

  .venv/bin/python benchmarks/bench_search.py [--rounds=3] [--roots=64]

Search: a batch of `--roots` searches (one jitted mctx call) with the default
256-256 MLP model of the Corridor task (3 actions, enumerated) and of the same task
searched over 8 sampled candidates a node (the Sampled MuZero path that Skirmish's
factorised action takes), at 16, 64 and 256 simulations (Gumbel MuZero, the default).
No node lies deeper than the default unroll K = 5 (MZS-MCTS's `max_depth`).
Simulations/s and moves/s are per batch; the recurrent share is the time of the
model's own recurrent inference (`num_simulations` calls of the recurrent function on
the batch, in one jitted `lax.fori_loop`) over the search's time, the two timed
alternately, best of the calls each: the rest is mctx's tree bookkeeping (the limit,
all network, is 100%).

Learner: the compiled K-update call (K=50) of BC, MZS (5-step unroll, target
network) and MZS with Reanalyse on every window (fraction 1, 16 simulations a step:
64 x 8 searches an update) on the same recorded Corridor windows (T=8, batch 64)
already on the device, interleaved call by call. The median over rounds of each round's best is
reported. Writes benchmarks/results/search.json.
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
import jax.numpy as jnp
import numpy as np

from offline_rl import agents
from offline_rl import data
from offline_rl import datasets
from offline_rl import learner
from offline_rl.agents.muzero import search
from offline_rl.environments import make
from offline_rl.environments import toy

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                       'search.json')
SIMULATIONS = (16, 64, 256)
UNROLL, K = 8, 50
UPDATES = ('bc', 'mzs', 'mzs+reanalyse')


def best_seconds(fn, *args, calls: int) -> float:
  jax.block_until_ready(fn(*args))  # compile
  times = []
  for _ in range(calls):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return min(times)


def search_rates(agent, params, roots: int, samples: int, simulations: int,
                 calls: int) -> dict:
  """Simulations/s, moves/s and the recurrent share of one batched search."""
  model = agent.loss.args[0]
  settings = search.SearchSettings(simulations, 'gumbel', samples, 0.99,
                                   int(agent.config.muzero.unroll_steps))
  embedding = jax.random.uniform(jax.random.key(0), (roots, 256))
  legal = {'action': jnp.ones((roots, 3), bool)}
  run_search = jax.jit(lambda p, e, k: search.search(model, settings, p, e, legal, k,
                                                     greedy=True)[0])
  step = search.recurrent_fn(model, settings)
  children, _, _, _ = search.candidates(model, settings, params, embedding,
                                        jax.random.key(1), legal)
  node = search.Node(embedding, children)

  @jax.jit
  def recurrent_only(p, node, key):
    def body(i, carry):
      out, following = step(p, jax.random.fold_in(key, i),
                            jnp.zeros((roots,), jnp.int32), carry)
      # Keep the result live without changing the node's shape.
      return following._replace(embedding=following.embedding + 0 * out.value[:, None])
    return jax.lax.fori_loop(0, simulations, body, node)

  # Interleaved call by call, so that the load on a shared machine hits both alike.
  total, network = np.min([
      [best_seconds(run_search, params, embedding, jax.random.key(2), calls=1),
       best_seconds(recurrent_only, params, node, jax.random.key(3), calls=1)]
      for _ in range(calls)], axis=0)
  return {'simulations_per_second': roots * simulations / total,
          'moves_per_second': roots / total, 'recurrent_share': network / total,
          'search_seconds': total}


def update_rates(dataset: str, rounds: int, calls: int) -> dict:
  runs = {}
  for name in UPDATES:
    agent_name = name.split('+')[0]
    config = agents.default_config(agent_name)
    if name == 'mzs+reanalyse':
      config.muzero.update(num_simulations=16, reanalyse_fraction=1.0)
    config.update(batch_size=64, unroll_length=UNROLL, num_steps=K, updates_per_call=K,
                  checkpoint_every=0, log_every=K)
    windows = data.make_iterator(dataset, batch_size=64, unroll_length=UNROLL,
                                 validation_fraction=0.0, backend='memory')
    run = learner.Learner(agents.make(agent_name, windows.spec, config), windows, config,
                          tempfile.mkdtemp(), progress=False, tensorboard=False)
    runs[name] = (run, jax.block_until_ready(run._next_group(K)))  # pylint: disable=protected-access

  def rate(run, batches):
    start = time.perf_counter()
    jax.block_until_ready(run._update(run.state, run.teacher, batches))  # pylint: disable=protected-access
    return K / (time.perf_counter() - start)
  for run, batches in runs.values():
    rate(run, batches)  # compile
  best = {name: [] for name in runs}
  for _ in range(rounds):
    rates = {name: [] for name in runs}
    for _ in range(calls):
      for name, (run, batches) in runs.items():
        rates[name].append(rate(run, batches))
    for name in runs:
      best[name].append(max(rates[name]))
  return {name: float(np.median(best[name])) for name in runs}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--calls', type=int, default=3)
  parser.add_argument('--roots', type=int, default=64)
  args = parser.parse_args()
  tmp = tempfile.mkdtemp()
  env = make('toy/corridor-v0', length=8, max_steps=40)
  dataset = os.path.join(tmp, 'corridor')
  datasets.record(env, [(toy.bot(0.9, 1500.0), toy.bot(0.3, 800.0))], dataset,
                  num_episodes=128, num_envs=64, progress=False, log=None)
  agent = agents.make('mzs', env.spec, agents.default_config('mzs'))
  params = agent.init(jax.random.key(0))
  searches = {}
  for label, samples in (('enumerated', 0), ('sampled-8', 8)):
    for simulations in SIMULATIONS:
      searches[f'{label}/{simulations}'] = search_rates(
          agent, params, args.roots, samples, simulations, args.calls * args.rounds)
  updates = update_rates(dataset, args.rounds, args.calls)
  result = {
      'search': searches, 'updates_per_second': updates,
      'cost_relative_to_bc': {n: updates['bc'] / updates[n] for n in UPDATES},
      'roots': args.roots, 'batch_size': 64, 'unroll_length': UNROLL,
      'updates_per_call': K, 'rounds': args.rounds, 'calls_per_round': args.calls,
      'machine': platform.machine(), 'cpu_count': os.cpu_count(),
      'load_average': os.getloadavg(), 'jax': jax.__version__,
      'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
  }
  print(f'{"search/simulations":22} {"sims/s":>10} {"moves/s":>9} {"recurrent":>9}')
  for name, r in searches.items():
    print(f'{name:22} {r["simulations_per_second"]:10.0f} {r["moves_per_second"]:9.1f} '
          f'{100 * r["recurrent_share"]:8.0f}%')
  for name in UPDATES:
    print(f'{name:14} {updates[name]:8.1f} updates/s '
          f'{result["cost_relative_to_bc"][name]:6.2f}x the cost of BC')
  os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
  with open(RESULTS, 'w') as f:
    json.dump(result, f, indent=2)


if __name__ == '__main__':
  main()
