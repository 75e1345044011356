"""pgx adapter (JAX-native, jit + vmap) and the mctx search bots."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from offline_rl import rollout
from offline_rl.environments import adapters
from offline_rl.environments import make


@pytest.fixture(scope='module')
def connect_four():
  return make('pgx/connect_four')


def test_connect_four_spec_and_conformance(connect_four):
  spec = connect_four.spec
  assert connect_four.jittable and spec.num_players == 2
  assert spec.observation['observation'].shape == (6, 7, 2)
  assert spec.action['action'].num_values == 7 and spec.max_episode_steps == 42
  report = adapters.check(connect_four, num_envs=3, num_steps=50)
  assert report.num_episodes >= 3


def test_only_the_seat_to_move_acts(connect_four):
  state, ts = jax.jit(connect_four.reset)(jax.random.key(0))
  mover = int(np.argmax(ts.observation['to_play']))
  np.testing.assert_array_equal(ts.legal_action_mask['action'][1 - mover], np.eye(7)[0])
  action = jnp.zeros(2, jnp.int32).at[mover].set(3).at[1 - mover].set(5)
  state, ts = jax.jit(connect_four.step)(state, {'action': action})
  planes = np.asarray(ts.observation['observation'])  # [P, 6, 7, 2], own pieces first.
  assert planes[mover, 5, 3, 0] and planes[1 - mover, 5, 3, 1] and planes.sum() == 2
  assert ts.observation['to_play'][1 - mover] == 1


def test_othello_conforms():
  adapters.check(make('pgx/othello'), num_envs=2, num_steps=12)


@pytest.mark.slow
def test_go_9x9_conforms():
  env = make('pgx/go_9x9')
  assert env.spec.observation['observation'].shape == (9, 9, 17)
  adapters.check(env, num_envs=2, num_steps=170)


def test_go_9x9_spec():
  env = make('pgx/go_9x9')
  assert env.spec.action['action'].num_values == 82 and env.spec.max_episode_steps == 162


@pytest.fixture(scope='module')
def ttt_search_games():
  """Search bot (8 simulations, rollout value) vs uniform random on tic_tac_toe."""
  env = make('pgx/tic_tac_toe')
  bot = adapters.search_bot(env, num_simulations=8)
  random = adapters.random_policy(env.spec)
  seats = [bot, random]
  state = rollout.init(env, seats, jax.random.key(0), num_envs=16)
  run = rollout.make_run(env, seats, num_steps=20)
  state, steps = run(tuple(p.params for p in seats), state)
  return state, jax.device_get(steps)


def test_search_bot_follows_the_game_and_plays_legal_moves(ttt_search_games):
  state, steps = ttt_search_games
  assert np.all(np.asarray(state.policy_state[0].tracking_ok))
  ts = steps.timestep
  moves = steps.action['action'][:, :, 0]
  mask = ts.legal_action_mask['action'][:, :, 0]
  assert np.take_along_axis(mask, moves[..., None], -1).all()
  waiting = (ts.observation['to_play'][:, :, 0] == 0) & ~ts.is_last
  assert np.all(moves[waiting] == adapters.WAITING_ACTION)


def test_search_bot_beats_random(ttt_search_games):
  _, steps = ttt_search_games
  ts = steps.timestep
  outcomes = ts.reward[:, :, 0][ts.is_last]
  assert len(outcomes) >= 16
  assert (outcomes > 0).sum() > 3 * (outcomes < 0).sum()


def test_search_bot_rejects_bad_knobs_and_games():
  env = make('pgx/tic_tac_toe')
  with pytest.raises(ValueError, match="'zero' or 'rollout'"):
    adapters.search_bot(env, value='heuristic')
  with pytest.raises(ValueError, match='num_simulations'):
    adapters.search_bot(env, num_simulations=0)
  with pytest.raises(ValueError, match='deterministic two-player'):
    adapters.search_bot(make('pgx/backgammon'))


def test_search_params_static_fields_are_not_traced():
  params = adapters.SearchParams(num_simulations=4, value='zero', temperature=jnp.float32(1))
  leaves = jax.tree.leaves(params)
  assert len(leaves) == 2  # temperature and dirichlet_fraction only.
