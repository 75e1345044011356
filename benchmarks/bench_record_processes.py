"""Recording in one process against two: the rate of `datasets.record` on Skirmish.

  .venv/bin/python benchmarks/bench_record_processes.py [--rounds=3] [--shards=4]
      [--games_per_shard=64] [--env=skirmish/8x8] [--matchup=rush-3,rush-1]

Each configuration runs in fresh processes: one process, and two processes on
localhost joined by `jax.distributed` (`cores.start_processes`) recording the same
dataset (the same seed, shards and settings, so the same games). A worker first
records a warm-up dataset of one shard per process (compiling the rollout, which the
timed recording then reuses), then times the recording of --shards shards of
--games_per_shard games into a fresh directory: environment steps / seconds until every
process has finished its shards (`record`'s `steps_per_second`; the merge excluded).
Rounds interleave the two configurations so a change in the machine's load hits both;
medians of rounds. On the 2-core machine of docs/scaling.md the two processes share the
cores with each other and with other work.

Writes benchmarks/results/record_processes.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                       'record_processes.json')


def worker(args) -> dict:
  """Records the warm-up and the timed dataset as process `args.process_id`."""
  # pylint: disable=g-import-not-at-top
  from offline_rl import cores
  if args.num_processes > 1:
    cores.start_processes(f'localhost:{args.port}', args.num_processes, args.process_id)
  from offline_rl import datasets
  from offline_rl import environments
  from offline_rl.evaluation import players

  env = environments.make(args.env)
  matchup = [players.resolve_policy(name, env) for name in args.matchup.split(',')]
  kwargs = dict(seed=0, num_envs=args.games_per_shard, progress=False, log=None,
                episodes_per_shard=args.games_per_shard)
  datasets.record(env, [matchup], os.path.join(args.workdir, 'warm'),
                  num_episodes=args.games_per_shard * args.num_processes, **kwargs)
  info = datasets.record(env, [matchup], os.path.join(args.workdir, 'timed'),
                         num_episodes=args.games_per_shard * args.shards, **kwargs)
  return {'env_steps': info['env_steps'], 'seconds': info['seconds'],
          'env_steps_per_second': info['steps_per_second']}


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def launch(args, processes: int) -> dict:
  """Runs the worker in `processes` fresh processes; process 0's result."""
  with tempfile.TemporaryDirectory() as workdir:
    command = [sys.executable, os.path.abspath(__file__), '--worker',
               f'--num_processes={processes}', f'--port={_free_port()}',
               f'--workdir={workdir}', f'--env={args.env}', f'--matchup={args.matchup}',
               f'--shards={args.shards}', f'--games_per_shard={args.games_per_shard}']
    workers = [subprocess.Popen(command + [f'--process_id={i}'], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(os.environ, JAX_PLATFORMS='cpu'))
               for i in range(processes)]
    outputs = [w.communicate() for w in workers]
  for w, (_, err) in zip(workers, outputs):
    if w.returncode:
      raise RuntimeError(f'worker failed:\n{err[-3000:]}')
  return json.loads(outputs[0][0].strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--shards', type=int, default=4)
  parser.add_argument('--games_per_shard', type=int, default=64)
  parser.add_argument('--env', default='skirmish/8x8')
  parser.add_argument('--matchup', default='rush-3,rush-1')
  parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
  parser.add_argument('--num_processes', type=int, default=1, help=argparse.SUPPRESS)
  parser.add_argument('--process_id', type=int, default=0, help=argparse.SUPPRESS)
  parser.add_argument('--port', type=int, default=0, help=argparse.SUPPRESS)
  parser.add_argument('--workdir', default='', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    print(json.dumps(worker(args)))
    return
  rounds = {1: [], 2: []}
  for r in range(args.rounds):
    for processes in rounds:
      rounds[processes].append(launch(args, processes))
      print(f'round {r + 1}, {processes} process(es): '
            f'{rounds[processes][-1]["env_steps_per_second"]:,.0f} env steps/s',
            flush=True)
  rate = {p: statistics.median(x['env_steps_per_second'] for x in runs)
          for p, runs in rounds.items()}
  print(f'{args.env}, {args.shards} shards of {args.games_per_shard} games '
        f'({rounds[1][0]["env_steps"]:,} env steps), medians of {args.rounds} rounds: '
        f'1 process {rate[1]:,.0f} env steps/s, 2 processes {rate[2]:,.0f}: '
        f'{rate[2] / rate[1]:.2f}x')
  os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
  with open(RESULTS, 'w') as f:
    json.dump({'machine': platform.platform(), 'cpu_count': os.cpu_count(),
               'load_average': os.getloadavg(), 'env': args.env,
               'matchup': args.matchup, 'shards': args.shards,
               'games_per_shard': args.games_per_shard, 'seed': 0,
               'rounds': args.rounds, 'results': rounds,
               'median_env_steps_per_second': rate, 'ratio_2_to_1': rate[2] / rate[1]},
              f, indent=2)


if __name__ == '__main__':
  main()
