"""Batched games between bots: jit(while(scan(vmap))) to the end of every game.

Letters: N games, P = 2 seats.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from offline_rl import types

CHUNK = 25  # ticks per scan between checks that every game has ended


def make_play(env, apply_fn):
  """Builds `play(params0, params1, keys) -> (outcome [N, P], ticks [N], illegal [N, P])`.

  `params0` / `params1` are each seat's policy params stacked over games ([N, ...]),
  both read by the same `apply_fn(params, timestep_of_one_seat, (), key)`; `keys` [N]
  seed the maps and the policies. Games run in chunks of CHUNK ticks until all have
  ended (a finished game stays finished), so the outcome is each seat's final result:
  +1 win, -1 loss, 0 draw or tick limit.
  """

  def act_and_step(p0, p1, state, timestep, key):
    key, k0, k1 = jax.random.split(key, 3)
    a0, _ = apply_fn(p0, types.seat(timestep, 0), (), k0)
    a1, _ = apply_fn(p1, types.seat(timestep, 1), (), k1)
    action = jax.tree.map(lambda x, y: jnp.stack([x, y]), a0, a1)
    state, timestep = env.step(state, action)
    return state, timestep, key

  batched = jax.vmap(act_and_step)

  @jax.jit
  def play(params0, params1, keys):
    reset_keys, keys = jax.vmap(lambda k: tuple(jax.random.split(k)))(keys)
    state, timestep = jax.vmap(env.reset)(reset_keys)

    def chunk(carry):
      def body(c, _):
        return batched(params0, params1, *c), None
      carry, _ = jax.lax.scan(body, carry, None, length=CHUNK)
      return carry

    def running(carry):
      return ~jnp.all(carry[0].done)

    state, _, _ = jax.lax.while_loop(running, chunk, (state, timestep, keys))
    return state.outcome, state.tick, state.illegal_actions

  return play
