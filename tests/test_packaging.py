"""A pip-installed (non-editable) offline_rl runs its own recipes: no source tree needed."""
import os
import pathlib
import re
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]

_CHECK = '''
import os, sys
import offline_rl
site = sys.argv[1]
assert offline_rl.__file__.startswith(site), offline_rl.__file__
from offline_rl import cli
from offline_rl.commands import demo
from offline_rl.evaluation import recipe
assert recipe.experiments_dir().startswith(site), recipe.experiments_dir()
assert demo._DEFAULT.startswith(site) and os.path.exists(demo._DEFAULT)
config = recipe.load_config_file('experiments/unplugged.py:tiny')
for agent in config.agents:
  assert recipe.load_config_file(agent.config).agent == agent.name
(arg,) = cli._shipped_configs(['--config=experiments/unplugged.py:tiny'])
assert arg == '--config=' + os.path.join(site, 'offline_rl', 'experiments', 'unplugged.py') + ':tiny', arg
print('ok')
'''


def test_installed_wheel_finds_its_recipes_outside_the_source_tree(tmp_path):
  wheels, site = tmp_path / 'wheels', tmp_path / 'site'
  subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                  '--no-build-isolation', str(ROOT), '-w', str(wheels)],
                 check=True, capture_output=True, timeout=300)
  (wheel,) = wheels.glob('offline_rl-*.whl')
  with zipfile.ZipFile(wheel) as z:
    z.extractall(site)
  env = dict(os.environ, PYTHONPATH=str(site), JAX_PLATFORMS='cpu')
  out = subprocess.run([sys.executable, '-c', _CHECK, str(site)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0 and out.stdout.strip() == 'ok', out.stderr[-3000:]


def test_python_requires_covers_every_python_the_stack_installs_on():
  """jax 0.10 needs Python >= 3.11 and tensorflow 2.21 has no wheel for 3.14; pip's
  resolver installs the whole install_requires on 3.11, 3.12 and 3.13 (pip install
  --dry-run --only-binary=:all: --python-version X, promise and rlcard built as
  wheels: they ship only sources)."""
  from packaging import specifiers  # pylint: disable=g-import-not-at-top
  text = (ROOT / 'setup.py').read_text()
  allowed = specifiers.SpecifierSet(re.search(r"python_requires='([^']+)'", text)[1])
  assert [v for v in ('3.10', '3.11', '3.12', '3.13', '3.14') if v in allowed] == [
      '3.11', '3.12', '3.13']


def test_no_tracked_file_holds_merge_conflict_markers():
  files = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
  marked = []
  for name in files:
    path = ROOT / name
    if path.suffix not in ('.py', '.md', '.cfg', '.ini', '.txt', '.toml', '') or (
        not path.is_file()):
      continue
    lines = path.read_text(errors='replace').splitlines()
    marked += [f'{name}:{i + 1}' for i, line in enumerate(lines)
               if line.startswith(('<<<<<<< ', '>>>>>>> ')) or line == '=======']
  assert not marked, f'merge conflict markers left in: {marked}'
