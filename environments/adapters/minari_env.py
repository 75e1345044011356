"""`minari/<dataset id>`: the live environment a local Minari dataset was recorded in.

A Minari dataset stores its gymnasium `EnvSpec`; `make('minari/D4RL/door/human-v2')`
reads it from the local Minari root (MINARI_DATASETS_PATH; nothing is downloaded) and
builds that environment through the gymnasium adapter, under the id the Minari
importer gives the dataset's spec. So a run trained on `data convert --from=minari`
output is evaluated with `--env=minari/<dataset id>`.
"""
from __future__ import annotations

from offline_rl.environments.adapters import _deps
from offline_rl.environments.adapters import gymnasium_env


def recorded_env_spec(dataset_id: str):
  """The gymnasium EnvSpec a local Minari dataset records (KeyError when unknown)."""
  minari = _deps.require('minari', f'the environment minari/{dataset_id}')
  try:
    dataset = minari.load_dataset(dataset_id)
  except Exception as error:  # pylint: disable=broad-except
    raise KeyError(f'No local Minari dataset {dataset_id!r} ({error}). `minari list '
                   'local` lists them; MINARI_DATASETS_PATH sets where they live.'
                   ) from error
  env_spec = dataset.spec.env_spec
  if env_spec is None:
    raise KeyError(f'The Minari dataset {dataset_id!r} records no environment; make '
                   'the environment by its gymnasium id instead (--env=gym/<id>).')
  return env_spec


def make(dataset_id: str, **kwargs) -> gymnasium_env.GymnasiumEnv:
  """The environment of Minari dataset `dataset_id`; `kwargs` override its kwargs."""
  import gymnasium as gym  # pylint: disable=g-import-not-at-top
  env_spec = recorded_env_spec(dataset_id)
  if env_spec.id not in gym.registry:  # Recorded from a class registered elsewhere.
    gym.register(env_spec.id, entry_point=env_spec.entry_point,
                 max_episode_steps=env_spec.max_episode_steps, kwargs=env_spec.kwargs)
  return gymnasium_env.GymnasiumEnv(
      env_spec.id, env_id=f'minari/{dataset_id}',
      max_episode_steps=env_spec.max_episode_steps,
      **{**dict(env_spec.kwargs or {}), **kwargs})
