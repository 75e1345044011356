"""One registry names every policy: bots, ladders, random, checkpoints, Python factories."""
import pytest

from offline_rl import environments
from offline_rl.evaluation import players
from offline_rl.learner import experiment


def test_pgx_bots_by_name_and_ladder():
  env = environments.make('pgx/connect_four')
  assert 'mcts-16' in players.bot_names(env)
  assert players.resolve_policy('mcts-8@900', env).rating == 900.0
  ladder = [p.policy_id for p in players.ladder(env)]
  assert ladder == [f'pgx/connect_four/mcts-{n}-rollout' for n in (4, 16, 64)]
  with pytest.raises(players.PolicyNameError, match='Bots of pgx/connect_four: random, mcts-4'):
    players.resolve_policy('alphazero', env)


def test_single_agent_adapters_have_no_ladder_but_a_random_policy():
  env = environments.make('gym/CartPole-v1')
  assert players.bot_names(env) == ['random']
  with pytest.raises(ValueError, match='no bot ladder'):
    players.ladder(env)


def test_one_syntax_for_every_family():
  env = environments.make('toy/corridor-v0', length=6, max_steps=20)
  assert players.parse('me=bot:corridor-bot-0.5@1200') == players.Name(
      'me', 'bot', 'corridor-bot-0.5', 1200.0)
  assert players.parse('corridor-bot-0.5').family == 'bot'
  assert players.parse('ladder') == players.Name(None, 'ladder', '', None)
  assert players.parse('offline_rl.environments.toy:bot(0.3)') == players.Name(
      None, 'python', 'offline_rl.environments.toy:bot(0.3)', None)
  policy = players.resolve_policy('weak=offline_rl.environments.toy:bot(0.3)@900', env)
  assert (policy.policy_id, policy.rating, float(policy.params)) == ('weak', 900.0,
                                                                    pytest.approx(0.3))
  assert players.resolve_policy('random', env).policy_id == 'random'
  assert len(players.resolve('ladder', env)) == len(players.CORRIDOR_SKILLS)
  for bad, reason in (('bot:', 'not a policy name'), ('zerg:x', 'not a policy name'),
                      ('rush-3', 'corridor-bot-SKILL'), ('x@high', 'must be a number'),
                      ('python:os:getcwd', 'not an offline_rl.types.Policy')):
    with pytest.raises(players.PolicyNameError, match=reason):
      players.resolve_policy(bad, env)
  with pytest.raises(players.PolicyNameError, match='names 5 policies'):
    players.resolve_policy('ladder', env)


def test_training_opponents_are_read_by_the_registry():
  env = environments.make('skirmish/8x8')
  assert experiment.resolve_opponent('rush-3', env).policy_id == 'bot/rush-3'
  # The older module:factory(args) form needs no environment.
  assert experiment.resolve_opponent('offline_rl.environments.toy:bot(0.3)').policy_id == (
      'corridor-bot-0.3')
  with pytest.raises(players.PolicyNameError, match='none was given'):
    experiment.resolve_opponent('rush-3')
