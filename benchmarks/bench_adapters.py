"""Adapter overhead over the raw environments, side by side in one run; search ladders.

    python benchmarks/bench_adapters.py            # overhead + ladders
    python benchmarks/bench_adapters.py --ladder=false

Overhead: the same uniformly random legal play, stepped through the raw library and
through the adapter, timed alternately (best of --repeats):

  * gymnasium CartPole-v1: a NEXT_STEP SyncVectorEnv of N copies vs `step_batch`.
  * pgx connect_four, othello, go_9x9: jit(scan(vmap(step))) with autoreset, raw
    pgx vs `PgxEnv` (target: < 10% overhead for JAX-native adapters).
  * OpenSpiel connect_four: a Python loop over N games (apply a legal action, read the
    mover's observation tensor and legal actions) vs `step_batch`.

Ladder: win rates between search bots of different simulation counts (pgx: mctx
with a zero value and with random-rollout values; OpenSpiel: its MCTSBot), each pair
playing --games games with random first movers / alternating seats.

Prints a table and writes benchmarks/results/adapters.json.
"""
from __future__ import annotations

import functools
import json
import os
import pathlib
import platform
import time

os.environ.setdefault('JAX_PLATFORMS', 'cpu')

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from offline_rl import rollout
from offline_rl.environments import adapters
from offline_rl.environments import make

_REPEATS = flags.DEFINE_integer('repeats', 10, 'Timed repeats; the best is kept.')
_LADDER = flags.DEFINE_bool('ladder', True, 'Also measure the search-bot ladders.')
_GAMES = flags.DEFINE_integer('games', 64, 'Games per ladder pair (pgx).')
_OS_GAMES = flags.DEFINE_integer('openspiel_games', 16, 'Games per ladder pair (OpenSpiel).')
_OUT = flags.DEFINE_string('out', str(pathlib.Path(__file__).parent / 'results' / 'adapters.json'),
                           'Where to write the JSON results.')


def _timed(fn):
  """(wall seconds, CPU seconds of this process) of one call."""
  wall, cpu = time.perf_counter(), time.process_time()
  fn()
  return time.perf_counter() - wall, time.process_time() - cpu


def _side_by_side(raw, adapted, repeats):
  """Times raw and adapted alternately, `repeats` times each, after a warm-up.

  Returns the best (wall, CPU) seconds of each. On a shared, loaded machine wall time
  mostly measures the other processes; CPU time (all threads of this process) is the
  steadier measure of the work done, so the overhead is computed from it.
  """
  raw(), adapted()  # Warm up: compilation, vector env start.
  r, a = [], []
  for _ in range(repeats):
    r.append(_timed(raw))
    a.append(_timed(adapted))
  return tuple(min(t[i] for t in r) for i in (0, 1)), tuple(min(t[i] for t in a) for i in (0, 1))


def bench_gymnasium(num_envs=16, num_steps=2000, repeats=3):
  import gymnasium as gym  # pylint: disable=g-import-not-at-top
  actions = np.random.default_rng(0).integers(0, 2, (num_steps, num_envs))
  vector = gym.vector.SyncVectorEnv([lambda: gym.make('CartPole-v1')] * num_envs,
                                    autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
  env = make('gym/CartPole-v1')

  def raw():
    vector.reset(seed=0)
    for a in actions:
      vector.step(a)

  def adapted():
    env.reset_batch(seed=0, num_envs=num_envs)
    for a in actions:
      env.step_batch({'action': a[:, None]})

  raw_s, adapted_s = _side_by_side(raw, adapted, repeats)
  return _row('gymnasium CartPole-v1', num_envs, num_steps, raw_s, adapted_s)


def bench_pgx(game_id='connect_four', num_envs=1024, num_steps=600, repeats=3):
  import pgx  # pylint: disable=g-import-not-at-top
  game = pgx.make(game_id)
  env = make(f'pgx/{game_id}')

  def legal_sample(key, mask):
    return jax.random.categorical(key, jnp.where(mask, 0.0, -jnp.inf)).astype(jnp.int32)

  def raw_body(carry, key):
    state = carry
    k_act, k_reset = jax.random.split(key)
    action = jax.vmap(legal_sample)(jax.random.split(k_act, num_envs), state.legal_action_mask)
    state = jax.vmap(game.step)(state, action)
    fresh = jax.vmap(game.init)(jax.random.split(k_reset, num_envs))
    done = state.terminated | state.truncated
    state = jax.tree.map(lambda f, s: jnp.where(
        done.reshape(done.shape + (1,) * (s.ndim - 1)), f, s), fresh, state)
    return state, state.rewards[:, 0]

  def adapted_body(carry, key):
    state, ts = carry
    k_act, k_reset = jax.random.split(key)
    # The mover's mask; the same move is given to both seats (the waiter's is ignored).
    mover = jnp.argmax(ts.observation['to_play'], axis=1)
    mover_mask = ts.legal_action_mask['action'][jnp.arange(num_envs), mover]
    move = jax.vmap(legal_sample)(jax.random.split(k_act, num_envs), mover_mask)
    state, ts = jax.vmap(env.step)(state, {'action': jnp.stack([move, move], 1)})
    fresh = jax.vmap(env.reset)(jax.random.split(k_reset, num_envs))
    done = ts.is_last
    state, ts = jax.tree.map(lambda f, s: jnp.where(
        done.reshape(done.shape + (1,) * (s.ndim - 1)), f, s), fresh, (state, ts))
    return (state, ts), ts.reward[:, 0]

  keys = jax.random.split(jax.random.key(1), num_steps)
  raw_run = jax.jit(lambda c: jax.lax.scan(raw_body, c, keys))
  adapted_run = jax.jit(lambda c: jax.lax.scan(adapted_body, c, keys))
  raw_init = jax.jit(jax.vmap(game.init))(jax.random.split(jax.random.key(0), num_envs))
  adapted_init = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.key(0), num_envs))
  raw = lambda: jax.block_until_ready(raw_run(raw_init))
  adapted = lambda: jax.block_until_ready(adapted_run(adapted_init))
  raw_s, adapted_s = _side_by_side(raw, adapted, repeats)
  return _row(f'pgx {game_id} (jit(scan(vmap)))', num_envs, num_steps, raw_s, adapted_s)


def bench_openspiel(num_envs=16, num_steps=300, repeats=3):
  import pyspiel  # pylint: disable=g-import-not-at-top
  game = pyspiel.load_game('connect_four')
  env = make('openspiel/connect_four')
  rng = np.random.default_rng(0)
  choices = rng.random((num_steps, num_envs))

  def pick(legal, u):
    return legal[int(u * len(legal))]

  def raw():
    states = [game.new_initial_state() for _ in range(num_envs)]
    for t in range(num_steps):
      for i, state in enumerate(states):
        if state.is_terminal():
          states[i] = state = game.new_initial_state()
        else:
          state.apply_action(pick(state.legal_actions(), choices[t, i]))
        if not state.is_terminal():
          state.observation_tensor(state.current_player())
          state.legal_actions()

  def adapted():
    ts = env.reset_batch(seed=0, num_envs=num_envs)
    for t in range(num_steps):
      mover = ts.observation['to_play'].argmax(1)
      masks = ts.legal_action_mask['action'][np.arange(num_envs), mover]
      move = np.array([pick(np.flatnonzero(m), u) for m, u in zip(masks, choices[t])])
      ts = env.step_batch({'action': np.stack([move, move], 1)})

  raw_s, adapted_s = _side_by_side(raw, adapted, repeats)
  return _row('OpenSpiel connect_four', num_envs, num_steps, raw_s, adapted_s)


def _row(name, num_envs, num_steps, raw_s, adapted_s):
  steps = num_envs * num_steps
  (raw_wall, raw_cpu), (adapted_wall, adapted_cpu) = raw_s, adapted_s
  return {'environment': name, 'num_envs': num_envs, 'num_steps': num_steps,
          'raw_steps_per_s': steps / raw_wall, 'adapter_steps_per_s': steps / adapted_wall,
          'raw_steps_per_cpu_s': steps / raw_cpu,
          'adapter_steps_per_cpu_s': steps / adapted_cpu,
          'overhead_pct': 100.0 * (adapted_cpu / raw_cpu - 1.0),
          'overhead_wall_pct': 100.0 * (adapted_wall / raw_wall - 1.0)}


def _match(env, first, second, games, num_steps, seed):
  """Win rate of `first` against `second` (draws count half), seats swapped halfway."""
  scores = []
  for swap in (False, True):
    seats = [second, first] if swap else [first, second]
    me = 1 if swap else 0
    state = rollout.init(env, seats, jax.random.key(seed + swap), games // 2)
    run = rollout.make_run(env, seats, num_steps)
    _, steps = run(tuple(p.params for p in seats), state)
    ts = jax.device_get(steps.timestep)
    last = np.asarray(ts.is_last)
    # Only each environment's first game: every game then starts from equal terms.
    first_done = last & (np.cumsum(last, axis=0) == 1)
    outcomes = np.asarray(ts.reward)[..., me][first_done]
    scores += list(0.5 + 0.5 * np.sign(outcomes))
  return float(np.mean(scores)), len(scores)


def bench_ladders(games, openspiel_games):
  rows = []
  env = make('pgx/connect_four')
  for value in ('zero', 'rollout'):
    bots = {n: adapters.search_bot(env, num_simulations=n, value=value) for n in (4, 16, 64)}
    for weak, strong in ((4, 16), (16, 64)):
      start = time.perf_counter()
      rate, played = _match(env, bots[strong], bots[weak], games, 43, seed=weak)
      rows.append({'game': 'pgx connect_four', 'bot': f'mctx muzero_policy, value={value}',
                   'stronger': strong, 'weaker': weak, 'stronger_score': rate,
                   'games': played, 'seconds': time.perf_counter() - start})
      print(f'  {rows[-1]}')
  env = make('openspiel/connect_four')
  bots = {n: adapters.mcts_bot(env, num_simulations=n) for n in (8, 32, 128)}
  for weak, strong in ((8, 32), (32, 128)):
    start = time.perf_counter()
    rate, played = _match(env, bots[strong], bots[weak], openspiel_games, 43, seed=weak)
    rows.append({'game': 'OpenSpiel connect_four', 'bot': 'open_spiel MCTSBot, random rollouts',
                 'stronger': strong, 'weaker': weak, 'stronger_score': rate,
                 'games': played, 'seconds': time.perf_counter() - start})
    print(f'  {rows[-1]}')
  return rows


def main(argv):
  del argv
  results = {'machine': f'{platform.machine()}, {os.cpu_count()} cores, '
                        f'load average {os.getloadavg()[0]:.1f} at start',
             'overhead': [], 'ladder': []}
  benches = [bench_gymnasium, bench_pgx,
             functools.partial(bench_pgx, 'othello', num_steps=300),
             functools.partial(bench_pgx, 'go_9x9', num_envs=256, num_steps=100),
             bench_openspiel]
  for bench in benches:
    row = bench(repeats=_REPEATS.value)
    results['overhead'].append(row)
    print(f"{row['environment']:<36} N={row['num_envs']:<5} raw "
          f"{row['raw_steps_per_cpu_s']:>11,.0f}  adapter {row['adapter_steps_per_cpu_s']:>11,.0f}"
          f" steps per CPU-second: overhead {row['overhead_pct']:+6.1f}% "
          f"(wall clock: {row['overhead_wall_pct']:+.1f}%)")
  if _LADDER.value:
    print('Search ladders (score of the stronger bot; draws count half):')
    results['ladder'] = bench_ladders(_GAMES.value, _OS_GAMES.value)
  pathlib.Path(_OUT.value).parent.mkdir(parents=True, exist_ok=True)
  pathlib.Path(_OUT.value).write_text(json.dumps(results, indent=2))
  print(f'wrote {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
