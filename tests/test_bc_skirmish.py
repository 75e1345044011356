"""BC on recorded Skirmish games beats a weak bot (slow: minutes on 2 cores)."""
import jax
import pytest

from offline_rl import agents
from offline_rl import data
from offline_rl import datasets
from offline_rl import learner
from offline_rl.environments import make


@pytest.mark.slow
def test_bc_on_skirmish_beats_the_random_bot(tmp_path):
  from offline_rl.environments.skirmish import bots  # pylint: disable=g-import-not-at-top
  env = make('skirmish/8x8')
  strong, weak = bots.bot('rush-5', env), bots.bot('random', env)
  path = str(tmp_path / 'skirmish')
  datasets.record(env, [(strong, weak), (weak, strong)], path, num_episodes=64,
                  num_envs=32, progress=False, log=None)
  iterator = data.make_iterator(path, batch_size=64, unroll_length=1,
                                validation_fraction=0.0,
                                filters=f'policy_id=={strong.policy_id}')
  config = agents.default_config('bc')
  config.update(num_steps=1000, updates_per_call=50, log_every=250, batch_size=64)
  config.network.update(mlp_sizes=(64, 64), conv_channels=(16,), entity_width=32)
  config.optimizer.learning_rate = 1e-3
  agent = agents.make('bc', env.spec, config)
  run = learner.Learner(agent, iterator, config, str(tmp_path / 'run'), progress=False)
  run.train()
  rows = learner.read_metrics(str(tmp_path / 'run'))
  assert rows[-1]['loss'] < rows[0]['loss']
  trained = learner.evaluate(env, learner.load_policy(str(tmp_path / 'run')), [weak], 64)
  untrained = learner.evaluate(
      env, agent.make_policy(agent.init(jax.random.PRNGKey(1))), [weak], 64)
  assert trained['win_rate'] >= 0.7, trained
  assert trained['win_rate'] > untrained['win_rate'] + 0.2, (trained, untrained)
