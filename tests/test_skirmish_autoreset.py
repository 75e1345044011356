"""`Skirmish.step_or_reset`, the rollout's autoreset step, equals resetting where the
last time step ended the game and stepping elsewhere, bit for bit."""
import jax
import jax.numpy as jnp
import numpy as np

from offline_rl import rollout
from offline_rl import types
from offline_rl.environments import make
from offline_rl.environments.skirmish import bots


def test_step_or_reset_equals_reset_where_last_else_step():
  # A short tick limit so that games end (truncated or won) and reset many times.
  env = make('skirmish/8x8', max_ticks=40)
  params = (bots.bot('random').params, bots.bot('rush-6').params)

  def one(carry, _):
    state, timestep, key = carry
    key, k0, k1, kr = jax.random.split(key, 4)
    a0, _ = bots.bot_apply(params[0], types.seat(timestep, 0), (), k0)
    a1, _ = bots.bot_apply(params[1], types.seat(timestep, 1), (), k1)
    action = jax.tree.map(lambda x, y: jnp.stack([x, y]), a0, a1)
    stepped = env.step(state, action)
    fresh = env.reset(kr)
    expected = jax.tree.map(lambda f, n: jnp.where(timestep.is_last, f, n), fresh, stepped)
    got = env.step_or_reset(state, action, kr, timestep.is_last)
    same = jax.tree.map(lambda a, b: jnp.all(a == b), expected, got)
    return (*expected, key), (same, timestep.is_last)

  @jax.jit
  def run(keys):
    state, timestep = jax.vmap(env.reset)(keys)
    body = lambda c, x: jax.vmap(lambda cc: one(cc, x))(c)
    return jax.lax.scan(body, (state, timestep, keys), None, length=150)[1]

  same, is_last = run(jax.random.split(jax.random.key(0), 8))
  assert int(np.asarray(is_last).sum()) >= 16  # resets happened
  for path, leaf in jax.tree_util.tree_leaves_with_path(same):
    assert np.asarray(leaf).all(), jax.tree_util.keystr(path)


def test_rollout_uses_step_or_reset_and_matches_the_generic_autoreset():
  env = make('skirmish/8x8', max_ticks=30)
  policies = [bots.bot('random'), bots.bot('rush-3')]
  params = tuple(p.params for p in policies)

  class Generic:
    """The same environment without `step_or_reset` (the generic autoreset)."""
    jittable = True
    spec = env.spec
    reset = staticmethod(env.reset)
    step = staticmethod(env.step)

  key = jax.random.key(1)
  results = []
  for e in (env, Generic()):
    state = rollout.init(e, policies, key, num_envs=4)
    run = rollout.make_run(e, policies, num_steps=80)
    results.append(jax.device_get(run(params, state)))
  (state_a, steps_a), (state_b, steps_b) = results
  assert np.asarray(steps_a.timestep.is_last).sum() >= 4
  plain = lambda x: jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x
  for a, b in zip(jax.tree.leaves((state_a, steps_a)), jax.tree.leaves((state_b, steps_b))):
    np.testing.assert_array_equal(np.asarray(plain(a)), np.asarray(plain(b)))
