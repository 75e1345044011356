"""Learner scaling: weak scaling of the compiled update over devices and processes.

  .venv/bin/python benchmarks/bench_scaling.py [--rounds=3] [--per_device_batch=64]

At a fixed batch per device (B = per_device_batch x devices), ideal weak scaling keeps
the updates/s of one device, so efficiency = updates/s(N devices) / updates/s(1). Each
configuration runs in fresh processes: one process with 1, 2, 4, 8 devices, and two
processes on localhost joined by `jax.distributed.initialize` against one process, at
the same number of devices in all. A worker times the learner's own step
(`learner.make_mesh`, `learner.make_update` jitted with replicated outputs, each
process's rows fed through `jax.make_array_from_process_local_data`): the default BC
network (256-256 MLP) on 32-float observations, K = --updates_per_call updates a call,
the median of --calls calls after one compiling call. Rounds interleave the
configurations so a change in the machine's load hits all of them; medians of rounds.

On CPU the devices are forced (`--xla_force_host_platform_device_count`) and share the
machine's cores: on 2 cores, N > 2 devices cannot scale, and the figure measures the
overhead of splitting the batch, not an accelerator's scaling. On a GPU machine
(JAX_PLATFORMS unset or cuda) the same command uses the real devices and skips the
counts it does not have.

Writes benchmarks/results/scaling.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                       'scaling.json')
DEVICE_COUNTS = (1, 2, 4, 8)


def worker(args) -> dict:
  """Times the learner's step in this process (one of `args.num_processes`)."""
  # pylint: disable=g-import-not-at-top
  import jax
  if args.num_processes > 1:
    jax.distributed.initialize(f'localhost:{args.port}', args.num_processes,
                               args.process_id)
  import numpy as np
  from jax.sharding import NamedSharding
  from jax.sharding import PartitionSpec
  from offline_rl import agents
  from offline_rl import batch as batch_lib
  from offline_rl import learner
  from offline_rl import specs

  spec = specs.EnvSpec(
      'bench/vector', '0', 1,
      observation={'observation': specs.ArraySpec((32,), 'float32')},
      action={'action': specs.ArraySpec((), 'int32', num_values=4)},
      legal_action_mask=None, max_episode_steps=100)
  config = agents.default_config('bc')
  agent = agents.make('bc', spec, config)
  mesh = learner.make_mesh(args.devices)
  replicated = NamedSharding(mesh, PartitionSpec())
  optimizer, schedule = learner.make_optimizer(config.optimizer, 10_000)
  update = jax.jit(learner.make_update(agent.loss, optimizer, schedule),
                   out_shardings=replicated)
  params = agent.init(jax.random.PRNGKey(0))
  state = learner.replicate(learner.TrainState(
      params, None, optimizer.init(params), np.int32(0), jax.random.PRNGKey(1)),
                            replicated)
  # This process's rows of K global batches [K, B, 2, ...].
  rows = args.per_device_batch * len(mesh.local_devices)
  rng = np.random.default_rng(args.process_id)
  shape = (args.updates_per_call, rows, 2)
  local = batch_lib.Batch(
      observation={'observation': rng.normal(size=shape + (32,)).astype(np.float32)},
      action={'action': rng.integers(0, 4, shape).astype(np.int32)},
      reward=np.zeros(shape, np.float32), discount=np.ones(shape, np.float32),
      is_first=np.zeros(shape, bool), is_last=np.zeros(shape, bool),
      is_terminal=np.zeros(shape, bool), legal_action_mask=None,
      mask=np.ones(shape, bool), metadata={})
  sharding = NamedSharding(mesh, PartitionSpec(None, 'data'))
  times = []
  for _ in range(args.calls + 1):  # The first call compiles.
    start = time.perf_counter()
    batches = jax.make_array_from_process_local_data(sharding, local)
    state, metrics = update(state, None, batches)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - start)
  return {'devices': int(mesh.size), 'processes': jax.process_count(),
          'global_batch': rows * jax.process_count(),
          'updates_per_second': args.updates_per_call / float(np.median(times[1:])),
          'backend': jax.default_backend()}


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def launch(args, devices_per_process: int, processes: int) -> dict | None:
  """Runs the worker in `processes` fresh processes; process 0's result, or None
  when this machine lacks the devices."""
  # The flag shapes the CPU platform only: on a GPU machine it changes nothing.
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', XLA_FLAGS=(
      os.environ.get('XLA_FLAGS', '') + ' --xla_force_host_platform_device_count='
      f'{devices_per_process}').strip())
  port = _free_port()
  command = [sys.executable, os.path.abspath(__file__), '--worker',
             f'--devices={devices_per_process}', f'--num_processes={processes}',
             f'--port={port}', f'--per_device_batch={args.per_device_batch}',
             f'--updates_per_call={args.updates_per_call}', f'--calls={args.calls}']
  workers = [subprocess.Popen(command + [f'--process_id={i}'], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(processes)]
  outputs = [w.communicate(timeout=900) for w in workers]
  for w, (_, err) in zip(workers, outputs):
    if w.returncode:
      if 'local devices exist' in err:
        return None
      raise RuntimeError(err[-3000:])
  return json.loads(outputs[0][0].strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--per_device_batch', type=int, default=64)
  parser.add_argument('--updates_per_call', type=int, default=20)
  parser.add_argument('--calls', type=int, default=10)
  parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
  parser.add_argument('--devices', type=int, default=1, help=argparse.SUPPRESS)
  parser.add_argument('--num_processes', type=int, default=1, help=argparse.SUPPRESS)
  parser.add_argument('--process_id', type=int, default=0, help=argparse.SUPPRESS)
  parser.add_argument('--port', type=int, default=0, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    print(json.dumps(worker(args)))
    return
  # (devices per process, processes): devices scaling in one process, then 2
  # processes against 1 at the same total number of devices.
  configs = [(n, 1) for n in DEVICE_COUNTS] + [(1, 2), (2, 2)]
  rates: dict = {c: [] for c in configs}
  facts: dict = {}
  for _ in range(args.rounds):
    for config in configs:
      result = launch(args, *config)
      if result is not None:
        rates[config].append(result['updates_per_second'])
        facts[config] = result
  base = float(sorted(rates[(1, 1)])[len(rates[(1, 1)]) // 2])
  rows = []
  print(f'backend {facts[(1, 1)]["backend"]}, {os.cpu_count()} CPU cores, batch '
        f'{args.per_device_batch} per device, median of {args.rounds} rounds x '
        f'{args.calls} calls of {args.updates_per_call} updates')
  print(f'{"devices":>7} {"processes":>9} {"batch":>6} {"updates/s":>10} '
        f'{"samples/s":>10} {"efficiency":>10}')
  for config in configs:
    if not rates[config]:
      continue
    rate = float(sorted(rates[config])[len(rates[config]) // 2])
    fact = facts[config]
    row = dict(fact, updates_per_second=rate, rounds=rates[config],
               samples_per_second=rate * fact['global_batch'], efficiency=rate / base)
    same_devices = (fact['devices'], 1)
    if config[1] > 1 and rates.get(same_devices):
      # Two processes against one process driving as many devices.
      row['ratio_to_one_process'] = rate / float(
          sorted(rates[same_devices])[len(rates[same_devices]) // 2])
    rows.append(row)
    ratio = row.get('ratio_to_one_process')
    print(f'{row["devices"]:>7} {row["processes"]:>9} {row["global_batch"]:>6} '
          f'{rate:>10.1f} {row["samples_per_second"]:>10.0f} {row["efficiency"]:>10.2f}'
          + (f'   {ratio:.2f}x one process' if ratio is not None else ''))
  if facts[(1, 1)]['backend'] == 'cpu':
    print(f'Caveat: forced CPU devices share this machine\'s {os.cpu_count()} cores; '
          'ideal weak scaling (efficiency 1) is out of reach past that many devices.')
  os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
  with open(RESULTS, 'w') as f:
    json.dump({'machine': platform.platform(), 'cpu_count': os.cpu_count(),
               'per_device_batch': args.per_device_batch,
               'updates_per_call': args.updates_per_call, 'calls': args.calls,
               'rounds': args.rounds, 'results': rows}, f, indent=2)
  print(f'Wrote {RESULTS}')


if __name__ == '__main__':
  main()
