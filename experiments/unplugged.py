"""The Unplugged recipe at laptop scale: `make demo` = `offline-rl demo` on these defaults.

  offline-rl demo                                         # 'small': one seed, <= 10 min
  offline-rl demo --config=experiments/unplugged.py:tiny  # seconds to minutes (tests)
  offline-rl demo --config=experiments/unplugged.py:table # the README's table: 3 seeds
  offline-rl demo --config=experiments/unplugged.py:full  # hours on CPU, or a GPU
  offline-rl demo --config.seeds='(0,1,2)' --config.workdir=runs/mine   # any field

Every scale is the same recipe; a scale changes sizes (games, updates, seeds) only.
Stages (each reused when re-run with the same settings):
  1. record a skill-stratified Skirmish dataset: the calibrated bot ladder plays itself
     (each bot against its neighbours on the ladder and against itself), so episodes
     span the ladder's ratings like human replays span MMR;
  2. train every agent in `agents`, in order, once per training seed in `seeds`: BC on
     all of it; FT-BC continues BC on the top-rated part; OAC and E-OAC start from BC
     and distil towards it (frozen); MZS; MZS-MCTS plays MZS's params with search;
     IQL and CQL as references;
  3. a tournament: the bots among themselves, every agent (each seed) against every
     bot, and the pairs of `report.comparisons` head to head, seed against seed;
  4. the report under `<workdir>/report/`: Elo with intervals, each agent's spread
     across seeds, the comparisons, the goals met or missed, plots, an HTML page, and
     `table.md` (the README's table).

Adding an agent is configuration only: append an entry to `agents`:
  name:        the agent's name in the report; each training seed plays as NAME/sSEED;
  config:      'experiments/<file>.py:<name>', the training config (its defaults);
  overrides:   fields of that config to change (dataset and seed are set by the recipe);
  init_from:   the name of an earlier agent whose run (same seed) warm-starts this one;
  teacher:     the name of an earlier agent distilled towards, frozen ('' none): the
               behaviour policy of OAC and E-OAC;
  params_from: the name of an earlier agent whose trained params this one plays with
               (its config then only changes how it acts: MZS-MCTS searches with
               MZS's network); no training of its own;
  top_fraction: train only on episodes of the top fraction of the ladder (0: all);
  checkpoint:  instead of training, an existing run directory to load (one seed).
"""
from ml_collections import config_dict

VARIANTS = ('small', 'tiny', 'table', 'full')


def _agent(name, config, overrides, init_from='', teacher='', params_from='',
           top_fraction=0.0, checkpoint=''):
  return config_dict.ConfigDict(dict(
      name=name, config=config, overrides=config_dict.ConfigDict(overrides),
      init_from=init_from, teacher=teacher, params_from=params_from,
      top_fraction=top_fraction, checkpoint=checkpoint))


def _agents(network, bc_steps: int, value_steps: int, mzs_steps: int,
            common: dict) -> list:
  """Every agent of the paper and the two references, from their own configs: the
  overrides set sizes only (network, steps), so changes to an agent's config flow in."""
  train = dict(common, network=config_dict.ConfigDict(network))
  # Value agents and MZS read windows of 8 steps, so a batch of 32 windows holds twice
  # BC's 128 steps; their other settings are their configs'.
  windows = dict(train, batch_size=32)
  mzs = dict(windows, num_steps=mzs_steps,
             network=config_dict.ConfigDict(dict(network, value_hidden=(64,))))
  return [
      _agent('bc', 'experiments/bc.py:bc', dict(train, num_steps=bc_steps)),
      _agent('ftbc', 'experiments/bc.py:ftbc', dict(train, num_steps=bc_steps // 3),
             init_from='bc', top_fraction=0.5),
      _agent('oac', 'experiments/oac.py:oac', dict(windows, num_steps=value_steps),
             init_from='bc', teacher='bc'),
      _agent('eoac', 'experiments/oac.py:eoac', dict(windows, num_steps=value_steps),
             init_from='bc', teacher='bc'),
      _agent('mzs', 'experiments/muzero.py:mzs', mzs),
      _agent('mzs_mcts', 'experiments/muzero.py:mzs_mcts', mzs, params_from='mzs'),
      # IQL and CQL start from BC with a KL to it, as OAC does: from scratch at this
      # budget they lost 95% of games to BC, as a BC trained the same way does (84%);
      # β = 1 because β = 3 on fresh Q and V heads weights BC's steps at random
      # (docs/agents.md, "IQL and CQL on Skirmish").
      _agent('iql', 'experiments/iql.py',
             dict(windows, num_steps=value_steps,
                  iql=dict(distillation_weight=1.0, temperature=1.0)),
             init_from='bc', teacher='bc'),
      _agent('cql', 'experiments/cql.py',
             dict(windows, num_steps=value_steps, cql=dict(distillation_weight=1.0)),
             init_from='bc', teacher='bc'),
  ]


def _set_search(agents, simulations: int, samples: int) -> None:
  """MZS-MCTS's search budget (num_simulations, num_samples) in `agents`."""
  for agent in agents:
    if agent.name == 'mzs_mcts':
      agent.overrides = config_dict.ConfigDict(dict(
          agent.overrides, muzero=dict(num_simulations=simulations, num_samples=samples)))


def get_config(variant: str = 'small') -> config_dict.ConfigDict:
  """The recipe at one of `VARIANTS`' scales (see the module docstring)."""
  if variant not in VARIANTS:
    raise ValueError(f'experiments/unplugged.py has variants {", ".join(VARIANTS)}, '
                     f'not {variant!r}.')
  c = config_dict.ConfigDict()
  c.workdir = f'runs/{"demo" if variant == "small" else "unplugged-" + variant}'
  c.variant = variant
  c.seed = 0  # The dataset's and the tournament's randomness.
  c.seeds = (0,)  # Training seeds: each agent trains once per seed.
  c.env = 'skirmish/8x8'
  c.env_kwargs = config_dict.ConfigDict({}, type_safe=False)
  c.progress = True
  # The bot pool: 'ladder' (the calibrated ladder) or a list of bot names.
  c.bots = ['ladder']

  c.data = config_dict.ConfigDict(dict(
      num_episodes=600,  # Games; each gives one RLDS episode per seat.
      matchups='neighbours',  # 'neighbours' (and self-play) or 'round_robin'.
      num_envs=150,
      file_format='tfrecord',
  ))

  # A network sized for two CPU cores: 10 minutes in all, recording and games included.
  network = dict(mlp_sizes=(128,), conv_channels=(16,), conv_blocks=0, entity_width=32,
                 entity_layers=1, entity_heads=2)
  # validation_fraction: episodes held out; the learning curves show their loss.
  common = dict(batch_size=128, updates_per_call=50, log_every=50, checkpoint_every=500,
                eval_every=0, validation_fraction=0.1)
  # MZS's value needs about 1,000 updates to predict who wins (docs/agents.md).
  c.agents = _agents(network, bc_steps=1500, value_steps=500, mzs_steps=1000,
                     common=common)
  # 8 simulations over 8 sampled actions beat MZS on Skirmish 8x8; 32 lost to 8, as
  # they back up the model's deeper, worse values (docs/agents.md, MuZero section).
  _set_search(c.agents, simulations=8, samples=8)

  c.tournament = config_dict.ConfigDict(dict(
      games_per_match=40,  # Per pair of players; even (each map from both seats).
      agent_games=200,  # Per seed, for each pair of report.comparisons.
      shard_size=40,
      seeds=(0,),  # Evaluation seeds (maps and the players' sampling).
  ))
  c.report = config_dict.ConfigDict(dict(
      anchor='',  # '' = the strongest bot of the pool, as AlphaStar Unplugged does.
      anchor_rating=1000.0,
      # The paper's ordering, each A:B a claim "A beats B" the report checks; 'best'
      # in the goals is the agent with the highest Elo.
      comparisons=('ftbc:bc', 'oac:bc', 'eoac:oac', 'mzs_mcts:mzs', 'iql:bc', 'cql:bc'),
      goal_vs_strongest_bot=0.6,
      confidence=0.95,
      bootstrap=1000,
      title='AlphaStar Unplugged recipe on Skirmish: every agent vs the bot ladder',
      # Documents whose table (between report.TABLE_BEGIN and TABLE_END) the run
      # replaces with its table.md, e.g. ('README.md', 'docs/evaluation.md').
      paste_into=(),
  ))

  if variant == 'table':
    # The README's table: the demo's agents with three training seeds; half the demo's
    # games a pair, so that it fits an hour on two cores (docs/evaluation.md).
    c.seeds = (0, 1, 2)
    c.tournament.games_per_match = 20
    c.tournament.agent_games = 100
  elif variant == 'full':
    c.seeds = (0, 1, 2, 3, 4)
    c.data.num_episodes = 6000
    network = dict(network, mlp_sizes=(256, 256), conv_channels=(32, 32),
                   conv_blocks=1, entity_width=64)
    c.agents = _agents(network, bc_steps=20_000, value_steps=10_000, mzs_steps=5_000,
                       common=dict(common, checkpoint_every=2_000))
    c.tournament.games_per_match = 100
    c.tournament.agent_games = 400
  elif variant == 'tiny':
    c.data.num_episodes = 24
    c.data.num_envs = 24
    tiny = dict(batch_size=16, updates_per_call=10, log_every=10, checkpoint_every=20,
                eval_every=0, validation_fraction=0.2)
    c.agents = _agents(dict(mlp_sizes=(32,), conv_channels=(8,), entity_width=16),
                       bc_steps=30, value_steps=10, mzs_steps=10, common=tiny)
    _set_search(c.agents, simulations=4, samples=4)
    c.seeds = (0, 1)
    c.tournament.games_per_match = 4
    c.tournament.agent_games = 8
    c.tournament.shard_size = 4
    c.report.bootstrap = 100
  return c
