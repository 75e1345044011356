"""The Unplugged recipe at laptop scale: `make demo` = `offline-rl demo` on these defaults.

  offline-rl demo                                        # the default recipe
  offline-rl demo --config=experiments/unplugged.py:tiny # the seconds-long test version
  offline-rl demo --config=experiments/unplugged.py:oac  # adds OAC (teacher: BC)
  offline-rl demo --config.tournament.games_per_match=400 --config.workdir=runs/big

Stages (each reused when re-run with the same settings):
  1. record a skill-stratified Skirmish dataset: the calibrated bot ladder plays itself
     (each bot against its neighbours on the ladder and against itself), so episodes
     span the ladder's ratings like human replays span MMR;
  2. train every agent in `agents`, in order (BC on all of it; FT-BC continues BC on
     the top-rated part);
  3. a tournament among the agents and the bot pool (seats alternate, maps vary);
  4. the report under `<workdir>/report/`: Elo with intervals, robustness, the
     head-to-head table (does FT-BC beat BC?), plots and an HTML page.

Adding an agent is configuration only: append an entry to `agents`:
  name:        the player's name in the tournament and the report;
  config:      'experiments/<file>.py:<name>', the training config (its defaults);
  overrides:   fields of that config to change (dataset is set by the recipe);
  init_from:   the name of an earlier agent whose run warm-starts this one ('' none);
  teacher:     the name of an earlier agent distilled towards, frozen ('' none): the
               behaviour policy of OAC and E-OAC;
  top_fraction: train only on episodes of the top fraction of the ladder (0: all);
  checkpoint:  instead of training, an existing run directory to load.
"""
from ml_collections import config_dict


def _agent(name, config, overrides, init_from='', teacher='', top_fraction=0.0,
           checkpoint=''):
  return config_dict.ConfigDict(dict(
      name=name, config=config, overrides=config_dict.ConfigDict(overrides),
      init_from=init_from, teacher=teacher, top_fraction=top_fraction,
      checkpoint=checkpoint))


def get_config(variant: str = 'default') -> config_dict.ConfigDict:
  """The demo recipe; `variant` 'tiny' is the end-to-end test's seconds-long version."""
  if variant not in ('default', 'tiny', 'oac'):
    raise ValueError(f"experiments/unplugged.py has variants 'default', 'tiny' and 'oac', "
                     f'not {variant!r}.')
  c = config_dict.ConfigDict()
  c.workdir = 'runs/demo'
  c.seed = 0
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
  train_common = dict(num_steps=1500, batch_size=128, updates_per_call=50,
                      log_every=50, checkpoint_every=500, eval_every=0,
                      validation_fraction=0.1, network=config_dict.ConfigDict(network))
  c.agents = [
      _agent('bc', 'experiments/bc.py:bc', dict(train_common)),
      _agent('ftbc', 'experiments/bc.py:ftbc', dict(train_common, num_steps=500),
             init_from='bc', top_fraction=0.5),
  ]

  c.tournament = config_dict.ConfigDict(dict(
      games_per_match=40,  # Per pair of players; even (each map from both seats).
      agent_games=400,  # Per pair of two agents: the comparison that matters most.
      shard_size=40,
      schedule='round_robin',
      seeds=[0],
  ))
  c.report = config_dict.ConfigDict(dict(
      anchor='',  # '' = the strongest bot of the pool, as AlphaStar Unplugged does.
      anchor_rating=1000.0,
      comparisons=['ftbc:bc'],
      confidence=0.95,
      bootstrap=1000,
      title='AlphaStar Unplugged recipe on Skirmish: BC vs FT-BC vs the bot ladder',
  ))

  if variant == 'oac':
    # OAC from BC (its frozen behaviour policy and starting point) on the same data,
    # beside FT-BC: does one step of policy improvement beat imitation head to head?
    c.workdir = 'runs/unplugged-oac'
    c.agents.append(_agent('oac', 'experiments/oac.py:oac',
                           dict(train_common, num_steps=1000, batch_size=32,
                                unroll_length=8),
                           init_from='bc', teacher='bc'))
    c.report.comparisons = ['ftbc:bc', 'oac:bc', 'oac:ftbc']
    c.report.title = ('AlphaStar Unplugged recipe on Skirmish: BC, FT-BC and OAC vs the '
                      'bot ladder')

  if variant == 'tiny':
    c.workdir = 'runs/demo-tiny'
    c.data.num_episodes = 24
    c.data.num_envs = 24
    tiny = dict(num_steps=20, batch_size=32, updates_per_call=10, log_every=10,
                checkpoint_every=20, eval_every=0, validation_fraction=0.2)
    net = config_dict.ConfigDict(dict(mlp_sizes=(32,), conv_channels=(8,),
                                      entity_width=16))
    c.agents = [
        _agent('bc', 'experiments/bc.py:bc', dict(tiny, network=net)),
        _agent('ftbc', 'experiments/bc.py:ftbc', dict(tiny, num_steps=10, network=net),
               init_from='bc', top_fraction=0.5),
    ]
    c.tournament.games_per_match = 4
    c.tournament.agent_games = 8
    c.tournament.shard_size = 4
    c.report.bootstrap = 100
  return c
