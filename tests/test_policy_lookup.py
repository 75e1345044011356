"""Bots of adapted games are found by name by the recorder and by the tournament."""
import pytest

from offline_rl import datasets
from offline_rl import environments
from offline_rl.evaluation import players


def test_pgx_bots_by_name_and_ladder():
  env = environments.make('pgx/connect_four')
  assert 'mcts-16' in datasets.policy_names(env)
  assert datasets.resolve_policy(env, 'mcts-8@900').rating == 900.0
  ladder = [p.policy_id for p in players.ladder(env)]
  assert ladder == [f'pgx/connect_four/mcts-{n}-rollout' for n in (4, 16, 64)]
  with pytest.raises(KeyError, match='known'):
    datasets.resolve_policy(env, 'alphazero')


def test_single_agent_adapters_have_no_ladder_but_a_random_policy():
  env = environments.make('gym/CartPole-v1')
  assert datasets.policy_names(env) == ['random']
  with pytest.raises(ValueError, match='no bot ladder'):
    players.ladder(env)
