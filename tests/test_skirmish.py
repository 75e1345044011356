"""Skirmish rules, fog, masks, determinism, batching and bad input (8x8, one compile)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offline_rl import specs
from offline_rl.environments import make
from offline_rl.environments.skirmish import game
from offline_rl.environments.skirmish import rules as R

HEADS = ('function', 'unit', 'target', 'delay')


@pytest.fixture(scope='module')
def env():
  return make('skirmish/8x8')


@pytest.fixture(scope='module')
def fns(env):
  return env.jitted()


def act(**seat0):
  """Both seats' actions; seat 0's heads from kwargs, seat 1 no-op."""
  return {h: np.array([seat0.get(h, 0), 0], np.int32) for h in HEADS}


def noop():
  return act()


def run(fns, state, action, ticks):
  _, step = fns
  state, ts = step(state, action)
  for _ in range(ticks - 1):
    state, ts = step(state, noop())
  return state, ts


def place(state, seat, slot, kind, cell, order=R.IDLE):
  """Test helper: puts a unit of `kind` at `cell` in a slot."""
  u = state.units
  upd = lambda a, v: a.at[seat, slot].set(v)
  return state.replace(units=u.replace(
      alive=upd(u.alive, True), kind=upd(u.kind, kind), hp=upd(u.hp, int(R.MAX_HP[kind])),
      pos=upd(u.pos, cell), order=upd(u.order, order), target=upd(u.target, cell),
      carry=upd(u.carry, 0), attack_cd=upd(u.attack_cd, 0), move_cd=upd(u.move_cd, 0),
      work=upd(u.work, 0)))


def test_spec_matches_timestep(env, fns):
  state, ts = fns[0](jax.random.key(0))
  one = jax.tree.map(lambda x: x[0], ts.observation)
  for name, spec in specs.flatten(env.spec.observation).items():
    leaf = one
    for part in name.split('/'):
      leaf = leaf[part]
    assert leaf.shape == spec.shape and leaf.dtype == spec.dtype, name
  for head, spec in env.spec.legal_action_mask.items():
    assert ts.legal_action_mask[head].shape == (2,) + spec.shape
  assert env.spec.num_players == 2 and env.spec.env_id == 'skirmish/8x8'
  assert ts.reward.shape == (2,) and bool(ts.is_first) and not bool(ts.is_last)
  assert env.spec.params['head_used_by_function']['target'][R.F_MOVE]


def test_harvest_brings_resources_home(env, fns):
  state, ts = fns[0](jax.random.key(1))
  field = int(np.argmax(np.asarray(ts.legal_action_mask['target'][0, R.F_HARVEST])))
  total_before = int(state.resources.sum()) + int(state.bank.sum())
  state, _ = run(fns, state, act(function=R.F_HARVEST, unit=1, target=field), 40)
  assert int(state.bank[0]) > R.START_RESOURCES  # resources came home
  assert int(state.bank[1]) == R.START_RESOURCES  # the idle seat earned nothing
  # Conservation: what left the map is in the bank or being carried.
  total_after = (int(state.resources.sum()) + int(state.bank.sum()) +
                 int(state.units.carry.sum()))
  assert total_after == total_before


def test_training_costs_and_produces_a_worker(env, fns):
  state, ts = fns[0](jax.random.key(2))
  assert bool(ts.legal_action_mask['function'][0, R.F_TRAIN_WORKER])
  assert not bool(ts.legal_action_mask['function'][0, R.F_TRAIN_MELEE])  # no barracks
  workers = int((state.units.alive[0] & (state.units.kind[0] == R.WORKER)).sum())
  state, _ = run(fns, state, act(function=R.F_TRAIN_WORKER, unit=0), 1)
  assert int(state.bank[0]) == R.START_RESOURCES - R.COST[R.WORKER]
  state, _ = run(fns, state, noop(), int(R.BUILD_TICKS[R.WORKER]))
  assert int((state.units.alive[0] & (state.units.kind[0] == R.WORKER)).sum()) == workers + 1
  assert int(state.illegal_actions.sum()) == 0


def test_build_barracks_then_train_a_counter_unit(env, fns):
  state, ts = fns[0](jax.random.key(3))
  state = state.replace(bank=jnp.array([40, 0], jnp.int32))
  _, step = fns
  state, ts = step(state, noop())
  site = int(np.argmax(np.asarray(ts.legal_action_mask['target'][0, R.F_BUILD])))
  state, ts = run(fns, state, act(function=R.F_BUILD, unit=1, target=site), 1)
  assert int(state.bank[0]) == 40 - R.COST[R.BARRACKS]
  state, ts = run(fns, state, noop(), 40)
  barracks = np.asarray(state.units.alive[0] & (state.units.kind[0] == R.BARRACKS))
  assert barracks.sum() == 1
  slot = int(np.argmax(barracks))
  assert int(state.units.pos[0, slot]) == site
  assert bool(ts.legal_action_mask['function'][0, R.F_TRAIN_RANGED])
  state, ts = run(fns, state, act(function=R.F_TRAIN_RANGED, unit=slot), 1)
  state, ts = run(fns, state, noop(), int(R.BUILD_TICKS[R.RANGED]))
  assert int((state.units.alive[0] & (state.units.kind[0] == R.RANGED)).sum()) == 1


def test_combat_kills_and_counters(env, fns):
  state, _ = fns[0](jax.random.key(4))
  # A melee of seat 0 next to a ranged unit and a heavy of seat 1 (far from bases).
  state = place(state, 0, 5, R.MELEE, 3 * 8 + 3)
  state = place(state, 1, 5, R.RANGED, 3 * 8 + 4)
  state, _ = run(fns, state, noop(), 1)
  # Melee does double damage to ranged; ranged (range 3) hits back at x1.
  assert int(state.units.hp[1, 5]) == R.MAX_HP[R.RANGED] - 2 * R.DAMAGE[R.MELEE]
  assert int(state.units.hp[0, 5]) == R.MAX_HP[R.MELEE] - R.DAMAGE[R.RANGED]
  state, _ = run(fns, state, noop(), 6)
  assert not bool(state.units.alive[1, 5])  # the ranged unit died
  assert bool(state.units.alive[0, 5])


def test_fog_hides_unseen_enemies(env, fns):
  state, _ = fns[0](jax.random.key(5))
  _, step = fns
  far = 7 * 8 + 0  # bottom-left corner, out of seat 0's sight at the start
  state = place(state, 1, 6, R.MELEE, far)
  state, ts = step(state, noop())
  visible = np.asarray(state.visible[0])
  assert not visible[far]
  enemies = np.asarray(ts.observation['enemies'][0])
  assert not np.any((enemies[:, R.UNIT['alive']] > 0)
                    & (np.round(enemies[:, R.UNIT['x']] * 8) == 0)
                    & (np.round(enemies[:, R.UNIT['y']] * 8) == 7))
  enemy_units = R.PLANE['enemy_units']
  assert np.asarray(ts.observation['planes'][0, 7, 0, enemy_units]) == 0
  # Seen once a unit of seat 0 stands next to it.
  state = place(state, 0, 6, R.WORKER, 6 * 8 + 1)
  state, ts = step(state, noop())
  assert bool(state.visible[0, far])
  assert np.asarray(ts.observation['planes'][0, 7, 0, enemy_units]) >= 1


def test_observation_columns_follow_the_layout(fns):
  """Each feature sits in the column `rules.UNIT` / `PLANE` / `SCALAR` names."""
  state, _ = fns[0](jax.random.key(5))
  _, step = fns
  # A melee unit of seat 0 at (x=3, y=2) sees an enemy worker two cells away (out of
  # both units' range: nobody fires).
  state = place(state, 0, 6, R.MELEE, 2 * 8 + 3)
  state = place(state, 1, 6, R.WORKER, 2 * 8 + 5, order=R.MOVE)
  state, ts = step(state, noop())
  obs = jax.tree.map(lambda x: np.asarray(x[0]), ts.observation)
  own, enemy = obs['units'][6], obs['enemies'][6]
  for row, kind in ((own, R.MELEE), (enemy, R.WORKER)):
    assert row[R.UNIT['alive']] == 1 and row[R.UNIT['hp']] == 1
    np.testing.assert_array_equal(row[R.UNIT['kind']], np.eye(R.NUM_KINDS)[kind])
  assert (own[R.UNIT['x']], own[R.UNIT['y']]) == (3 / 8, 2 / 8)
  assert enemy[R.UNIT['y']] == 2 / 8 and enemy[R.UNIT['x']] in (4 / 8, 5 / 8)
  np.testing.assert_array_equal(own[R.UNIT['order']], np.eye(6)[R.IDLE])
  assert not enemy[R.UNIT['order']].any()  # the enemy's orders stay hidden
  assert obs['planes'][2, 3, R.PLANE['own_units']] == 1
  assert obs['planes'][2, 3, R.PLANE['visible']] == 1
  assert obs['scalars'][R.SCALAR['seat']] == 0
  assert np.asarray(ts.observation['scalars'][1, R.SCALAR['seat']]) == 1


def random_legal(key, mask):
  """A uniformly random legal action per seat from the masks (numpy)."""
  rng = np.random.default_rng(int(jax.random.randint(key, (), 0, 1 << 30)))
  out = {h: np.zeros(2, np.int32) for h in HEADS}
  for p in range(2):
    f = rng.choice(np.flatnonzero(mask['function'][p]))
    out['function'][p] = f
    out['unit'][p] = rng.choice(np.flatnonzero(mask['unit'][p, f]))
    out['target'][p] = rng.choice(np.flatnonzero(mask['target'][p, f]))
    out['delay'][p] = rng.choice(np.flatnonzero(mask['delay'][p]))
  return out


@pytest.fixture(scope='module')
def random_game(fns):
  """60 ticks of random legal play: (actions, states, timesteps)."""
  reset, step = fns
  state, ts = reset(jax.random.key(6))
  actions, states = [], [state]
  for t in range(60):
    a = random_legal(jax.random.key(t), jax.device_get(ts.legal_action_mask))
    state, ts = step(state, a)
    actions.append(a)
    states.append(state)
  return actions, states


def test_masked_actions_are_legal_and_the_game_is_deterministic(fns, random_game):
  actions, states = random_game
  assert int(states[-1].illegal_actions.sum()) == 0
  reset, step = fns
  state, _ = reset(jax.random.key(6))
  for a in actions:
    state, _ = step(state, a)
  for x, y in zip(jax.tree.leaves(state), jax.tree.leaves(states[-1])):
    np.testing.assert_array_equal(x, y)


def test_illegal_actions_are_noops_counted_or_raised(env, fns):
  reset, step = fns
  state, _ = reset(jax.random.key(7))
  # Train a melee without a barracks: illegal.
  bad = act(function=R.F_TRAIN_MELEE, unit=0)
  after, _ = step(state, bad)
  assert after.illegal_actions.tolist() == [1, 0]
  assert int(after.bank[0]) == int(state.bank[0])  # nothing was paid
  np.testing.assert_array_equal(after.units.order, step(state, noop())[0].units.order)
  debug_env = game.Skirmish(8, debug=True)
  with pytest.raises(game.IllegalActionError, match="head 'function' = 7 .train_melee"):
    debug_env.step(state, bad)
  with pytest.raises(game.IllegalActionError, match='out of range'):
    debug_env.step(state, act(function=R.F_MOVE, unit=1, target=999))
  with pytest.raises(game.IllegalActionError, match='no_op ignores the unit: send 0'):
    debug_env.step(state, act(function=R.F_NOOP, unit=2))
  with pytest.raises(game.IllegalActionError, match='train_worker ignores the target'):
    debug_env.step(state, act(function=R.F_TRAIN_WORKER, unit=0, target=5))
  waiting, _ = step(state, act(function=R.F_NOOP, delay=4))
  with pytest.raises(game.IllegalActionError, match="'delay' = 2 while the seat is not due"):
    debug_env.step(waiting, act(function=R.F_NOOP, delay=2))


def test_not_due_seats_may_only_noop(fns):
  reset, step = fns
  state, _ = reset(jax.random.key(8))
  state, ts = step(state, act(function=R.F_NOOP, delay=4))  # next decision in 5 ticks
  mask = jax.device_get(ts.legal_action_mask)
  assert mask['function'][0, R.F_NOOP] and mask['function'][0].sum() == 1
  # Waiting carries no choice: no_op with unit 0, target 0 and delay 0 is the one
  # legal action (the delay of a seat that is not due is ignored).
  assert mask['unit'][0, R.F_NOOP].tolist() == [u == 0 for u in range(16)]
  assert np.flatnonzero(mask['target'][0, R.F_NOOP]).tolist() == [0]
  assert np.flatnonzero(mask['delay'][0]).tolist() == [0]
  assert float(ts.observation['scalars'][0, 5]) == 0.0  # 'due' scalar
  # Seat 1 is due: every delay, and still only unit 0 / target 0 for its no_op.
  assert mask['function'][1, R.F_TRAIN_WORKER] and mask['delay'][1].all()
  assert mask['unit'][1, R.F_NOOP].sum() == 1 and mask['target'][1, R.F_NOOP].sum() == 1
  # Functions that ignore the target allow only cell 0; the others keep their cells.
  for f in range(R.NUM_FUNCTIONS):
    assert (mask['target'][1, f].sum() == 1) == (not R.USES_TARGET[f]), f
  after, _ = step(state, act(function=R.F_NOOP, delay=3))  # not due: delay must be 0
  assert after.illegal_actions.tolist() == [1, 0]
  np.testing.assert_array_equal(after.next_due, step(state, noop())[0].next_due)
  state, ts = run(fns, state, noop(), 4)
  assert bool(ts.legal_action_mask['function'][0, R.F_TRAIN_WORKER])


def test_outcome_terminal_and_truncation(env, fns):
  reset, step = fns
  state, _ = reset(jax.random.key(9))
  # Seat 1's base dies: seat 0 wins.
  u = state.units
  state = state.replace(units=u.replace(hp=u.hp.at[1, 0].set(1)))
  state = place(state, 0, 5, R.MELEE, int(u.pos[1, 0]))
  state, ts = step(state, noop())
  assert bool(ts.is_terminal) and bool(ts.is_last)
  np.testing.assert_array_equal(ts.reward, [1.0, -1.0])
  assert float(ts.discount) == 0.0
  # A finished game does not move.
  again, ts2 = step(state, noop())
  np.testing.assert_array_equal(ts2.reward, [0.0, 0.0])
  assert int(again.tick) == int(state.tick) and bool(ts2.is_terminal)
  # Tick limit: truncation with reward 0.
  state, _ = reset(jax.random.key(9))
  state = state.replace(tick=jnp.int32(env.max_ticks - 1))
  state, ts = step(state, noop())
  assert bool(ts.is_last) and not bool(ts.is_terminal)
  np.testing.assert_array_equal(ts.reward, [0.0, 0.0])
  assert float(ts.discount) == 1.0


def test_vmapped_batch_equals_single_env(env, fns, random_game):
  actions, states = random_game
  reset, step = fns
  keys = jax.random.split(jax.random.key(10), 3)
  batch_reset = jax.jit(jax.vmap(env.reset))
  batch_state, batch_ts = batch_reset(keys)
  single_state, single_ts = reset(keys[1])
  a = {h: np.stack([actions[0][h]] * 3) for h in HEADS}
  batch_state, batch_ts = jax.jit(jax.vmap(env.step))(batch_state, a)
  single_state, single_ts = step(single_state, actions[0])
  for x, y in zip(jax.tree.leaves((batch_state, batch_ts)),
                  jax.tree.leaves((single_state, single_ts))):
    np.testing.assert_array_equal(np.asarray(x)[1], np.asarray(y))


def test_bad_input_errors(env, fns):
  state, _ = fns[0](jax.random.key(11))
  with pytest.raises(ValueError, match=r"keys \['function', 'unit', 'target', 'delay'\]"):
    env.step(state, {'function': np.zeros(2, np.int32)})
  bad = noop()
  bad['target'] = np.zeros(2, np.float32)
  with pytest.raises(ValueError, match=r"'target' must be an integer array of shape \[2\]"):
    env.step(state, bad)
  bad = noop()
  bad['unit'] = np.zeros(3, np.int32)
  with pytest.raises(ValueError, match=r'expected int32\[2\]\); got int32\[3\]'):
    env.step(state, bad)
  with pytest.raises(ValueError, match=r'known sizes: \[8, 16, 32\]'):
    game.Skirmish(12)
  with pytest.raises(KeyError, match='skirmish/16x16'):
    make('skirmish/12x12')
