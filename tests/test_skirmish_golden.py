"""Golden traces: fixed-seed Skirmish games must replay bit-identically.

The hashes below were recorded from the reference implementation before any
performance work. Every observation, legal-action mask, reward, discount, action and
the final states of several bot-vs-bot games (with autoreset) on 8x8 and 16x16 are
hashed; an optimisation of the game or of the bots that changes any bit of any of
them (game semantics, bot behaviour, float rounding of the observations) fails here.

They are hashed in three parts, so that a change of the legal-action mask shows what
it moved: 'states' (observations, rewards, discounts, episode flags and the final
states, illegal-action counters included), 'functions' (the function head's masks and
chosen values) and 'heads' (every mask and action). Environment version 2 made the
heads a function ignores, and `delay` while a seat is not due, allow only 0: 'heads'
moved (the bots now send delay 0 when not due, and a noisy no_op / stop / train_*
draws its ignored unit or target from a one-value row), 'states', 'functions' and the
outcomes did not.
"""
import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offline_rl import types
from offline_rl.environments import make
from offline_rl.environments.skirmish import bots

# (seat 0 bot, seat 1 bot) per game of the batch.
PAIRS = (('rush-6', 'harass-4'), ('economic-7', 'defensive-5'), ('random', 'rush-3'),
         ('harass-7', 'economic-2'))
STEPS = {8: 300, 16: 400}
# Recorded with the graded bot levels (geometric interval, skill level / 8); before
# them, environment version 2's were 8: states 96f570fc48073cbf, functions
# bdeb576514eab34e, heads 5914b4d6e562f2bc; 16: d22023118048c442, 3ba01b12c86a0886,
# 69ca86b79b7c2d7a.
GOLDEN = {
    8: {'states': '1d5ea5cc4f568839', 'functions': '723ad0777b83d0d8', 'heads': '834834662edd8098',
        'outcomes': ([-1, 2, -2, 0], [1, 2, 2, 2])},
    16: {'states': 'a83f8976ddc43357', 'functions': '5766aa22043b72ac', 'heads': 'ca1c00cc1f1af27b',
         'outcomes': ([3, 1, -2, 2], [3, 1, 2, 2])},
}


def _play(size):
  """Plays len(PAIRS) games for STEPS[size] ticks with autoreset; returns host arrays."""
  env = make(f'skirmish/{size}x{size}')
  params0 = bots.stack_params([bots.bot(a) for a, _ in PAIRS])
  params1 = bots.stack_params([bots.bot(b) for _, b in PAIRS])

  def one(carry, p0, p1):
    state, timestep, key = carry
    key, k0, k1, kr = jax.random.split(key, 4)
    a0, _ = bots.bot_apply(p0, types.seat(timestep, 0), (), k0)
    a1, _ = bots.bot_apply(p1, types.seat(timestep, 1), (), k1)
    action = jax.tree.map(lambda x, y: jnp.stack([x, y]), a0, a1)
    new_state, new_ts = env.step(state, action)
    fresh_state, fresh_ts = env.reset(kr)
    pick = lambda f, n: jnp.where(timestep.is_last, f, n)
    new_state = jax.tree.map(pick, fresh_state, new_state)
    new_ts = jax.tree.map(pick, fresh_ts, new_ts)
    out = (action, new_ts.observation, new_ts.legal_action_mask, new_ts.reward,
           new_ts.discount, new_ts.is_last, new_ts.is_terminal)
    return (new_state, new_ts, key), out

  @jax.jit
  def run(keys):
    state, timestep = jax.vmap(env.reset)(keys)
    carry = (state, timestep, jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys))
    body = lambda c, _: jax.vmap(one)(c, params0, params1)
    return jax.lax.scan(body, carry, None, length=STEPS[size])

  keys = jax.random.split(jax.random.key(size), len(PAIRS))
  (state, _, _), trace = jax.device_get(run(keys))
  return state, trace


def _digest(tree) -> str:
  h = hashlib.sha256()
  for leaf in jax.tree.leaves(tree):
    a = np.ascontiguousarray(np.asarray(leaf))
    h.update(str((a.dtype, a.shape)).encode())
    h.update(a.tobytes())
  return h.hexdigest()[:16]


@pytest.mark.parametrize('size', [8, 16])
def test_golden_trace(size):
  state, trace = _play(size)
  rewards, is_last = trace[3], trace[5]
  # The games are real games: somebody acts, games end and get rewarded.
  assert (np.asarray(trace[0]['function']) > 0).mean() > 0.05
  outcomes = [int(x) for x in np.round(rewards[..., 0].sum(0))]
  finished = [int(x) for x in is_last.sum(0)]
  action, mask = trace[0], trace[2]
  got = {'states': _digest((trace[1],) + tuple(trace[3:]) + (state,)),
         'functions': _digest((action['function'], mask['function'])),
         'heads': _digest((action, mask)), 'outcomes': (outcomes, finished)}
  print(size, got)
  assert got == GOLDEN[size]


def test_cheap_legality_check_matches_the_full_mask():
  """The chosen-action legality check (which skips the [P, C] target rows on maps
  where some walkable cell is always free) agrees with the full-mask check."""
  env = make('skirmish/8x8')
  assert env._always_buildable  # pylint: disable=protected-access
  full = make('skirmish/8x8')
  full._always_buildable = False  # pylint: disable=protected-access
  policy = bots.bot('rush-7')

  @jax.jit
  def run(key):
    def body(carry, key):
      state, timestep = carry
      k0, k1, k2 = jax.random.split(key, 3)
      a0, _ = bots.bot_apply(policy.params, types.seat(timestep, 0), (), k0)
      a1, _ = bots.bot_apply(policy.params, types.seat(timestep, 1), (), k1)
      action = jax.tree.map(lambda x, y: jnp.stack([x, y]), a0, a1)
      # Random (often illegal) actions probe every head, including out-of-range ones.
      probe = [jax.random.randint(k, (2,), -1, n + 1) for k, n in zip(
          jax.random.split(k2, 4), (10, env.num_units, env.num_cells, 8))]
      got = [e._legal_chosen(state, *probe)[0]  # pylint: disable=protected-access
             for e in (env, full)]
      got += [e._legal_chosen(state, *[action[h] for h in  # pylint: disable=protected-access
                                       ('function', 'unit', 'target', 'delay')])[0]
              for e in (env, full)]
      state, timestep = env.step(state, action)
      return (state, timestep), jnp.stack(got)
    return jax.lax.scan(body, env.reset(key), jax.random.split(key, 200))[1]

  got = np.asarray(run(jax.random.key(3)))  # [T, 4, P]
  np.testing.assert_array_equal(got[:, 0], got[:, 1])
  np.testing.assert_array_equal(got[:, 2], got[:, 3])
  assert got[:, 2].mean() > 0.5 and got[:, 0].mean() < got[:, 2].mean()
