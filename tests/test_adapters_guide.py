"""README's "Plug in your environment" guide, run as written."""
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from offline_rl import environments

ROOT = pathlib.Path(__file__).resolve().parents[1]


def guide_blocks():
  """(language, code) of each fenced block in the README's guide section."""
  text = (ROOT / 'README.md').read_text()
  start = text.index('## Plug in your environment')
  end = text.find('\n## ', start + 1)
  section = text[start:end if end > 0 else len(text)]
  return re.findall(r'```(\w+)\n(.*?)```', section, flags=re.S)


def write_files(directory: pathlib.Path) -> list[str]:
  names = []
  for language, code in guide_blocks():
    first = code.splitlines()[0]
    if language == 'python' and first.startswith('# file: '):
      name = first[len('# file: '):].strip()
      (directory / name).write_text(code)
      names.append(name)
  return names


def test_guide_blocks_are_valid_and_the_environment_conforms(tmp_path, monkeypatch):
  blocks = guide_blocks()
  assert [lang for lang, _ in blocks].count('bash') == 1
  for language, code in blocks:
    if language == 'python':
      compile(code, 'README.md', 'exec')  # Every Python block is valid Python.
  assert write_files(tmp_path) == ['my_envs.py', 'record.py']
  monkeypatch.syspath_prepend(str(tmp_path))
  monkeypatch.delitem(sys.modules, 'my_envs', raising=False)
  env = environments.make('gym/my_envs:GoTo', size=8, max_episode_steps=16)
  report = environments.check(env, num_envs=2, num_steps=20)
  assert report.num_episodes >= 1 and not report.notes
  assert env.spec.params == {'size': 8, 'max_episode_steps': 16}
  assert env.spec.legal_action_mask is not None


@pytest.mark.slow
def test_guide_runs_end_to_end(tmp_path):
  """Record, train BC and evaluate exactly as the README says; BC beats random."""
  write_files(tmp_path)
  (tmp_path / 'experiments').symlink_to(ROOT / 'experiments')
  (tmp_path / '.venv').symlink_to(ROOT / '.venv')
  (commands,) = [code for language, code in guide_blocks() if language == 'bash']
  env = dict(os.environ, JAX_PLATFORMS='cpu', TF_CPP_MIN_LOG_LEVEL='2')
  for command in commands.strip().splitlines():
    result = subprocess.run(command, shell=True, cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f'{command}\n{result.stderr[-3000:]}'
  returns = {}
  for line in (tmp_path / 'runs' / 'goto-eval.jsonl').read_text().splitlines():
    record = json.loads(line)
    if record['type'] == 'games':
      returns.setdefault(record['players'][0], []).extend(r[0] for r in record['returns'])
  assert sorted(returns) == ['goto-bc', 'random']
  assert len(returns['goto-bc']) == len(returns['random']) == 64
  bc, random = (sum(returns[k]) / 64 for k in ('goto-bc', 'random'))
  assert bc > 0.9 and bc > random + 0.2, (bc, random)
