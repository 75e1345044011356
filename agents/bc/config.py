"""BC and FT-BC experiment configs: the one place their defaults live.

Fields:
  agent: registry name ('bc' or 'ftbc').
  dataset: path of the RLDS dataset (set on the command line).
  filters: episode filter string (offline_rl.data.filters grammar), e.g.
    'rating>=1200' or 'rating>=1200,outcome==1'; '' keeps every episode.
  validation_fraction: episodes held out of the 'train' split.
  seed, batch_size, unroll_length (T; windows hold T+1 steps), num_steps.
  updates_per_call: K updates per compiled call.
  num_devices: devices to split the batch over (0: all local devices).
  init_from: a run or checkpoint to warm-start the parameters from (FT-BC).
  log_every, checkpoint_every, keep_checkpoints, eval_every (0: never),
  eval_episodes, eval_opponent ('module:attribute' of a Policy or a factory of one,
  for two-player games), eval_greedy.
  optimizer: learning_rate, schedule ('constant' | 'cosine' | 'linear'), warmup_steps,
    end_learning_rate_fraction, b1, b2, eps, weight_decay, max_grad_norm (<= 0: off).
  network: see offline_rl.networks.NetworkConfig.
  bc.head_weights: {head: weight} multiplying each head's cross-entropy (default 1).
  bc.eval_rating: the rating input at evaluation; NaN means the top rating seen in
    training (AlphaStar Unplugged). Read only when network.use_rating.
"""
from ml_collections import config_dict


def get_config() -> config_dict.ConfigDict:
  """BC: AlphaStar Unplugged's optimiser settings with a 256-256 MLP torso."""
  c = config_dict.ConfigDict()
  c.agent = 'bc'
  c.dataset = ''
  c.filters = ''
  c.validation_fraction = 0.0
  c.seed = 0
  c.batch_size = 256
  c.unroll_length = 1
  c.num_steps = 10_000
  c.updates_per_call = 10
  c.num_devices = 0
  c.init_from = ''
  c.log_every = 100
  c.checkpoint_every = 1_000
  c.keep_checkpoints = 3
  c.eval_every = 0
  c.eval_episodes = 64
  c.eval_opponent = ''
  c.eval_greedy = False
  c.optimizer = config_dict.ConfigDict(dict(
      learning_rate=5e-4, schedule='cosine', warmup_steps=0,
      end_learning_rate_fraction=0.0, b1=0.9, b2=0.98, eps=1e-8, weight_decay=1e-5,
      max_grad_norm=10.0))
  c.network = config_dict.ConfigDict(dict(
      mlp_sizes=(256, 256), conv_channels=(32, 32), conv_blocks=1, entity_width=64,
      entity_layers=1, entity_heads=2, core='none', core_size=256, head_hidden=(),
      value_head=False, value_hidden=(256,), use_prev_action=False, use_rating=False,
      rating_offset=1000.0, rating_scale=500.0))
  c.bc = config_dict.ConfigDict(dict(
      head_weights=config_dict.ConfigDict({}, type_safe=False),
      eval_rating=float('nan')))
  return c


def get_ftbc_config() -> config_dict.ConfigDict:
  """FT-BC: continue a BC run on the high-rating episodes, at a lower learning rate.

  Set `init_from` to the BC run (or one of its checkpoints) and `filters` to the
  top rating band of the dataset.
  """
  c = get_config()
  c.agent = 'ftbc'
  c.filters = 'rating>=1500'
  c.num_steps = 2_000
  c.optimizer.learning_rate = 1e-4
  c.optimizer.schedule = 'cosine'
  c.optimizer.warmup_steps = 100
  return c
