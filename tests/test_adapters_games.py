"""PettingZoo and OpenSpiel adapters: turn-based convention, simultaneous moves,
chance, imperfect information, and OpenSpiel's MCTS bots."""
import jax
import numpy as np
import pytest

from offline_rl import rollout
from offline_rl.environments import adapters
from offline_rl.environments import make


@pytest.fixture(scope='module')
def pz_connect_four():
  return make('pettingzoo/classic/connect_four_v3', debug=True)


def test_pettingzoo_aec_turn_based_convention(pz_connect_four):
  env = pz_connect_four
  spec = env.spec
  assert spec.num_players == 2 and set(spec.observation) == {'observation', 'to_play'}
  assert spec.observation['observation'].shape == (6, 7, 2)  # action_mask moved out.
  ts = env.reset_batch(seed=0, num_envs=2)
  np.testing.assert_array_equal(ts.observation['to_play'], [[1, 0], [1, 0]])
  assert ts.legal_action_mask['action'][0, 0].all()
  np.testing.assert_array_equal(ts.legal_action_mask['action'][0, 1], np.eye(7)[0])
  # Seat 0 drops in column 3; seat 1's action (6) is ignored.
  ts = env.step_batch({'action': np.array([[3, 6], [3, 6]])})
  np.testing.assert_array_equal(ts.observation['to_play'][0], [0, 1])
  board = ts.observation['observation'][0]  # [P, 6, 7, 2], each from its own view.
  assert board[0, 5, 3, 0] == 1 and board[1, 5, 3, 1] == 1 and board.sum() == 2
  adapters.check(env, num_envs=2, num_steps=50)


def test_pettingzoo_aec_win_rewards_both_seats(pz_connect_four):
  env = pz_connect_four
  env.reset_batch(seed=0, num_envs=1)
  for column in (0, 1, 0, 1, 0, 1):
    ts = env.step_batch({'action': np.array([[column, column]])})
    assert not ts.is_last[0]
  ts = env.step_batch({'action': np.array([[0, 0]])})  # Seat 0: four in column 0.
  assert ts.is_last[0] and ts.is_terminal[0] and ts.discount[0] == 0
  np.testing.assert_array_equal(ts.reward[0], [1, -1])
  assert ts.legal_action_mask['action'][0].all()  # No action follows: all-True.
  ts = env.step_batch({'action': np.array([[0, 0]])})
  assert ts.is_first[0] and not ts.reward.any()


def test_pettingzoo_parallel_simultaneous_moves():
  env = make('pettingzoo/classic/rps_v2', api='parallel', num_actions=3, max_cycles=4)
  assert 'to_play' not in env.spec.observation
  ts = env.reset_batch(seed=0, num_envs=2)
  ts = env.step_batch({'action': np.array([[0, 2], [1, 1]])})  # rock-scissors, tie.
  np.testing.assert_array_equal(ts.reward, [[1, -1], [0, 0]])
  report = adapters.check(env, num_envs=2, num_steps=20)
  assert report.num_episodes >= 4


def test_pettingzoo_aec_needs_a_discrete_action():
  with pytest.raises(ValueError, match="api='aec'"):
    make('pettingzoo/classic/connect_four_v3', api='parallel')


@pytest.mark.parametrize('game', ['connect_four', 'phantom_ttt', 'goofspiel', 'kuhn_poker'])
def test_openspiel_games_conform(game):
  env = make(f'openspiel/{game}')
  report = adapters.check(env, num_envs=2, num_steps=30)
  assert report.num_episodes >= 1


def test_openspiel_imperfect_information_hides_the_opponent():
  env = make('openspiel/phantom_ttt')
  env.reset_batch(seed=0, num_envs=1)
  ts = env.step_batch({'action': np.array([[4, 0]])})  # Seat 0 takes the centre.
  seat0, seat1 = ts.observation['observation'][0]
  assert not np.array_equal(seat0, seat1)
  # Seat 1's view is unchanged by seat 0's move: it equals a fresh board.
  fresh = env.reset_batch(seed=0, num_envs=1).observation['observation'][0, 1]
  np.testing.assert_array_equal(seat1, fresh)


def test_openspiel_simultaneous_node_has_every_seat_to_play():
  env = make('openspiel/goofspiel')
  ts = env.reset_batch(seed=0, num_envs=1)
  np.testing.assert_array_equal(ts.observation['to_play'][0], [1, 1])
  assert ts.legal_action_mask['action'][0].sum(-1).min() > 1


def test_openspiel_rejects_illegal_moves_and_unknown_games():
  env = make('openspiel/tic_tac_toe')
  env.reset_batch(seed=0, num_envs=1)
  env.step_batch({'action': np.array([[4, 0]])})
  with pytest.raises(ValueError, match='illegal action 4'):
    env.step_batch({'action': np.array([[0, 4]])})
  with pytest.raises(KeyError, match='cannot load game'):
    make('openspiel/tic_tac_tow')


@pytest.fixture(scope='module')
def ttt_bot_games():
  """OpenSpiel MCTS (64 simulations) against uniform random, 8 games, fixed seed."""
  env = make('openspiel/tic_tac_toe')
  bot = adapters.mcts_bot(env, num_simulations=64)
  random = adapters.random_policy(env.spec)
  results = []
  for seats in ([bot, random], [random, bot]):
    state = rollout.init(env, seats, jax.random.key(0), num_envs=4)
    run = rollout.make_run(env, seats, num_steps=20)
    _, steps = run(tuple(p.params for p in seats), state)
    results.append(steps)
  return results


def test_openspiel_mcts_bot_plays_legal_moves_and_beats_random(ttt_bot_games):
  bot_returns = []
  for bot_seat, steps in enumerate(ttt_bot_games):
    ts = steps.timestep
    to_play = np.asarray(ts.observation['to_play'][:, :, bot_seat]) > 0
    moves = np.asarray(steps.action['action'][:, :, bot_seat])
    mask = np.asarray(ts.legal_action_mask['action'][:, :, bot_seat])
    assert np.take_along_axis(mask, moves[..., None], -1).all()
    assert np.all(moves[~to_play & ~np.asarray(ts.is_last)] == adapters.WAITING_ACTION)
    bot_returns += list(np.asarray(ts.reward[:, :, bot_seat])[np.asarray(ts.is_last)])
  assert len(bot_returns) >= 8
  assert min(bot_returns) >= 0 or np.mean(bot_returns) > 0.5
  assert sum(r > 0 for r in bot_returns) > sum(r < 0 for r in bot_returns)


def test_openspiel_mcts_bot_needs_perfect_information():
  with pytest.raises(ValueError, match='perfect-information.*phantom_ttt'):
    adapters.mcts_bot(make('openspiel/phantom_ttt'))


def test_pettingzoo_step_limit_truncates():
  env = make('pettingzoo/classic/connect_four_v3', max_episode_steps=3)
  assert env.spec.max_episode_steps == 3 and env.spec.params['max_episode_steps'] == 3
  env.reset_batch(seed=0, num_envs=1)
  flags = [env.step_batch({'action': np.array([[c, c]])}) for c in (0, 1, 2, 3)]
  np.testing.assert_array_equal([f.is_last[0] for f in flags], [0, 0, 1, 0])
  assert not flags[2].is_terminal[0] and flags[2].discount[0] == 1
  assert flags[3].is_first[0]
  report = adapters.check(env, num_envs=2, num_steps=10)
  assert not report.notes  # A limit is known.
  assert 'max_episode_steps is 0' in adapters.check(
      make('pettingzoo/classic/connect_four_v3'), num_envs=1, num_steps=5).notes[0]


def test_pettingzoo_debug_mode_reports_wrong_dtype():
  from pettingzoo.classic import connect_four_v3
  from pettingzoo.utils import BaseWrapper

  class FloatBoard(BaseWrapper):
    def observe(self, agent):
      raw = dict(super().observe(agent))
      raw['observation'] = raw['observation'].astype(np.float32)
      return raw

  env = adapters.PettingZooEnv(lambda: FloatBoard(connect_four_v3.env()), env_id='mine/c4',
                               debug=True)
  with pytest.raises(adapters.SpaceViolation,
                     match=r'observation\[player_0\]/observation: expected dtype int8'):
    env.reset_batch(seed=0, num_envs=1)
