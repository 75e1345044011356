"""MZS-MCTS against MZS without search, head to head, on two-player Corridor, pgx
connect_four or Skirmish 8x8.

  .venv/bin/python experiments/muzero_head_to_head.py --env=corridor [--games=200]
  .venv/bin/python experiments/muzero_head_to_head.py --env=connect_four \\
      --simulations 16 64 [--behaviour random bot:mcts-16] [--unroll-steps=8] \\
      [--mlp-sizes 256 256] [--validation-fraction=0.1] [--workdir=runs/c4] \\
      [--search-depth=1]
  .venv/bin/python experiments/muzero_head_to_head.py --env=skirmish \\
      --dataset=runs/demo/data/dataset --samples=8 --simulations 8 32 \\
      [--values raw] [--prior-greedy] [--unroll-length=16 --lambda=0.95]
  .venv/bin/python experiments/muzero_head_to_head.py --env=skirmish \\
      --run=runs/mzs --samples=8 --simulations 8 32 --values raw

Corridor and connect_four: records a dataset of weak players (Corridor: skill-0.3
bots, right with probability 0.3, else uniform among the legal moves; connect_four:
uniformly random legal moves, or with `--behaviour` every ordered pair of the named
players, e.g. `random bot:mcts-16` for random players mixed with pgx search bots, so
that the value sees tactics); the search can only win by the model's look-ahead, as
the prior is BC of the behaviour players. Skirmish: reads a recorded dataset (`--dataset`,
e.g. the demo's ladder games) and searches over `--samples` joint actions sampled
from the prior (Sampled MuZero: the action has four heads; one count for every
budget, or one per budget). Then trains MZS once
(or, with `--run`, loads a trained MZS run, e.g. `offline-rl train`'s with the demo's
network, instead of recording and training),
plays the same params with Gumbel search (at each budget of `--simulations`) against
the prior alone (sampling), and each budget against the next smaller one (with
`--values rescaled raw`: each budget's search with Q-values in return units against
the rescaled one; with `--prior-greedy` also the prior's argmax against the sampled
prior), seats alternating; prints the first player's score (win 1, draw 0.5) with its 95%
bootstrap interval over games. `--workdir` keeps the dataset and the trained run
(play it again with `--run=WORKDIR/mzs`); `--validation-fraction` holds episodes out
and prints the model's value and reward errors on them.
"""
from __future__ import annotations

import argparse
import itertools
import os
import tempfile

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from offline_rl import agents  # pylint: disable=g-import-not-at-top
from offline_rl import data
from offline_rl import datasets
from offline_rl import errors
from offline_rl import learner
from offline_rl import policies
from offline_rl.environments import make
from offline_rl.environments import toy
from offline_rl.evaluation import matches
from offline_rl.evaluation import players as players_lib
from offline_rl.learner import policies as learner_policies
from offline_rl.ratings import scores

# The model's network per game: a small MLP model for the toy games; for Skirmish
# the platform's torso at its smallest (one conv layer, one entity layer) under a
# 64-wide embedding, so that training and the batched search fit a 2-core machine.
# connect_four's conv torso keeps every cell of the 6x7 board: strided to 3x4 (the
# torso's default), the model did not see immediate wins (docs/agents.md).
NETWORKS = {
    'corridor': dict(mlp_sizes=(64, 64), value_hidden=(64,)),
    'connect_four': dict(mlp_sizes=(64, 64), value_hidden=(64,),
                         conv_downsample_above=6),
    'skirmish': dict(mlp_sizes=(64,), value_hidden=(64,), conv_channels=(8,),
                     entity_width=16, entity_layers=1),
}


def environment(name: str, behaviour: list[str] | None):
  """(env, the matchups of the recorded games, or None where a dataset is read) of
  `--env`: every ordered pair of the `--behaviour` players, or the default pair."""
  if name == 'corridor':
    return (make('toy/corridor-v0', length=6, max_steps=30),
            [(toy.bot(0.3, 800.0), toy.bot(0.3, 800.0))])
  if name == 'skirmish':
    return make('skirmish/8x8'), None
  env = make('pgx/connect_four')
  if behaviour is None:
    return env, [(policies.random_policy(env.spec),) * 2]
  named = [players_lib.resolve_policy(text, env) for text in behaviour]
  return env, list(itertools.product(named, repeat=2))


def parse_args():
  parser = argparse.ArgumentParser()
  parser.add_argument('--env', choices=tuple(NETWORKS), default='corridor')
  parser.add_argument('--dataset', default=None,
                      help='skirmish: the recorded dataset to train on')
  parser.add_argument('--run', default=None,
                      help='a trained mzs run (or checkpoint) of --env to play '
                      'instead of training one')
  parser.add_argument('--games', type=int, default=200)
  parser.add_argument('--steps', type=int, default=800)
  parser.add_argument('--episodes', type=int, default=512,
                      help='episodes recorded (corridor, connect_four)')
  parser.add_argument('--simulations', type=int, nargs='+', default=[4, 32])
  parser.add_argument('--behaviour', nargs='+', default=None,
                      help='connect_four: the recorded players, as offline-rl names '
                      "them (e.g. random bot:mcts-16); every ordered pair plays "
                      'an equal share of the games (default: random players only)')
  parser.add_argument('--unroll-length', type=int, default=8,
                      help='T, the steps of a training window')
  parser.add_argument('--unroll-steps', type=int, default=None,
                      help="K, the model's unroll and the search's depth (default: "
                      "the config's); at most T, as targets come from the window")
  parser.add_argument('--mlp-sizes', type=int, nargs='+', default=None,
                      help="the model's MLP layers (the last also the value head's "
                      'hidden width; default: NETWORKS of --env)')
  parser.add_argument('--conv-downsample-above', type=int, default=None,
                      help="the conv torso halves the board while its smaller side "
                      'is above this (default: NETWORKS of --env, else the '
                      "config's 4; 4 strides connect_four's 6x7 board to 3x4)")
  parser.add_argument('--validation-fraction', type=float, default=0.0,
                      help='share of the recorded episodes held out; the value and '
                      'reward errors on them are printed after training')
  parser.add_argument('--workdir', default=None,
                      help='a new directory for the dataset and the trained run '
                      '(default: a temporary one)')
  parser.add_argument('--lambda', dest='lambda_', type=float, default=None,
                      help="the value's TD(λ) trace (default: the config's)")
  parser.add_argument('--value-weight', type=float, default=None,
                      help="the value term's weight (default: the config's)")
  parser.add_argument('--reward-weight', type=float, default=None,
                      help="the reward term's weight (default: the config's)")
  parser.add_argument('--discount-weight', type=float, default=None,
                      help="the discount term's weight (default: the config's)")
  parser.add_argument('--samples', type=int, nargs='+', default=[0],
                      help='joint actions sampled per node (0: the whole action set); '
                      'one value for every budget, or one per --simulations')
  parser.add_argument('--values', nargs='+', choices=('rescaled', 'raw'),
                      default=['rescaled'],
                      help="the search's Q-values: min-max rescaled (mctx's default) "
                      'or in return units; each budget plays with each')
  parser.add_argument('--value-scale', type=float, default=0.1,
                      help="the search's weight of Q-values against the prior "
                      "logits (mctx's value_scale)")
  parser.add_argument('--search-depth', type=int, default=0,
                      help="the search's deepest node in model steps (0: the unroll K)")
  parser.add_argument('--rating', type=float, default=None,
                      help="the rating both players condition on (default: the "
                      "config's rating offset)")
  parser.add_argument('--prior-greedy', action='store_true',
                      help="also play the prior's argmax against the sampled prior, "
                      "to tell a search's gain from playing greedily")
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  if args.run is not None and args.dataset is not None:
    raise errors.ConfigError('--run plays a trained run: drop --dataset.')
  if args.run is None and (args.env == 'skirmish') != (args.dataset is not None):
    raise errors.ConfigError('--dataset is needed for --env=skirmish, and only there '
                             '(corridor and connect_four record their own).')
  if len(args.samples) not in (1, len(args.simulations)):
    raise errors.ConfigError(f'--samples takes one value or one per --simulations '
                             f'({len(args.simulations)}), got {len(args.samples)}.')
  args.samples = dict(zip(args.simulations, args.samples * len(args.simulations)
                          if len(args.samples) == 1 else args.samples))
  if args.env == 'skirmish' and min(args.samples.values()) < 1:
    raise errors.ConfigError("Skirmish's action has four heads: set --samples >= 1.")
  if args.behaviour is not None and args.env != 'connect_four':
    raise errors.ConfigError('--behaviour names the recorded players of connect_four '
                             'only.')
  if args.unroll_steps is not None and not 1 <= args.unroll_steps <= args.unroll_length:
    raise errors.ConfigError(f'--unroll-steps={args.unroll_steps} must lie in [1, '
                             f'--unroll-length={args.unroll_length}]: an unroll step '
                             "past the window's end has no targets.")
  if not 0.0 <= args.validation_fraction < 1.0:
    raise errors.ConfigError(f'--validation-fraction={args.validation_fraction} must '
                             'lie in [0, 1).')
  if args.workdir is not None and os.path.exists(args.workdir):
    raise errors.ConfigError(f'--workdir={args.workdir} exists; give a new directory '
                             '(play its trained run again with --run=WORKDIR/mzs).')
  return args


def train(args, env, matchups):
  """(agent, params) of MZS trained once on `--dataset` or on recorded games."""
  tmp = args.workdir or tempfile.mkdtemp()
  dataset = args.dataset
  if matchups is not None:
    dataset = os.path.join(tmp, args.env)
    datasets.record(env, matchups, dataset, num_episodes=args.episodes,
                    num_envs=64, seed=args.seed, progress=False, log=None)
  config = agents.default_config('mzs')
  config.network.update(NETWORKS[args.env])
  if args.mlp_sizes:
    config.network.update(mlp_sizes=tuple(args.mlp_sizes),
                          value_hidden=(args.mlp_sizes[-1],))
  if args.conv_downsample_above is not None:
    config.network.conv_downsample_above = args.conv_downsample_above
  config.optimizer.learning_rate = 1e-3
  config.update(batch_size=64, num_steps=args.steps, updates_per_call=100,
                log_every=100, checkpoint_every=0, seed=args.seed,
                unroll_length=args.unroll_length)
  for field, value in (('lambda_', args.lambda_), ('value_weight', args.value_weight),
                       ('reward_weight', args.reward_weight),
                       ('discount_weight', args.discount_weight),
                       ('unroll_steps', args.unroll_steps)):
    if value is not None:
      config.muzero[field] = value
  split = dict(batch_size=64, unroll_length=args.unroll_length,
               validation_fraction=args.validation_fraction)
  windows = data.make_iterator(dataset, **split)
  held_out = (data.make_iterator(dataset, split='validation', **split)
              if args.validation_fraction else None)
  agent = agents.make('mzs', windows.spec, config)
  run = learner.Learner(agent, windows, config, os.path.join(tmp, 'mzs'),
                        validation=held_out, progress=False, tensorboard=False)
  run.train()
  print(f'trained in {run.workdir}', flush=True)
  shown = ('unroll_0', 'unroll_1', f'unroll_{config.muzero.unroll_steps}')
  print({k: round(float(v), 4) for k, v in learner.read_metrics(run.workdir)[-1].items()
         if k.split('/')[0].removeprefix('validation_') in shown}, flush=True)
  return agent, run.params


def main():
  args = parse_args()
  env, matchups = environment(args.env, args.behaviour)
  if args.run is None:
    agent, params = train(args, env, matchups)
  else:
    agent, params, _ = learner_policies.load_agent(args.run)
    if agent.config.agent != 'mzs':
      raise errors.ConfigError(f'--run={args.run} is a {agent.config.agent!r} run; '
                               'play an mzs run.')
  config = agent.config
  players = {'MZS': agent.make_policy(params, greedy=False, rating=args.rating)}
  for simulations in args.simulations:
    for values in args.values:
      planner_config = config.copy_and_resolve_references()
      planner_config.agent = 'mzs_mcts'
      planner_config.muzero.update(num_simulations=simulations,
                                   num_samples=args.samples[simulations],
                                   rescale_values=values == 'rescaled',
                                   value_scale=args.value_scale,
                                   search_depth=args.search_depth)
      planner = agents.make('mzs_mcts', agent.spec, planner_config).make_policy(
          params, greedy=False, rating=args.rating)
      suffix = '' if values == 'rescaled' else '-raw'
      players[f'MZS-MCTS-{simulations}{suffix}'] = planner._replace(
          policy_id=f'mzs_mcts-{simulations}{suffix}')
  names = list(players)
  pairs = ([(name, 'MZS') for name in names[1:]]
           + [(larger, smaller) for smaller, larger in zip(names[1:], names[2:])])
  if args.prior_greedy:
    players['MZS-greedy'] = agent.make_policy(params, greedy=True,
                                              rating=args.rating)._replace(
                                                  policy_id='mzs-greedy')
    pairs.insert(0, ('MZS-greedy', 'MZS'))
  for first, second in pairs:
    results = matches.play(env, [players[first], players[second]], seed=args.seed,
                           num_games=args.games)
    score = scores.mean_ci(matches.outcome(results))
    print(f'{args.env}: {first} vs {second}, {args.games} games, seed {args.seed}: '
          f'score {score.value:.3f} [{score.lower:.3f}, {score.upper:.3f}]', flush=True)


if __name__ == '__main__':
  main()
