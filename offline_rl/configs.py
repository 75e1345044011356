"""The fields every experiment config has: the learner's, the network's, evaluation's.

An agent's `get_config()` starts from `base_config(name)` and adds its own section
(`c.bc`, `c.oac`, ...), so a new agent copies none of these defaults.

Fields:
  agent: registry name ('bc', 'ftbc', 'oac', ...).
  dataset: path of the RLDS dataset (set on the command line).
  filters: episode filter string (offline_rl.data.filters grammar), e.g.
    'rating>=1200' or 'rating>=1200,outcome==1'; '' keeps every episode.
  validation_fraction: episodes held out of the 'train' split; when > 0 the learner
    logs the loss on them (filtered alike) at every log step ('validation_*' columns
    of train.csv).
  num_actions: the number of discrete actions of a dataset whose spec lacks it (a
    foreign RLDS dataset's scalar integer action); 0: the spec's, else max + 1 of the
    data's values.
  observation_keys: the observation fields to train on, by flat name (e.g.
    "('planes', 'scalars')"); empty: every numeric field (text fields are skipped).
  skip_no_choice: sample only windows with a step that carries a choice (some action
    head has two or more legal values; offline_rl.data.make_iterator). Exact for
    losses that train only such steps (BC, FT-BC: their configs turn it on); value
    terms train every step, so it is off by default.
  seed, batch_size, unroll_length (T; windows hold T+1 steps), num_steps.
  updates_per_call: K updates per compiled call.
  num_devices: devices of each process to split the batch over (0: all of them).
  init_from: a run or checkpoint to warm-start from (FT-BC; the actor of OAC): every
    parameter whose path and shape the checkpoint has is loaded, the rest keep their
    fresh values (e.g. a value head BC did not have).
  teacher: a run or checkpoint whose params the learner loads frozen, for agents that
    have a teacher (the BC policy that OAC's ratio and every distillation term use).
    Such an agent also starts from the teacher's params when init_from is empty.
  log_every, checkpoint_every, keep_checkpoints, eval_every (0: never),
  eval_episodes, eval_opponent (a policy name, for two-player games), eval_greedy.
  eval_rating: the rating input of rating-conditioned networks at evaluation; NaN
    means the top rating seen in training (AlphaStar Unplugged).
  optimizer: learning_rate, schedule ('constant' | 'cosine' | 'linear'), warmup_steps,
    end_learning_rate_fraction, b1, b2, eps, weight_decay, max_grad_norm (<= 0: off).
  network: see offline_rl.networks.NetworkConfig.
"""
from ml_collections import config_dict


# AlphaStar's structure for Skirmish's names: the pointer head, the spatial head and
# the scatter connections (a spec without those leaves skips them). On by default;
# `network_config(**PLAIN_NETWORK)` is the network before it (pooled units, flat heads).
STRUCTURED_NETWORK = dict(pointer_heads=('unit:units',), spatial_heads=('target:planes',),
                          scatter_width=16)
PLAIN_NETWORK = dict(pointer_heads=(), spatial_heads=(), scatter_width=0)


def network_config(**overrides) -> config_dict.ConfigDict:
  """The network defaults (offline_rl.networks.NetworkConfig's fields): a 256-256 MLP.

  AlphaStar's structure is on (STRUCTURED_NETWORK: a pointer head over the units, a
  spatial head over the map, scatter connections; specs without units or planes build
  the plain heads). On Skirmish 8×8 the demo's BC with it beat the demo's BC without
  it 74% [69%, 78%] over 400 games (FT-BC: 80% [75%, 83%]), at 1.6-1.9× the update cost
  on CPU (docs/learner.md). PLAIN_NETWORK's fields turn it off.

  Rating conditioning is on: on the demo's Skirmish 8×8 data, BC conditioned on the
  rating and evaluated at the top rating seen in training beats the same BC without
  it 72% [68%, 77%] over 400 games (docs/learner.md). Episodes without a rating feed
  no rating, which the network reads as the offset, so other data is unaffected."""
  c = config_dict.ConfigDict(dict(
      mlp_sizes=(256, 256), conv_channels=(32, 32), conv_blocks=1, conv_downsample_above=4,
      entity_width=64, entity_layers=1, entity_heads=2, core='none', core_size=256, head_hidden=(),
      **STRUCTURED_NETWORK,
      value_head=False, value_hidden=(256,), q_heads=False, policy_from_q=False,
      use_prev_action=False,
      use_rating=True, rating_offset=1000.0, rating_scale=500.0))
  c.update(overrides)
  return c


def base_config(agent: str) -> config_dict.ConfigDict:
  """The shared fields with AlphaStar Unplugged's optimiser settings."""
  c = config_dict.ConfigDict()
  c.agent = agent
  c.dataset = ''
  c.filters = ''
  c.validation_fraction = 0.0
  c.num_actions = 0
  c.skip_no_choice = False
  c.observation_keys = ()
  c.seed = 0
  c.batch_size = 256
  c.unroll_length = 1
  c.num_steps = 10_000
  c.updates_per_call = 10
  c.num_devices = 0
  c.init_from = ''
  c.teacher = ''
  c.log_every = 100
  c.checkpoint_every = 1_000
  c.keep_checkpoints = 3
  c.eval_every = 0
  c.eval_episodes = 64
  c.eval_opponent = ''
  c.eval_greedy = False
  c.eval_rating = float('nan')
  c.optimizer = config_dict.ConfigDict(dict(
      learning_rate=5e-4, schedule='cosine', warmup_steps=0,
      end_learning_rate_fraction=0.0, b1=0.9, b2=0.98, eps=1e-8, weight_decay=1e-5,
      max_grad_norm=10.0))
  c.network = network_config()
  return c
