"""BC and FT-BC experiment configs: `base_config` plus the `bc` section.

Fields (beside offline_rl.configs'):
  bc.head_weights: {head: weight} multiplying each head's cross-entropy (default 1).
"""
from ml_collections import config_dict

from offline_rl import configs


def get_config() -> config_dict.ConfigDict:
  """BC: AlphaStar Unplugged's optimiser settings with a 256-256 MLP torso."""
  c = configs.base_config('bc')
  c.skip_no_choice = True  # Every BC term is masked by the head's `used` steps.
  c.bc = config_dict.ConfigDict(dict(
      head_weights=config_dict.ConfigDict({}, type_safe=False)))
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
