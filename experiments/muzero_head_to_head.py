"""MZS-MCTS against MZS without search, head to head, on two-player Corridor or pgx
connect_four.

  .venv/bin/python experiments/muzero_head_to_head.py --env=corridor [--games=200]
  .venv/bin/python experiments/muzero_head_to_head.py --env=connect_four \\
      --simulations 16 64

Records a dataset of weak players (Corridor: skill-0.3 bots, right with probability
0.3, else uniform among the legal moves; connect_four: uniformly random legal
moves), trains MZS on it once, then plays the same params with Gumbel search over
the whole action set (at two budgets) against the prior alone (sampling), and the
larger budget against the smaller, seats alternating; prints the first player's
score (win 1, draw 0.5) with its 95% bootstrap interval over games. The search can
only win by the model's look-ahead: the prior is BC of the weak players.
"""
from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from offline_rl import agents  # pylint: disable=g-import-not-at-top
from offline_rl import data
from offline_rl import datasets
from offline_rl import learner
from offline_rl import policies
from offline_rl.environments import make
from offline_rl.environments import toy
from offline_rl.evaluation import matches
from offline_rl.ratings import scores


def environment(name: str):
  """(env, its behaviour players) of `--env`."""
  if name == 'corridor':
    return (make('toy/corridor-v0', length=6, max_steps=30),
            (toy.bot(0.3, 800.0), toy.bot(0.3, 800.0)))
  env = make('pgx/connect_four')
  return env, (policies.random_policy(env.spec),) * 2


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--env', choices=('corridor', 'connect_four'), default='corridor')
  parser.add_argument('--games', type=int, default=200)
  parser.add_argument('--steps', type=int, default=800)
  parser.add_argument('--episodes', type=int, default=512)
  parser.add_argument('--simulations', type=int, nargs='+', default=[4, 32])
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  tmp = tempfile.mkdtemp()
  env, behaviour = environment(args.env)
  dataset = os.path.join(tmp, args.env)
  datasets.record(env, [behaviour], dataset, num_episodes=args.episodes, num_envs=64,
                  seed=args.seed, progress=False, log=None)
  config = agents.default_config('mzs')
  config.network.update(mlp_sizes=(64, 64), value_hidden=(64,))
  config.optimizer.learning_rate = 1e-3
  config.update(batch_size=64, num_steps=args.steps, updates_per_call=100,
                log_every=100, checkpoint_every=0, seed=args.seed)
  windows = data.make_iterator(dataset, batch_size=64, unroll_length=8,
                               validation_fraction=0.0)
  agent = agents.make('mzs', windows.spec, config)
  run = learner.Learner(agent, windows, config, os.path.join(tmp, 'mzs'),
                        progress=False, tensorboard=False)
  run.train()
  players = {'MZS': agent.make_policy(run.params, greedy=False)}
  for simulations in args.simulations:
    planner_config = config.copy_and_resolve_references()
    planner_config.agent = 'mzs_mcts'
    planner_config.muzero.update(num_simulations=simulations, num_samples=0)
    planner = agents.make('mzs_mcts', windows.spec, planner_config).make_policy(
        run.params, greedy=False)
    players[f'MZS-MCTS-{simulations}'] = planner._replace(
        policy_id=f'mzs_mcts-{simulations}')
  names = list(players)
  pairs = [(name, 'MZS') for name in names[1:]] + [(names[-1], names[1])]
  for first, second in pairs:
    results = matches.play(env, [players[first], players[second]], seed=args.seed,
                           num_games=args.games)
    score = scores.mean_ci(matches.outcome(results))
    print(f'{args.env}: {first} vs {second}, {args.games} games, seed {args.seed}: '
          f'score {score.value:.3f} [{score.lower:.3f}, {score.upper:.3f}]', flush=True)


if __name__ == '__main__':
  main()
