"""Drawing Skirmish: rgb_array frames, game records, and a self-contained HTML viewer.

A game is recorded as its seed plus both seats' actions; `replay` regenerates every
state from them (the game is deterministic), like an SC2 replay. `write_html` embeds a
compact per-tick summary (units, resources, each seat's visibility) and a small canvas
viewer with a timeline slider and a view selector (full map / as seat 0 saw it / as
seat 1 saw it, fog included). No network access is needed to view it.
"""
from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from offline_rl import types
from offline_rl.environments.skirmish import rules as R

SEAT_COLOURS = np.array([[40, 110, 230], [220, 50, 50]], np.uint8)
ROCK = np.array([90, 80, 70], np.uint8)
GROUND = np.array([200, 210, 180], np.uint8)
RESOURCE = np.array([240, 190, 30], np.uint8)


def frame(env, state, seat: int | None = None, cell_px: int = 8) -> np.ndarray:
  """uint8 [H * cell_px, W * cell_px, 3]: the map, full (seat=None) or as `seat` sees it.

  Buildings fill their cell; mobile units are smaller squares, darker for heavier
  kinds. Cells out of the seat's sight are dimmed; never-explored cells are darker.
  """
  s = jax.device_get(state)
  size = env.size
  if seat not in (None, 0, 1):
    raise ValueError(f'seat must be None (full map), 0 or 1; got {seat!r}.')
  passable = env.tables.passable[int(s.map_id)]
  res = np.asarray(s.resources)
  cells = np.where(res[:, None] > 0, RESOURCE, np.where(passable[:, None], GROUND, ROCK))
  img = np.repeat(np.repeat(cells.reshape(size, size, 3), cell_px, 0), cell_px, 1).copy()
  u = s.units
  visible = np.asarray(s.visible)
  for p in range(2):
    for i in range(env.num_units):
      if not u.alive[p, i]:
        continue
      cell = int(u.pos[p, i])
      if seat is not None and p != seat and not visible[seat, cell]:
        continue
      y, x = divmod(cell, size)
      kind = int(u.kind[p, i])
      pad = 0 if kind <= R.BARRACKS else max(1, cell_px // 4)
      shade = 1.0 - 0.12 * max(kind - R.WORKER, 0)
      colour = (SEAT_COLOURS[p] * (0.6 if kind == R.BARRACKS else shade)).astype(np.uint8)
      img[y * cell_px + pad:(y + 1) * cell_px - pad,
          x * cell_px + pad:(x + 1) * cell_px - pad] = colour
  if seat is not None:
    fog = np.where(visible[seat], 1.0, np.where(np.asarray(s.explored)[seat], 0.55, 0.3))
    fog = np.repeat(np.repeat(fog.reshape(size, size), cell_px, 0), cell_px, 1)
    img = (img * fog[..., None]).astype(np.uint8)
  return img


def record(env, policies, seed: int, max_ticks: int | None = None):
  """Plays one game between two policies; returns (actions dict of int32 [T, 2], states).

  `states` is the `State` pytree stacked over ticks [T + 1, ...] (the start included).
  """
  if len(policies) != 2:
    raise ValueError(f'record needs one policy per seat (2); got {len(policies)}.')
  max_ticks = int(max_ticks or env.max_ticks)
  key = jax.random.key(seed)
  reset_key, policy_key = jax.random.split(key)

  @jax.jit
  def run(params):
    state, timestep = env.reset(reset_key)
    policy_states = tuple(p.init_state(k) for p, k in
                          zip(policies, jax.random.split(policy_key, 2)))

    def body(carry, key):
      state, timestep, policy_states = carry
      keys = jax.random.split(key, 2)
      actions, new_states = [], []
      for p, policy in enumerate(policies):
        a, ps = policy.apply(params[p], types.seat(timestep, p), policy_states[p],
                             keys[p])
        actions.append(a)
        new_states.append(ps)
      action = jax.tree.map(lambda x, y: jnp.stack([x, y]).astype(jnp.int32), *actions)
      new_state, new_timestep = env.step(state, action)
      return (new_state, new_timestep, tuple(new_states)), (action, new_state)

    keys = jax.random.split(policy_key, max_ticks)
    _, (actions, states) = jax.lax.scan(body, (state, timestep, policy_states), keys)
    first = jax.tree.map(lambda x: x[None], state)
    return actions, jax.tree.map(lambda a, b: jnp.concatenate([a, b]), first, states)

  actions, states = run(tuple(p.params for p in policies))
  actions, states = jax.device_get((actions, states))
  # Trim to the end of the game.
  done = np.asarray(states.done)
  length = int(np.argmax(done)) if done.any() else len(done) - 1
  actions = {k: v[:length] for k, v in actions.items()}
  states = jax.tree.map(lambda x: x[:length + 1], states)
  return actions, states


def replay(env, seed: int, actions):
  """Regenerates the states [T + 1, ...] of a game from its seed and actions [T, 2]."""
  lengths = {k: np.shape(v) for k, v in actions.items()}
  env.check_action({k: np.asarray(v)[0] for k, v in actions.items()})
  if len({s[0] for s in lengths.values()}) != 1:
    raise ValueError(f'Every action head needs the same number of ticks; got {lengths}.')
  reset_key, _ = jax.random.split(jax.random.key(seed))

  @jax.jit
  def run(actions):
    state, _ = env.reset(reset_key)

    def body(state, action):
      state, _ = env.step(state, action)
      return state, state
    _, states = jax.lax.scan(body, state, actions)
    return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), state, states)

  return jax.device_get(run({k: jnp.asarray(v, jnp.int32) for k, v in actions.items()}))


def save_record(path: str, seed: int, actions, meta: dict) -> None:
  """Writes a game record (seed, actions, metadata) as .npz."""
  np.savez_compressed(path, seed=np.int64(seed), meta=json.dumps(meta),
                      **{f'action_{k}': np.asarray(v) for k, v in actions.items()})


def load_record(path: str):
  """Reads a game record written by `save_record`: (seed, actions, meta)."""
  with np.load(path) as data:
    actions = {k[len('action_'):]: data[k] for k in data.files if k.startswith('action_')}
    return int(data['seed']), actions, json.loads(str(data['meta']))


def _summary(env, states) -> dict:
  """Compact per-tick data for the viewer."""
  u = states.units
  T = len(np.asarray(states.tick))
  ticks = []
  for t in range(T):
    units = []
    for p in range(2):
      for i in range(env.num_units):
        if u.alive[t, p, i]:
          units.append([p, int(u.kind[t, p, i]), int(u.pos[t, p, i]),
                        int(u.hp[t, p, i]), int(R.MAX_HP[int(u.kind[t, p, i])])])
    vis = [''.join('1' if v else '0' for v in np.asarray(states.visible[t, p]))
           for p in range(2)]
    exp = [''.join('1' if v else '0' for v in np.asarray(states.explored[t, p]))
           for p in range(2)]
    res = np.asarray(states.resources[t])
    ticks.append({'tick': int(states.tick[t]), 'units': units, 'visible': vis,
                  'explored': exp, 'bank': [int(b) for b in states.bank[t]],
                  'resources': [int(r) for r in res]})
  map_id = int(states.map_id[0])
  return {'size': env.size, 'passable': [bool(b) for b in env.tables.passable[map_id]],
          'kinds': list(R.KIND_NAMES), 'ticks': ticks,
          'outcome': [float(o) for o in states.outcome[-1]]}


def write_html(path: str, env, states, title: str = 'Skirmish replay',
               meta: dict | None = None) -> str:
  """Writes the self-contained HTML viewer for a game's states [T + 1, ...]."""
  data = _summary(env, states)
  data['title'] = title
  data['meta'] = meta or {}
  with open(os.path.join(os.path.dirname(__file__), 'viewer.html')) as f:
    template = f.read()
  html = template.replace('__SKIRMISH_DATA__', json.dumps(data, separators=(',', ':')))
  html = html.replace('__SKIRMISH_TITLE__', title.replace('<', '&lt;'))
  with open(path, 'w') as f:
    f.write(html)
  return path
