"""Learner throughput: model FLOP utilisation of the BC update, and end-to-end rate vs d3rlpy.

  .venv/bin/python benchmarks/bench_learner.py [--quick] [--rounds=3]

Every measurement runs in --rounds interleaved rounds (MFU, ours, d3rlpy, then again),
so a change in the machine's load hits both sides of a ratio; medians are reported.

1. MFU. The default BC network (256-256 MLP, linear heads) on a 32-float observation
   with 4 actions, batch 256: FLOPs per update from XLA's cost analysis of a compiled
   single update (a `lax.scan` body is counted once, so the scanned K-update function
   would under-count K times), times the best updates/s of the K-update scan with the
   data on device, divided by the best FLOP/s of a 2048^3 f32 matmul; the two alternate
   call by call, so both bests come from the machine's quiet moments.
2. End to end against d3rlpy's DiscreteBC at its defaults (256-256 MLP encoder, batch
   100): ours is `offline_rl.learner.Learner` on `offline_rl.data.make_iterator` over a
   recorded Corridor dataset (sampling, transfer, logging included; checkpoints off;
   K=100 batches a call drawn by `next_many`), plus the same compiled K-update call
   alone on batches already on the device; each in a fresh process on one core and on
   all cores (`offline_rl.cores`), the better kept;
   d3rlpy's is `fit()` on the same transitions, batch sampling included, run in its own
   venv (.venv-d3rlpy at the repository root, which `make bench` builds: d3rlpy pins
   gymnasium 1.0), the better of 1 and 2 torch threads. Without that venv the
   documented reference figure (225 updates/s, d3rlpy 2.8.1 on this machine kind) is
   used and the JSON says so.
3. The Skirmish network's cost: BC updates/s with the demo's network (experiments/
   unplugged.py) against the same network without its pointer head, spatial head and
   scatter connections (today's before issue 14), on the same recorded Skirmish 8x8
   batches (batch 128, T=1, K=10 a call), the two alternating call by call; and
   OAC's and E-OAC's updates/s beside BC's on the demo's network and the recipe's
   value-agent batch (32 windows of 8 steps, the same batches for all three).
   `--skirmish_only` runs this part alone.

Writes benchmarks/results/learner.json (skirmish_network.json with --skirmish_only).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import jax  # pylint: disable=g-import-not-at-top
import jax.numpy as jnp
import numpy as np

from offline_rl import agents
from offline_rl import batch as batch_lib
from offline_rl import configs
from offline_rl import cores
from offline_rl import learner
from offline_rl import specs

D3RLPY_PYTHON = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             '.venv-d3rlpy', 'bin', 'python')
D3RLPY_REFERENCE = 225.0  # updates/s, d3rlpy 2.8.1 DiscreteBC fit(), REFERENCES.md
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                       'learner.json')
SKIRMISH_RESULTS = os.path.join(os.path.dirname(RESULTS), 'skirmish_network.json')


def peak_matmul(size: int = 2048):
  """A jitted f32 [size, size] matmul, compiled, its input, and its FLOPs."""
  a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
  matmul = jax.jit(lambda x: x @ x)
  matmul(a).block_until_ready()
  return matmul, a, 2 * size**3


def synthetic_spec(obs_size=32, num_actions=4) -> specs.EnvSpec:
  return specs.EnvSpec(
      'bench/vector', '0', 1,
      observation={'observation': specs.ArraySpec((obs_size,), 'float32')},
      action={'action': specs.ArraySpec((), 'int32', num_values=num_actions)},
      legal_action_mask=None, max_episode_steps=100)


def synthetic_batches(spec, num, batch_size, seed=0):
  """[K, B, 2, ...] random windows (index 0 is the previous step)."""
  rng = np.random.default_rng(seed)
  shape = (num, batch_size, 2)
  n = spec.action['action'].num_values
  return batch_lib.Batch(
      observation={'observation': rng.normal(size=shape + (32,)).astype(np.float32)},
      action={'action': rng.integers(0, n, shape).astype(np.int32)},
      reward=np.zeros(shape, np.float32), discount=np.ones(shape, np.float32),
      is_first=np.zeros(shape, bool), is_last=np.zeros(shape, bool),
      is_terminal=np.zeros(shape, bool), legal_action_mask=None,
      mask=np.ones(shape, bool), metadata={'rating': np.zeros(shape[:2], np.float32)})


def measure_mfu(batch_size=256, updates_per_call=100, calls=10) -> dict:
  spec = synthetic_spec()
  config = agents.default_config('bc')
  agent = agents.make('bc', spec, config)
  optimizer, schedule = learner.make_optimizer(config.optimizer, 10_000)
  update = learner.make_update(agent.loss, optimizer, schedule)
  params = agent.init(jax.random.PRNGKey(0))
  state = learner.TrainState(params, None, optimizer.init(params), jnp.int32(0),
                             jax.random.PRNGKey(1))
  one = jax.tree.map(lambda x: x[:1], synthetic_batches(spec, 1, batch_size))
  single = jax.jit(update).lower(state, (), one).compile()
  flops_per_update = float(single.cost_analysis()['flops'])
  batches = jax.device_put(synthetic_batches(spec, updates_per_call, batch_size))
  scanned = jax.jit(update)
  state, _ = scanned(state, (), batches)
  jax.block_until_ready(state)
  scanned_flops = float(scanned.lower(state, (), batches).compile().cost_analysis()['flops'])
  # The update and the peak matmul alternate, so that a load change hits both; the
  # best of each is the machine's quiet speed, the medians are kept too.
  matmul, a, matmul_flops = peak_matmul()
  times, peaks = [], []
  for _ in range(calls):
    start = time.perf_counter()
    state, metrics = scanned(state, (), batches)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - start)
    start = time.perf_counter()
    matmul(a).block_until_ready()
    peaks.append(matmul_flops / (time.perf_counter() - start))
  peak, peak_median = max(peaks), float(np.median(peaks))
  best = updates_per_call / min(times)
  median = updates_per_call / float(np.median(times))
  return {
      'batch_size': batch_size, 'updates_per_call': updates_per_call,
      'flops_per_update': flops_per_update,
      'flops_reported_for_scanned_call': scanned_flops,
      'updates_per_second_median': median, 'updates_per_second_best': best,
      'achieved_gflops_best': flops_per_update * best / 1e9,
      'peak_matmul_gflops': peak / 1e9, 'peak_matmul_gflops_median': peak_median / 1e9,
      'mfu': flops_per_update * best / peak,
      'mfu_of_medians': flops_per_update * median / peak_median,
  }


def record_corridor(path: str, num_episodes: int) -> None:
  from offline_rl import datasets  # pylint: disable=g-import-not-at-top
  from offline_rl.environments import make  # pylint: disable=g-import-not-at-top
  from offline_rl.environments import toy  # pylint: disable=g-import-not-at-top
  env = make('toy/corridor-v0', length=8, max_steps=30)
  strong, weak = toy.bot(0.9, rating=1500.0), toy.bot(0.3, rating=800.0)
  datasets.record(env, [(strong, weak), (weak, strong)], path,
                  num_episodes=num_episodes, progress=False, log=None)


def ours_end_to_end(dataset: str, workdir: str, num_steps: int, batch_size: int = 100
                    ) -> dict:
  from offline_rl import data  # pylint: disable=g-import-not-at-top
  iterator = data.make_iterator(dataset, batch_size=batch_size, unroll_length=1,
                                validation_fraction=0.0)
  config = agents.default_config('bc')
  config.update(batch_size=batch_size, num_steps=num_steps, updates_per_call=100,
                log_every=num_steps // 5, checkpoint_every=0)
  agent = agents.make('bc', iterator.spec, config)
  run = learner.Learner(agent, iterator, config, workdir, progress=False,
                        tensorboard=False)
  start = time.perf_counter()
  run.train()
  total = time.perf_counter() - start
  # The same compiled K-update call alone, on K batches already on the device: what
  # the end-to-end rate would be if sampling, transfer and logging were free.
  k = int(config.updates_per_call)
  start = time.perf_counter()
  batches = jax.block_until_ready(run._next_group(k))  # pylint: disable=protected-access
  sample_seconds = time.perf_counter() - start
  state, times = run.state, []
  for _ in range(10):
    start = time.perf_counter()
    state, metrics = run._update(state, run.teacher, batches)  # pylint: disable=protected-access
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - start)
  run.close()
  rows = learner.read_metrics(workdir)
  steady = [r['steps_per_second'] for r in rows[1:]]  # the first window compiles
  return {'updates_per_second': float(np.median(steady)),
          'update_only_per_second': k / float(np.median(times)),
          'sample_k_batches_seconds': sample_seconds, 'updates_per_call': k,
          'updates_per_second_including_compile': num_steps / total,
          'iterator_backend': iterator.backend, 'num_steps': num_steps,
          'batch_size': batch_size}


def ours_best_cores(dataset: str, workdir: str, num_steps: int) -> dict:
  """`ours_end_to_end` in a fresh process per core count (XLA sizes its thread pools
  once per process: `offline_rl.cores`), on one core and on all; the best is kept,
  as d3rlpy's best torch thread count is."""
  runs = {}
  for count in sorted({1, len(os.sched_getaffinity(0))}):
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), '--worker_dataset', dataset,
         '--worker_workdir', f'{workdir}-{count}', '--worker_steps', str(num_steps),
         '--worker_cores', str(count)], capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
      raise RuntimeError(f'offline_rl run failed:\n{result.stderr[-3000:]}')
    runs[count] = json.loads(result.stdout.strip().splitlines()[-1])
  best = max(runs, key=lambda c: runs[c]['updates_per_second'])
  return dict(runs[best], cpu_cores=best,
              by_cpu_cores={str(c): r for c, r in runs.items()})


_D3RLPY_SCRIPT = textwrap.dedent('''
    import json, sys, time
    import numpy as np
    import torch
    import d3rlpy
    torch.set_num_threads(int(sys.argv[3]))
    data = np.load(sys.argv[1])
    steps = int(sys.argv[2])
    dataset = d3rlpy.dataset.MDPDataset(
        observations=data['observations'], actions=data['actions'],
        rewards=data['rewards'], terminals=data['terminals'],
        timeouts=data['timeouts'], action_space=d3rlpy.constants.ActionSpace.DISCRETE,
        action_size=int(data['action_size']))
    bc = d3rlpy.algos.DiscreteBCConfig(batch_size=100).create(device='cpu:0')
    bc.build_with_dataset(dataset)
    start = time.perf_counter()
    bc.fit(dataset, n_steps=steps, n_steps_per_epoch=steps, show_progress=False,
           save_interval=10**9, logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    fit = time.perf_counter() - start
    batches = [dataset.sample_transition_batch(100) for _ in range(200)]
    start = time.perf_counter()
    for b in batches:
      bc.update(b)
    update = time.perf_counter() - start
    print(json.dumps({'fit_updates_per_second': steps / fit,
                      'update_only_per_second': len(batches) / update,
                      'd3rlpy': d3rlpy.__version__}))
''')


def export_transitions(dataset: str, path: str) -> None:
  """The dataset's steps as d3rlpy's flat arrays (the same transitions as ours)."""
  from offline_rl import datasets  # pylint: disable=g-import-not-at-top
  obs, actions, rewards, terminals, timeouts = [], [], [], [], []
  for episode in datasets.load(dataset).iter_episodes():
    steps = episode['steps']
    o = np.asarray(steps['observation']['position'])[:-1]
    obs.append(o.reshape(len(o), -1))
    actions.append(np.asarray(steps['action']['action'])[:-1])
    rewards.append(np.asarray(steps['reward'])[1:])
    end = np.zeros(len(o), np.float32)
    terminal = bool(np.asarray(steps['is_terminal'])[-1])
    term, tout = end.copy(), end.copy()
    (term if terminal else tout)[-1] = 1.0
    terminals.append(term)
    timeouts.append(tout)
  if not obs:
    raise RuntimeError('Could not read episodes back for d3rlpy.')
  np.savez(path, observations=np.concatenate(obs).astype(np.float32),
           actions=np.concatenate(actions).astype(np.int64),
           rewards=np.concatenate(rewards).astype(np.float32),
           terminals=np.concatenate(terminals), timeouts=np.concatenate(timeouts),
           action_size=3)


def d3rlpy_end_to_end(npz: str, num_steps: int) -> dict:
  if not os.path.exists(D3RLPY_PYTHON):
    return {'fit_updates_per_second': D3RLPY_REFERENCE, 'source': 'reference',
            'note': f'{D3RLPY_PYTHON} not found; documented reference figure '
                    '(d3rlpy 2.8.1 on this machine kind). `make bench` builds it.'}
  runs = {}
  for threads in (1, 2):  # Its best: 2 threads collapse when the cores are busy.
    result = subprocess.run(
        [D3RLPY_PYTHON, '-c', _D3RLPY_SCRIPT, npz, str(num_steps), str(threads)],
        capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
      raise RuntimeError(f'd3rlpy run failed:\n{result.stderr[-3000:]}')
    runs[threads] = json.loads(result.stdout.strip().splitlines()[-1])
  best = max(runs, key=lambda t: runs[t]['fit_updates_per_second'])
  out = dict(runs[best], torch_threads=best, source='measured',
             by_torch_threads={str(t): r for t, r in runs.items()})
  return out


def record_skirmish(path: str, num_episodes: int) -> None:
  from offline_rl import datasets  # pylint: disable=g-import-not-at-top
  from offline_rl.environments import make  # pylint: disable=g-import-not-at-top
  from offline_rl.environments.skirmish import bots  # pylint: disable=g-import-not-at-top
  env = make('skirmish/8x8')
  ladder = bots.ladder(env)
  datasets.record(env, [(ladder[-1], ladder[-3]), (ladder[4], ladder[-1])], path,
                  num_episodes=num_episodes, num_envs=num_episodes, progress=False,
                  log=None)


def compiled_update(name: str, spec, network: dict, batch_size: int,
                    unroll_length: int, **overrides):
  """(jitted K-update call, its TrainState, the frozen teacher) of agent `name` at its
  defaults with `network`'s fields and `overrides` of its config: what the learner
  compiles, without a run dir."""
  config = agents.default_config(name)
  config.network.update(network)
  config.update(batch_size=batch_size, unroll_length=unroll_length, **overrides)
  agent = agents.make(name, spec, config)
  optimizer, schedule = learner.make_optimizer(config.optimizer, 10_000)
  params = agent.init(jax.random.PRNGKey(0))
  teacher = () if agent.teacher is None else agent.teacher(jax.random.PRNGKey(2))
  state = learner.TrainState(params, None if agent.target is None else params,
                             optimizer.init(params), jnp.int32(0), jax.random.PRNGKey(1))
  update = jax.jit(learner.make_update(agent.loss, optimizer, schedule, agent.target))
  return update, state, teacher


def alternating_rates(calls: dict, batches, num_calls: int, updates_per_call: int
                      ) -> dict:
  """{name: median updates/s} of `calls` {name: (update, state, teacher)} on the same
  batches, compiled first, then timed alternating call by call."""
  for update, state, teacher in calls.values():
    jax.block_until_ready(update(state, teacher, batches))
  times = {name: [] for name in calls}
  for _ in range(num_calls):
    for name, (update, state, teacher) in calls.items():
      start = time.perf_counter()
      jax.block_until_ready(update(state, teacher, batches))
      times[name].append(time.perf_counter() - start)
  return {name: updates_per_call / float(np.median(t)) for name, t in times.items()}


def _demo_network() -> dict:
  from offline_rl.experiments import unplugged  # pylint: disable=g-import-not-at-top
  return dict(unplugged.get_config().agents[0].overrides.network)


def skirmish_networks(dataset: str, calls: int, updates_per_call: int = 10,
                      batch_size: int = 128) -> dict:
  """BC updates/s of the demo's Skirmish network with and without the structured
  heads and scatter, on the same batches, alternating call by call (medians)."""
  from offline_rl import data  # pylint: disable=g-import-not-at-top
  iterator = data.make_iterator(dataset, batch_size=batch_size, unroll_length=1,
                                validation_fraction=0.0)
  batches = iterator.next_many(updates_per_call)
  updates, parameters = {}, {}
  for name, overrides in (('structured', configs.STRUCTURED_NETWORK),
                          ('plain', configs.PLAIN_NETWORK)):
    updates[name] = compiled_update('bc', iterator.spec,
                                    dict(_demo_network(), **overrides), batch_size, 1)
    parameters[name] = int(sum(np.size(x) for x in jax.tree.leaves(updates[name][1].params)))
  rate = alternating_rates(updates, batches, calls, updates_per_call)
  return {'batch_size': batch_size, 'unroll_length': 1,
          'updates_per_call': updates_per_call, 'calls': calls,
          'updates_per_second_median': rate, 'parameters': parameters,
          'cost_ratio': rate['plain'] / rate['structured']}


# {label: (agent, config overrides)}; OAC-Q is OAC with the learned Q^mu advantage.
SKIRMISH_AGENTS = {'bc': ('bc', {}), 'oac': ('oac', {}), 'eoac': ('eoac', {}),
                   'oac_q': ('oac', {'oac': {'advantage': 'q'}})}


def skirmish_agents(dataset: str, calls: int, updates_per_call: int = 10,
                    batch_size: int = 32, unroll_length: int = 8) -> dict:
  """Updates/s of `SKIRMISH_AGENTS` on the demo's (structured) network and the
  recipe's value-agent batch (32 windows of 8 steps), the same batches for all,
  alternating call by call (medians); each one's cost vs BC (issue 13's target: OAC
  <= 2.5x)."""
  from offline_rl import data  # pylint: disable=g-import-not-at-top
  iterator = data.make_iterator(dataset, batch_size=batch_size,
                                unroll_length=unroll_length, validation_fraction=0.0)
  batches = iterator.next_many(updates_per_call)
  updates = {label: compiled_update(name, iterator.spec, _demo_network(), batch_size,
                                    unroll_length, **overrides)
             for label, (name, overrides) in SKIRMISH_AGENTS.items()}
  rate = alternating_rates(updates, batches, calls, updates_per_call)
  return {'batch_size': batch_size, 'unroll_length': unroll_length,
          'updates_per_call': updates_per_call, 'calls': calls,
          'updates_per_second_median': rate,
          'cost_vs_bc': {name: rate['bc'] / rate[name] for name in SKIRMISH_AGENTS}}


def _median(rows, key):
  return float(np.median([r[key] for r in rows]))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--quick', action='store_true', help='fewer steps, one round')
  parser.add_argument('--rounds', type=int, default=3,
                      help='interleaved rounds of every measurement')
  parser.add_argument('--skirmish_only', action='store_true',
                      help="only the Skirmish network's cost (part 3)")
  for name in ('dataset', 'workdir', 'steps', 'cores'):  # One run of ours, internal.
    parser.add_argument(f'--worker_{name}', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker_dataset:
    cores.limit_cores(int(args.worker_cores))
    print(json.dumps(ours_end_to_end(args.worker_dataset, args.worker_workdir,
                                     int(args.worker_steps))))
    return
  rounds = 1 if args.quick else args.rounds
  ours_steps = 2_000 if args.quick else 10_000
  d3_steps = 300 if args.quick else 1_000
  tmp = tempfile.mkdtemp(prefix='bench_learner_')
  mfus, ends = [], []
  try:
    record_skirmish(os.path.join(tmp, 'skirmish'), 8)
    network = skirmish_networks(os.path.join(tmp, 'skirmish'),
                                calls=10 if args.quick else 30)
    rate = network['updates_per_second_median']
    print(f"Skirmish 8x8 BC, demo network, batch 128: "
          f"{rate['structured']:.0f} updates/s with pointer, spatial and scatter "
          f"({network['parameters']['structured']} params), {rate['plain']:.0f}/s "
          f"without ({network['parameters']['plain']}): "
          f"{network['cost_ratio']:.2f}x the cost (target <= 2x)")
    network['agents'] = skirmish_agents(os.path.join(tmp, 'skirmish'),
                                        calls=10 if args.quick else 30)
    agent_rate = network['agents']['updates_per_second_median']
    cost = network['agents']['cost_vs_bc']
    print(f"Skirmish 8x8, demo network, 32 windows of 8: BC {agent_rate['bc']:.0f}, "
          f"OAC {agent_rate['oac']:.0f}, E-OAC {agent_rate['eoac']:.0f}, OAC-Q "
          f"{agent_rate['oac_q']:.0f} updates/s: OAC {cost['oac']:.2f}x, E-OAC "
          f"{cost['eoac']:.2f}x, OAC-Q {cost['oac_q']:.2f}x BC's cost (target OAC <= "
          "2.5x)")
    if args.skirmish_only:
      network['command'] = 'python benchmarks/bench_learner.py --skirmish_only' + (
          ' --quick' if args.quick else '')
      network['load_average_1_5_15'] = os.getloadavg()
      _write(SKIRMISH_RESULTS, network)
      return
    dataset = os.path.join(tmp, 'corridor')
    record_corridor(dataset, 2_000)
    npz = os.path.join(tmp, 'transitions.npz')
    export_transitions(dataset, npz)
    # Rounds interleave both sides of each ratio, so a change in the machine's load
    # hits both; the medians over rounds are reported.
    for r in range(rounds):
      print(f'Round {r + 1}/{rounds}')
      mfu = measure_mfu(calls=5 if args.quick else 10)
      mfus.append(mfu)
      print(f"  MFU: {mfu['flops_per_update'] / 1e6:.1f} MFLOP/update (256-256 MLP, "
            f"batch 256), best {mfu['updates_per_second_best']:.0f} updates/s, "
            f"{mfu['achieved_gflops_best']:.1f} GFLOP/s of a best "
            f"{mfu['peak_matmul_gflops']:.1f} GFLOP/s matmul: "
            f"{100 * mfu['mfu']:.0f}% (of the medians: "
            f"{100 * mfu['mfu_of_medians']:.0f}%)")
      ours = ours_best_cores(dataset, os.path.join(tmp, f'run{r}'), ours_steps)
      theirs = d3rlpy_end_to_end(npz, d3_steps)
      end = {'offline_rl': ours, 'd3rlpy': theirs,
             'ratio': ours['updates_per_second'] / theirs['fit_updates_per_second']}
      if 'update_only_per_second' in theirs:
        end['update_only_ratio'] = (ours['update_only_per_second'] /
                                    theirs['update_only_per_second'])
      ends.append(end)
      print(f"  end to end, batch 100: offline_rl Learner "
            f"{ours['updates_per_second']:.0f} updates/s on {ours['cpu_cores']} "
            f"core(s) (update only "
            f"{ours['update_only_per_second']:.0f}/s, sampling "
            f"{ours['updates_per_call']} batches "
            f"{1e3 * ours['sample_k_batches_seconds']:.1f} ms); d3rlpy fit() "
            f"{theirs['fit_updates_per_second']:.0f}/s ({theirs['source']}): "
            f"{end['ratio']:.1f}x")
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  ratios = [e['ratio'] for e in ends]
  mfu_values = [m['mfu'] for m in mfus]
  print(f'MFU median over {rounds} rounds {100 * np.median(mfu_values):.0f}% '
        f'(range {100 * min(mfu_values):.0f}-{100 * max(mfu_values):.0f}%; '
        'target >= 50%)')
  print(f'End to end vs d3rlpy, median over {rounds} rounds {np.median(ratios):.1f}x '
        f'(range {min(ratios):.1f}-{max(ratios):.1f}x; target >= 8x)')
  if all('update_only_ratio' in e for e in ends):
    print(f"Update only vs update only, median "
          f"{np.median([e['update_only_ratio'] for e in ends]):.1f}x")
  load = os.getloadavg()
  results = {
      'command': 'python benchmarks/bench_learner.py' + (' --quick' if args.quick else ''),
      'machine': {'platform': platform.platform(), 'cpus': os.cpu_count(),
                  'load_average_1_5_15': load, 'jax': jax.__version__,
                  'devices': [str(d) for d in jax.devices()]},
      'rounds': rounds,
      'mfu': {'median': float(np.median(mfu_values)), 'target': 0.5,
              'peak_matmul_gflops_median': _median(mfus, 'peak_matmul_gflops'),
              'updates_per_second_median': _median(mfus, 'updates_per_second_best'),
              'by_round': mfus},
      'end_to_end': {'ratio_median': float(np.median(ratios)), 'target_ratio': 8.0,
                     'offline_rl_updates_per_second_median': float(np.median(
                         [e['offline_rl']['updates_per_second'] for e in ends])),
                     'd3rlpy_fit_updates_per_second_median': float(np.median(
                         [e['d3rlpy']['fit_updates_per_second'] for e in ends])),
                     'by_round': ends},
      'skirmish_network': network,
  }
  _write(RESULTS, results)


def _write(path, results):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    json.dump(results, f, indent=2)
  load = os.getloadavg()
  print(f'Wrote {path} (load average {load[0]:.1f} on {os.cpu_count()} CPUs).')


if __name__ == '__main__':
  main()
