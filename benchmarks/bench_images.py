"""BC on image observations against the same agent on flat features of equal size.

  .venv/bin/python benchmarks/bench_images.py [--quick]

For each image size (10x10x4 MinAtar-like, 42x42x3, 84x84x3; synthetic specs, 4
actions) three BC networks at the default config train on the same random batches:
  image:      the conv torso (`torsos.ConvResNet`) with `conv.Conv` (im2col + GEMM),
  reference:  the same network with `nn.Conv` (XLA's convolution: the code before),
  flat:       the observation flattened to H*W*C floats, read by the 256-256 MLP.
Their K-update calls alternate call by call (medians), so a change in the machine's
load hits every side of a ratio. For the image networks it also times the loss alone
(forward) and its gradient (forward + backward) on one batch, and reads XLA's FLOP
count of one update for each network: the ratio of FLOPs is what bounds the ratio of
update rates once both run near the machine's matmul speed.

Writes benchmarks/results/images.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from unittest import mock

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import flax.linen as nn  # pylint: disable=g-import-not-at-top
import jax
import jax.numpy as jnp
import numpy as np

from offline_rl import agent as agent_lib
from offline_rl import agents
from offline_rl import batch as batch_lib
from offline_rl import learner
from offline_rl import specs
from offline_rl.networks import conv

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                       'images.json')
SHAPES = ((10, 10, 4), (42, 42, 3), (84, 84, 3))
NUM_ACTIONS = 4


def make_spec(shape) -> specs.EnvSpec:
  return specs.EnvSpec(
      'bench/images', '0', 1,
      observation={'observation': specs.ArraySpec(tuple(shape), 'float32')},
      action={'action': specs.ArraySpec((), 'int32', num_values=NUM_ACTIONS)},
      legal_action_mask=None, max_episode_steps=100)


def make_batches(shape, num, batch_size, seed=0) -> batch_lib.Batch:
  """[K, B, 2, *shape] random windows (index 0 is the previous step)."""
  rng = np.random.default_rng(seed)
  lead = (num, batch_size, 2)
  return batch_lib.Batch(
      observation={'observation': rng.normal(size=lead + tuple(shape)).astype(
          np.float32)},
      action={'action': rng.integers(0, NUM_ACTIONS, lead).astype(np.int32)},
      reward=np.zeros(lead, np.float32), discount=np.ones(lead, np.float32),
      is_first=np.zeros(lead, bool), is_last=np.zeros(lead, bool),
      is_terminal=np.zeros(lead, bool), legal_action_mask=None,
      mask=np.ones(lead, bool), metadata={'rating': np.zeros(lead[:2], np.float32)})


def compile_network(shape, batches, reference: bool) -> dict:
  """The compiled K-update call, loss and gradient of BC on `shape` observations,
  with `nn.Conv` in the torso when `reference`."""
  with mock.patch.object(conv, 'Conv', nn.Conv if reference else conv.Conv):
    config = agents.default_config('bc')
    agent = agents.make('bc', make_spec(shape), config)
    optimizer, schedule = learner.make_optimizer(config.optimizer, 10_000)
    params = agent.init(jax.random.PRNGKey(0))
    state = learner.TrainState(params, None, optimizer.init(params), jnp.int32(0),
                               jax.random.PRNGKey(1))
    update = jax.jit(learner.make_update(agent.loss, optimizer, schedule))
    one = jax.tree.map(lambda x: x[:1], batches)
    flops = float(update.lower(state, (), one).compile().cost_analysis()['flops'])
    scanned = update.lower(state, (), batches).compile()
    first = jax.tree.map(lambda x: x[0], batches)
    context = agent_lib.LossContext(None, (), jnp.int32(0))
    loss = lambda p, b: agent.loss(p, context, b, jax.random.PRNGKey(2))[0]
    forward = jax.jit(loss).lower(params, first).compile()
    gradient = jax.jit(jax.grad(loss)).lower(params, first).compile()
  return dict(state=state, update=scanned, forward=forward, gradient=gradient,
              params=params, first=first, flops_per_update=flops,
              parameters=int(sum(np.size(x) for x in jax.tree.leaves(params))))


def seconds(fn, *args, calls: int) -> list[float]:
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(calls):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return times


def measure(shape, batch_size: int, updates_per_call: int, calls: int) -> dict:
  size = int(np.prod(shape))
  image_batches = jax.device_put(make_batches(shape, updates_per_call, batch_size))
  flat_batches = image_batches._replace(observation={'observation': jnp.reshape(
      image_batches.observation['observation'],
      (updates_per_call, batch_size, 2, size))})
  nets = {'image': compile_network(shape, image_batches, reference=False),
          'reference': compile_network(shape, image_batches, reference=True),
          'flat': compile_network((size,), flat_batches, reference=False)}
  inputs = {'image': image_batches, 'reference': image_batches, 'flat': flat_batches}
  times = {name: [] for name in nets}
  for _ in range(calls):  # Alternating, so that the load hits every side alike.
    for name, net in nets.items():
      times[name] += seconds(net['update'], net['state'], (), inputs[name], calls=1)
  rate = {name: updates_per_call / float(np.median(t)) for name, t in times.items()}
  passes = {}
  for name in ('image', 'reference'):
    net = nets[name]
    passes[name] = {
        'forward_ms': 1e3 * float(np.median(
            seconds(net['forward'], net['params'], net['first'], calls=calls))),
        'forward_and_backward_ms': 1e3 * float(np.median(
            seconds(net['gradient'], net['params'], net['first'], calls=calls)))}
  flops = {name: net['flops_per_update'] for name, net in nets.items()}
  return {
      'shape': list(shape), 'batch_size': batch_size,
      'updates_per_call': updates_per_call, 'calls': calls,
      'updates_per_second_median': rate,
      'image_cost_vs_flat': rate['flat'] / rate['image'],
      'reference_cost_vs_image': rate['image'] / rate['reference'],
      'gflops_per_update': {n: f / 1e9 for n, f in flops.items()},
      'flop_ratio_image_vs_flat': flops['image'] / flops['flat'],
      'achieved_gflops': {n: flops[n] * rate[n] / 1e9 for n in nets},
      'one_batch_ms': passes,
      'parameters': {name: net['parameters'] for name, net in nets.items()},
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--quick', action='store_true', help='smaller batch, fewer calls')
  args = parser.parse_args()
  batch_size, updates_per_call, calls = (32, 2, 3) if args.quick else (64, 4, 7)
  cases = []
  for shape in SHAPES:
    case = measure(shape, batch_size, updates_per_call, calls)
    cases.append(case)
    rate, ms = case['updates_per_second_median'], case['one_batch_ms']
    print(f"{'x'.join(map(str, shape))}, batch {batch_size}: image "
          f"{rate['image']:.1f} updates/s (nn.Conv {rate['reference']:.1f}), flat "
          f"{rate['flat']:.1f}: image costs {case['image_cost_vs_flat']:.2f}x flat "
          f"(target <= 2x; FLOPs {case['flop_ratio_image_vs_flat']:.2f}x), nn.Conv "
          f"{case['reference_cost_vs_image']:.1f}x image. One batch, forward / "
          f"forward+backward: {ms['image']['forward_ms']:.1f} / "
          f"{ms['image']['forward_and_backward_ms']:.1f} ms (nn.Conv "
          f"{ms['reference']['forward_ms']:.1f} / "
          f"{ms['reference']['forward_and_backward_ms']:.1f}). GFLOP/s image "
          f"{case['achieved_gflops']['image']:.1f}, flat "
          f"{case['achieved_gflops']['flat']:.1f}")
  results = {
      'command': 'python benchmarks/bench_images.py' + (' --quick' if args.quick else ''),
      'machine': {'platform': platform.platform(), 'cpus': os.cpu_count(),
                  'load_average_1_5_15': os.getloadavg(), 'jax': jax.__version__},
      'cases': cases,
  }
  os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
  with open(RESULTS, 'w') as f:
    json.dump(results, f, indent=2)
  print(f'Wrote {RESULTS} (load average {os.getloadavg()[0]:.1f} on '
        f'{os.cpu_count()} CPUs).')


if __name__ == '__main__':
  main()
