"""The public conformance check: does an environment follow the platform's protocol?

    from offline_rl import environments
    environments.check(my_env)        # raises ConformanceError listing every violation

Runs any environment, JAX-native (`reset(key)` / `step(state, action)`) or host
(`reset_batch(seed, num_envs)` / `step_batch(action)`), a user's own included, with a
uniformly random legal policy per seat (or the policies given) through
`offline_rl.rollout`, and checks what the recorder, learner and evaluator rely on:

  * the spec: an `EnvSpec` that round-trips through JSON;
  * shapes and dtypes of every time-step field against the spec ([N, P, ...] leaves);
  * values: discrete observations in [0, num_values), Box bounds, finite floats;
  * legal-action masks: bool, keyed like the action's discrete heads, and never
    all-False for a seat at a step where an action follows (policies would sample
    from an empty distribution);
  * episode flags: `is_first` at reset and exactly after each `is_last`; zero reward
    at `is_first`; `is_terminal` implies `is_last` and discount 0; no episode longer
    than `spec.max_episode_steps` (when set);
  * reproducibility: the same key / seed and policies give the same steps;
  * rebuilding: a registered id gives the same spec again from
    `make(spec.env_id, **spec.params)` (how evaluators rebuild a dataset's env);
  * JAX environments only: `reset` and `step` jit and vmap, and stepping a finished
    state keeps it finished with zero reward and an unchanged observation.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from offline_rl import rollout
from offline_rl import specs
from offline_rl import types
from offline_rl import policies as policies_lib


class ConformanceError(AssertionError):
  """An environment violates the protocol; the message lists every violation."""


@dataclasses.dataclass
class CheckReport:
  """What `check` found: violations break the protocol; notes are advice."""
  env_id: str
  violations: list[str]
  num_steps: int
  num_episodes: int
  notes: list[str] = dataclasses.field(default_factory=list)

  def __str__(self):
    if not self.violations:
      text = (f'{self.env_id}: conforms ({self.num_steps} steps, '
              f'{self.num_episodes} finished episodes checked).')
    else:
      text = (f'{self.env_id}: {len(self.violations)} protocol violation(s):\n  - '
              + '\n  - '.join(self.violations))
    if self.notes:
      text += '\n  note: ' + '\n  note: '.join(self.notes)
    return text


def check(env, num_envs: int = 3, num_steps: int = 40, seed: int = 0,
          policies=None, raise_on_violation: bool = True) -> CheckReport:
  """Runs `env` through the protocol and reports every violation.

  Args:
    env: any environment (`types.Environment` or `types.HostEnvironment`).
    num_envs: environments run side by side (N).
    num_steps: steps per environment (T); enough to finish a few episodes is best.
    seed: seeds the policies and resets.
    policies: one `types.Policy` per seat; uniformly random legal ones by default.
    raise_on_violation: raise ConformanceError (default) or only return the report.

  Returns:
    A CheckReport; `report.violations` is empty when the environment conforms.
  """
  env_id = getattr(getattr(env, 'spec', None), 'env_id', type(env).__name__)
  problems = _check_surface(env)
  finished = 0
  if not problems:
    spec = env.spec
    if policies is None:
      policies = [policies_lib.random_policy(spec)] * spec.num_players
    problems += _check_spec_json(spec)
    problems += _check_rebuild(spec)
    try:
      params = tuple(p.params for p in policies)
      run = rollout.make_run(env, policies, num_steps)
      state = rollout.init(env, policies, jax.random.key(seed), num_envs)
      problems += _check_timestep(spec, state.timestep, (num_envs,), 'reset')
      if not np.all(state.timestep.is_first):
        problems.append('reset: is_first must be True for every environment')
      _, steps = run(params, state)
      steps = jax.device_get(steps)
      problems += _check_steps(spec, steps)
      finished = int(np.sum(steps.timestep.is_last))
      _, again = run(params, rollout.init(env, policies, jax.random.key(seed), num_envs))
      if not _trees_equal(steps, jax.device_get(again)):
        problems.append('reproducibility: two runs with the same seed and policies gave '
                        'different steps; derive all randomness from the reset key/seed')
      if env.jittable:
        problems += _check_finished_state(env, seed, num_envs, num_steps)
    except Exception as error:  # pylint: disable=broad-except
      problems.append(f'running the protocol raised {type(error).__name__}: {error}')
  notes = []
  if not problems and env.spec.max_episode_steps <= 0:
    notes.append('spec.max_episode_steps is 0 (no limit known): the evaluator plays each '
                 'game to its end and needs a limit; pass max_episode_steps=... ')
  report = CheckReport(env_id, problems, num_steps * num_envs, finished, notes)
  if problems and raise_on_violation:
    raise ConformanceError(str(report))
  return report


def _check_surface(env) -> list[str]:
  problems = []
  spec = getattr(env, 'spec', None)
  if not isinstance(spec, specs.EnvSpec):
    problems.append(f'env.spec must be an offline_rl.specs.EnvSpec, got {type(spec).__name__}')
  jittable = getattr(env, 'jittable', None)
  if not isinstance(jittable, bool):
    problems.append('env.jittable must be True (JAX: reset(key), step(state, action)) or '
                    'False (host: reset_batch(seed, num_envs), step_batch(action))')
  else:
    needed = ('reset', 'step') if jittable else ('reset_batch', 'step_batch')
    problems += [f'env.{name} is missing (jittable={jittable})'
                 for name in needed if not callable(getattr(env, name, None))]
  if isinstance(spec, specs.EnvSpec):
    if spec.num_players < 1:
      problems.append(f'spec.num_players must be >= 1, got {spec.num_players}')
    if not spec.action:
      problems.append('spec.action must name at least one action head')
    for name, head in (spec.legal_action_mask or {}).items():
      action = spec.action.get(name)
      if action is None or action.num_values is None:
        problems.append(f'spec.legal_action_mask/{name}: no discrete action head {name!r}')
      elif head.dtype != 'bool' or head.shape[-1:] != (action.num_values,):
        problems.append(f'spec.legal_action_mask/{name}: expected bool[..., '
                        f'{action.num_values}], got {head.describe()}')
  return problems


def _check_spec_json(spec) -> list[str]:
  try:
    again = specs.EnvSpec.from_json(spec.to_json())
  except Exception as error:  # pylint: disable=broad-except
    return [f'spec does not round-trip through JSON: {type(error).__name__}: {error}']
  if again != spec:
    return ['spec does not round-trip through JSON unchanged (use JSON-friendly params)']
  return []


def _check_rebuild(spec) -> list[str]:
  """A registered id must rebuild the same environment from `make(env_id, **params)`:
  the evaluator and the learner rebuild environments from datasets' specs that way."""
  from offline_rl.environments import registry  # pylint: disable=g-import-not-at-top
  try:
    again = registry.make(spec.env_id, **dict(spec.params))
  except KeyError as error:
    if 'Unknown environment id' in str(error):
      return []  # Not registered (yet): nothing to rebuild from.
    return [f'make({spec.env_id!r}, **spec.params) raised KeyError: {error}']
  except Exception as error:  # pylint: disable=broad-except
    return [f'spec.params must be the keyword arguments that rebuild the environment, '
            f'but make({spec.env_id!r}, **{dict(spec.params)}) raised '
            f'{type(error).__name__}: {error}']
  lines = specs.spec_mismatches(spec, getattr(again, 'spec', spec))
  if lines:
    return ['make(env_id, **spec.params) builds a different environment: '
            + '; '.join(lines)]
  return []


def _leaf_problems(where: str, name: str, spec: specs.ArraySpec, value, batch) -> list[str]:
  value = np.asarray(value)
  want = tuple(batch) + spec.shape
  if value.shape != want:
    return [f'{where}: {name}: expected shape {list(want)} ({spec.describe()} per seat '
            f'with leading {list(batch)}), got {list(value.shape)}']
  if value.dtype.name != spec.dtype:
    return [f'{where}: {name}: expected dtype {spec.dtype}, got {value.dtype.name}']
  problems = []
  if value.dtype.kind == 'f' and not np.all(np.isfinite(value)):
    problems.append(f'{where}: {name}: contains NaN or infinite values')
  if spec.num_values is not None and value.dtype.kind in 'iub':
    bad = (value < 0) | (value >= spec.num_values)
    if bad.any():
      problems.append(f'{where}: {name}: values outside [0, {spec.num_values}), e.g. '
                      f'{value[bad].ravel()[0]!r}')
  if value.dtype.kind in 'fiu':
    if spec.minimum is not None and (value < spec.minimum).any():
      problems.append(f'{where}: {name}: values below the spec minimum {spec.minimum}, '
                      f'e.g. {value[value < spec.minimum].ravel()[0]!r}')
    if spec.maximum is not None and (value > spec.maximum).any():
      problems.append(f'{where}: {name}: values above the spec maximum {spec.maximum}, '
                      f'e.g. {value[value > spec.maximum].ravel()[0]!r}')
  return problems


def _tree_problems(where, field, spec_tree, value_tree, batch) -> list[str]:
  flat_spec = specs.flatten(spec_tree, field)
  try:
    flat_value = _flatten_values(value_tree, field)
  except TypeError as error:
    return [f'{where}: {field}: {error}']
  problems = [f'{where}: {name}: missing (the spec has {flat_spec[name].describe()})'
              for name in flat_spec if name not in flat_value]
  problems += [f'{where}: {name}: not in the spec' for name in flat_value
               if name not in flat_spec]
  for name in flat_spec:
    if name in flat_value:
      problems += _leaf_problems(where, name, flat_spec[name], flat_value[name], batch)
  return problems


def _flatten_values(tree, prefix):
  if isinstance(tree, dict):
    out = {}
    for key, value in tree.items():
      out.update(_flatten_values(value, f'{prefix}/{key}'))
    return out
  if tree is None or isinstance(tree, (list, tuple)):
    raise TypeError(f'expected a dict of arrays keyed like the spec, got {type(tree).__name__}')
  return {prefix: tree}


def _check_timestep(spec, ts, batch, where) -> list[str]:
  """Shapes, dtypes and values of one TimeStep with leading `batch` dims."""
  if not isinstance(ts, types.TimeStep):
    return [f'{where}: expected an offline_rl.types.TimeStep, got {type(ts).__name__}']
  batch, seats = tuple(batch), tuple(batch) + (spec.num_players,)
  problems = _tree_problems(where, 'observation', spec.observation, ts.observation, seats)
  if spec.legal_action_mask is None:
    if ts.legal_action_mask is not None:
      problems.append(f'{where}: legal_action_mask given but the spec has none')
  elif ts.legal_action_mask is None:
    problems.append(f'{where}: legal_action_mask is None but the spec has masks')
  else:
    problems += _tree_problems(where, 'legal_action_mask', spec.legal_action_mask,
                               ts.legal_action_mask, seats)
  problems += _leaf_problems(where, 'reward', specs.ArraySpec((), 'float32'), ts.reward, seats)
  problems += _leaf_problems(where, 'discount', specs.ArraySpec((), 'float32'),
                             ts.discount, batch)
  for flag in ('is_first', 'is_last', 'is_terminal'):
    problems += _leaf_problems(where, flag, specs.ArraySpec((), 'bool'),
                               getattr(ts, flag), batch)
  return problems


def _check_steps(spec, steps: rollout.Steps) -> list[str]:
  ts = steps.timestep
  num_steps, num_envs = np.shape(ts.is_first)[:2]
  problems = _check_timestep(spec, ts, (num_steps, num_envs), 'steps')
  if any('expected shape' in p or 'expected dtype' in p or 'missing' in p for p in problems):
    return problems  # The flag and mask checks below need the right structure.
  first, last, terminal = ts.is_first, ts.is_last, ts.is_terminal
  discount, reward = np.asarray(ts.discount), np.asarray(ts.reward)
  if not np.array_equal(first[1:], last[:-1]):
    t, n = np.argwhere(first[1:] != last[:-1])[0]
    problems.append(f'episode flags: is_first must follow exactly each is_last '
                    f'(NEXT_STEP autoreset); environment {n} breaks it at step {t + 1}')
  if np.any(reward[first] != 0):
    problems.append('reward must be zero at is_first steps')
  if np.any(terminal & ~last):
    problems.append('is_terminal without is_last')
  if np.any(discount[terminal] != 0):
    problems.append('discount must be 0 at terminal steps')
  if np.any(discount[~last] <= 0):
    problems.append('discount must be > 0 before the last step of an episode')
  if ts.legal_action_mask is not None:
    for name, mask in ts.legal_action_mask.items():
      mask = np.asarray(mask).reshape(num_steps, num_envs, spec.num_players, -1,
                                      spec.action[name].num_values)
      empty = ~mask.any(-1).any(-1) & ~last[:, :, None]
      if empty.any():
        t, n, p = np.argwhere(empty)[0]
        problems.append(f'legal_action_mask/{name}: all-False for seat {p} of environment '
                        f'{n} at step {t}, where an action follows; give the waiting '
                        'seat at least one legal (ignored) action')
  if spec.max_episode_steps > 0:
    length = np.zeros(num_envs, int)
    for t in range(num_steps):
      length = np.where(first[t], 0, length + 1)
      too_long = (length >= spec.max_episode_steps) & ~last[t]
      if too_long.any():
        problems.append(f'episode of environment {int(np.argmax(too_long))} runs past '
                        f'spec.max_episode_steps={spec.max_episode_steps} without is_last')
        break
  return problems


def _check_finished_state(env, seed, num_envs, num_steps) -> list[str]:
  """Steps without autoreset: once finished, a state must stay finished and silent."""
  problems = []
  policy = policies_lib.random_policy(env.spec)
  try:
    reset = jax.jit(jax.vmap(env.reset))
    state, ts = reset(jax.random.split(jax.random.key(seed + 1), num_envs))
  except Exception as error:  # pylint: disable=broad-except
    return [f'jit(vmap(env.reset)) raised {type(error).__name__}: {error}']
  num_players = env.spec.num_players

  def body(carry, key):
    state, ts = carry
    keys = jax.random.split(key, num_players * num_envs).reshape(num_players, num_envs)
    actions = []
    for p in range(num_players):
      view = jax.vmap(lambda t: types.seat(t, p))(ts)  # pylint: disable=cell-var-from-loop
      action, _ = jax.vmap(policy.apply, in_axes=(None, 0, None, 0))(
          (), view, (), keys[p])
      actions.append(action)
    action = jax.tree.map(lambda *a: jnp.stack(a, 1), *actions)
    new_state, new_ts = jax.vmap(env.step)(state, action)
    return (new_state, new_ts), (ts, new_ts)

  try:
    _, (before, after) = jax.jit(lambda c, k: jax.lax.scan(body, c, k))(
        (state, ts), jax.random.split(jax.random.key(seed + 2), num_steps))
  except Exception as error:  # pylint: disable=broad-except
    return [f'jit(scan(vmap(env.step))) raised {type(error).__name__}: {error}']
  before, after = jax.device_get(before), jax.device_get(after)
  done = np.asarray(before.is_last)
  if done.any():
    if not np.all(after.is_last[done]):
      problems.append('stepping a finished state (is_last) must keep it finished')
    if np.any(np.asarray(after.reward)[done] != 0):
      problems.append('stepping a finished state must give zero reward')
    for name, value in _flatten_values(before.observation, 'observation').items():
      now = _flatten_values(after.observation, 'observation')[name]
      if not np.array_equal(np.asarray(value)[done], np.asarray(now)[done]):
        problems.append(f'stepping a finished state changed {name}')
  if np.any(np.asarray(after.is_first)):
    problems.append('step must return is_first=False (only reset starts an episode)')
  return problems


def _trees_equal(a, b) -> bool:
  leaves_a, tree_a = jax.tree.flatten(a)
  leaves_b, tree_b = jax.tree.flatten(b)
  return tree_a == tree_b and all(
      np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(leaves_a, leaves_b))
