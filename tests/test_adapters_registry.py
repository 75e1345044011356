"""One registry for built-in and adapted environments; lazy optional dependencies;
the conformance check on users' own environments."""
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from offline_rl import specs
from offline_rl import types
from offline_rl.environments import adapters
from offline_rl.environments import check
from offline_rl.environments import make
from offline_rl.environments import register
from offline_rl.environments import register_family
from offline_rl.environments import registered
from offline_rl.environments import registered_families
from offline_rl.environments import registry
from offline_rl.environments import toy


def test_families_resolve_and_unknown_ids_list_everything():
  assert set(registered_families()) >= {'gym/', 'pettingzoo/', 'pgx/', 'openspiel/'}
  assert 'toy/corridor-v0' in registered()
  assert make('pgx/tic_tac_toe').spec.env_id == 'pgx/tic_tac_toe'
  assert make('openspiel/tic_tac_toe').spec.env_id == 'openspiel/tic_tac_toe'
  with pytest.raises(KeyError) as error:
    make('chess/v0')
  message = str(error.value)
  for text in ('toy/corridor-v0', 'gym/<name>', 'pgx/<name>', 'openspiel/<name>',
               'pettingzoo/<name>', 'register_family'):
    assert text in message


def test_register_a_user_family_in_a_few_lines(monkeypatch):
  # The family lives only for this test: others list every registered family.
  monkeypatch.setattr(registry, '_FAMILIES', dict(registry._FAMILIES))

  def corridor_family(name, **kwargs):
    return toy.Corridor(length=int(name), **kwargs)

  register_family('corridor-test/', corridor_family, 'corridor-test/<length>')
  env = make('corridor-test/5', num_players=1)
  assert env.length == 5 and env.spec.num_players == 1
  with pytest.raises(ValueError, match='already registered'):
    register_family('corridor-test/', corridor_family)
  with pytest.raises(ValueError, match="ends with '/'"):
    register_family('nosuffix', corridor_family)


def test_check_passes_the_builtin_toy_game():
  report = check(make('toy/corridor-v0', length=4, max_steps=8), num_envs=2, num_steps=12)
  assert report.num_episodes >= 2 and 'conforms' in str(report)


class _Broken:
  """A user's JAX environment with several protocol violations."""
  jittable = True
  spec = specs.EnvSpec(
      env_id='broken/v0', version='0', num_players=1,
      observation={'x': specs.ArraySpec((2,), 'float32', minimum=0.0, maximum=1.0)},
      action={'action': specs.ArraySpec((), 'int32', num_values=3)},
      legal_action_mask={'action': specs.ArraySpec((3,), 'bool')},
      max_episode_steps=5)

  def _ts(self, t, first):
    return types.TimeStep(
        observation={'x': jnp.full((1, 2), t, jnp.float32)},  # Leaves [0, 1] at t = 2.
        legal_action_mask={'action': jnp.zeros((1, 3), bool)},  # Never a legal action.
        reward=jnp.zeros(1, jnp.float32), discount=jnp.float32(1),
        is_first=jnp.bool_(first), is_last=jnp.bool_(False), is_terminal=jnp.bool_(False))

  def reset(self, key):
    return jnp.int32(0), self._ts(0, True)

  def step(self, state, action):
    return state + 1, self._ts(state + 1, False)


def test_check_reports_every_violation_clearly():
  with pytest.raises(adapters.ConformanceError) as error:
    check(_Broken(), num_envs=2, num_steps=8)
  message = str(error.value)
  assert 'broken/v0' in message
  assert 'observation/x: values above the spec maximum 1.0' in message
  assert 'legal_action_mask/action: all-False for seat 0' in message
  assert 'past spec.max_episode_steps=5' in message
  report = check(_Broken(), num_envs=2, num_steps=8, raise_on_violation=False)
  assert len(report.violations) >= 3


def test_check_reports_a_missing_protocol_surface():
  class NoSpec:
    jittable = False
  with pytest.raises(adapters.ConformanceError, match='env.spec must be an offline_rl'):
    check(NoSpec())


@pytest.mark.parametrize('module, env_id, package', [
    ('pgx', 'pgx/connect_four', "'pgx'"),
    ('pyspiel', 'openspiel/connect_four', "'pyspiel'"),
    ('minatar', 'gym/MinAtar/Breakout-v1', "'minatar'"),
])
def test_missing_optional_dependency_names_the_package(monkeypatch, module, env_id, package):
  monkeypatch.setitem(sys.modules, module, None)
  monkeypatch.delitem(sys.modules, 'minatar.gym', raising=False)
  with pytest.raises(adapters.MissingDependencyError, match=f'{package}.*pip install'):
    make(env_id)


def test_platform_imports_without_optional_packages():
  code = ('import sys\n'
          "for m in ('pgx', 'pyspiel', 'open_spiel', 'minatar', 'mctx'): sys.modules[m] = None\n"
          'import offline_rl.environments as e, offline_rl.rollout\n'
          "env = e.make('gym/CartPole-v1')\n"
          "e.check(env, num_envs=1, num_steps=5)\n"
          "print('ok')\n")
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip().endswith('ok')


def test_bots_by_name_and_ladders():
  pgx_env = make('pgx/tic_tac_toe')
  assert adapters.bots.policy_names(pgx_env)[:2] == ['random', 'mcts-4']
  assert [p.params.num_simulations for p in adapters.bots.ladder(pgx_env)] == [4, 16, 64]
  zero = adapters.bots.resolve_policy(pgx_env, 'mcts-8-zero')
  assert zero.params.value == 'zero' and zero.policy_id.endswith('mcts-8-zero')
  spiel = make('openspiel/tic_tac_toe')
  assert [int(p.params['num_simulations']) for p in adapters.bots.ladder(spiel)] == [8, 32, 128]
  with pytest.raises(KeyError, match="no policy 'mcts-8-zero'"):
    adapters.bots.resolve_policy(spiel, 'mcts-8-zero')
  with pytest.raises(ValueError, match='no bot ladder'):
    adapters.bots.ladder(make('openspiel/phantom_ttt'))
  assert adapters.bots.policy_names(make('gym/CartPole-v1')) == ['random']
