"""The fault model (docs/faults.md): each fault injected, one line on stderr, exit 1,
nothing lost or half-written."""
import csv
import json
import os
import shutil
import subprocess
import sys

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
import numpy as np
import pytest

from offline_rl import datasets
from offline_rl.datasets import writer as writer_lib
from offline_rl.environments import make
from offline_rl.environments import toy
from offline_rl.learner import rundir
from offline_rl.learner import writers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BC = os.path.join(REPO, 'experiments', 'bc.py') + ':bc'


def _cli(*args, cwd=None):
  return subprocess.run(
      [sys.executable, '-c', 'import sys; from offline_rl import cli; '
       'cli.run(["offline-rl"] + sys.argv[1:])', *args], capture_output=True, text=True,
      timeout=300, cwd=cwd, env=dict(os.environ, JAX_PLATFORMS='cpu'))


def _one_line_error(result, command: str, *fragments: str) -> str:
  """Asserts exit 1 and a single `offline-rl COMMAND: error:` line holding fragments."""
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert result.returncode == 1, result.stderr[-3000:]
  assert len(lines) == 1, result.stderr[-3000:]
  assert lines[0].startswith(f'offline-rl {command}: error: '), lines[0]
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  return lines[0]


@pytest.fixture(scope='module')
def recorded(tmp_path_factory):
  path = tmp_path_factory.mktemp('faults') / 'ds'
  env = make('toy/corridor-v0', length=3, max_steps=6)
  datasets.record(env, [(toy.bot(1.0, 1300.0), toy.bot(0.5, 1000.0))], path,
                  num_episodes=4, num_envs=2, progress=False, episodes_per_shard=2,
                  log=None)
  return path


def _train(dataset, workdir, *extra):
  return _cli('train', '--config', BC, f'--config.dataset={dataset}',
              '--config.num_steps=2', '--config.batch_size=2', '--config.eval_every=0',
              '--progress=false', f'--workdir={workdir}', *extra)


@pytest.mark.parametrize('extra, fragments', [
    (['--config.batch_size=0'], ['batch_size must be >= 1, got 0']),
    (['--config.unroll_length=50'], ['longer than every selected episode']),
    (['--config.filters=rating>=9999'], ['selects no episode', 'rating ranges over']),
    (['--config.batchsize=3'], ['--config.batchsize: no such config field',
                                "Did you mean 'batch_size'?"]),
    (['--workdirr=x'], ["Unknown command line flag 'workdirr'"]),
])
def test_train_config_errors_are_one_line(recorded, tmp_path, extra, fragments):
  result = _train(recorded, tmp_path / 'run', *extra)
  _one_line_error(result, 'train', *fragments)
  assert not (tmp_path / 'run' / 'checkpoints').exists()


def test_train_path_errors_are_one_line(recorded, tmp_path):
  _one_line_error(_train(tmp_path / 'nothing', tmp_path / 'run'), 'train',
                  'does not exist')
  (tmp_path / 'afile').write_text('keep me')
  _one_line_error(_train(recorded, tmp_path / 'afile'), 'train',
                  'is a file, not a directory')
  assert (tmp_path / 'afile').read_text() == 'keep me'
  # /proc refuses new directories even to root (chmod does not stop root).
  _one_line_error(_train(recorded, '/proc/offline_rl_run'), 'train', '/proc')
  _one_line_error(_cli('train', '--config', str(tmp_path / 'none.py:bc'),
                       '--workdir', str(tmp_path / 'run')),
                  'train', 'none.py:bc: the file does not exist')


def test_traceback_flag_shows_the_traceback(recorded, tmp_path):
  result = _train(recorded, tmp_path / 'run', '--config.batch_size=0', '--traceback')
  assert result.returncode == 1 and 'Traceback (most recent call last)' in result.stderr


def test_record_into_an_unwritable_directory(tmp_path):
  result = _cli('data', 'record', '/proc/offline_rl_ds', '--env=toy/corridor-v0',
                '--matchup=corridor-bot-1,corridor-bot-0.5', '--num_episodes=2',
                '--progress=false')
  _one_line_error(result, 'data', '/proc/offline_rl_ds')


# ------------------------------------------------------------------ one writer per run


def test_second_writer_refuses_in_one_line(recorded, tmp_path):
  workdir = tmp_path / 'run'
  with rundir.RunLock(str(workdir)):
    assert (workdir / rundir.LOCK_FILE).read_text().startswith(f'{os.getpid()}@')
    result = _train(recorded, workdir)
    _one_line_error(result, 'train', f'being written by process {os.getpid()}@',
                    'choose another --workdir')
    with pytest.raises(rundir.RunLockedError):
      rundir.RunLock(str(workdir)).acquire()
  assert not (workdir / 'checkpoints').exists()  # The refused command wrote nothing.


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
  dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                        capture_output=True, text=True, check=True).stdout.strip()
  (tmp_path / rundir.LOCK_FILE).write_text(f'{dead}@host\n')
  with rundir.RunLock(str(tmp_path)) as lock:
    assert (tmp_path / rundir.LOCK_FILE).read_text().startswith(f'{os.getpid()}@')
  lock.acquire().release()  # Released: takeable again.


# ------------------------------------------------------------------ train.csv on resume


def test_resumed_run_drops_rows_past_the_restored_step(tmp_path):
  first = writers.MetricsWriter(str(tmp_path), tensorboard=False)
  for step in (10, 20, 30):
    first.write('train', step, {'loss': step})
  first.write('eval', 20, {'return': 1.0})
  first.close()
  # The checkpoint was at step 10: rows 20 and 30 describe updates that are redone.
  resumed = writers.MetricsWriter(str(tmp_path), tensorboard=False, resume_step=10)
  resumed.write('train', 20, {'loss': 2.0})
  resumed.close()
  with open(tmp_path / 'train.csv', newline='') as f:
    rows = list(csv.DictReader(f))
  assert [(r['step'], r['loss']) for r in rows] == [('10', '10.0'), ('20', '2.0')]
  with open(tmp_path / 'eval.csv', newline='') as f:
    assert list(csv.DictReader(f)) == []


# ------------------------------------------------------------------ data verify


def _copy(path, tmp_path):
  target = tmp_path / 'copy'
  shutil.copytree(path, target)
  return target


def _shards(path):
  return sorted(p for p in path.iterdir() if '-train.' in p.name)


def _damage(shard, begin=100, end=700):
  raw = bytearray(shard.read_bytes())
  for i in range(begin, end):  # Inside the first records (ArrayRecord pads its files).
    raw[i] ^= 0x5A
  shard.write_bytes(bytes(raw))


@pytest.fixture(scope='module', params=['tfrecord', 'array_record'])
def both_formats(request, recorded, tmp_path_factory):
  if request.param == 'tfrecord':
    return recorded
  return datasets.convert(recorded, tmp_path_factory.mktemp('ar') / 'ds',
                          episodes_per_shard=4).path


def test_verify_names_every_damaged_shard(both_formats, tmp_path):
  copy = _copy(both_formats, tmp_path)
  datasets.load(copy)  # Loading reads only the index: the damage is not seen yet.
  assert datasets.verify(copy)[1] == []
  for shard in _shards(copy):
    _damage(shard)
  datasets.load(copy)
  _, problems = datasets.verify(copy)
  assert len(problems) == 2
  for problem, shard in zip(problems, _shards(copy)):
    assert shard.name in problem and 're-record' in problem.lower()
  result = _cli('data', 'verify', str(copy))
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 1 and len(lines) == 2
  for line, shard in zip(lines, _shards(copy)):
    assert line.startswith('offline-rl data verify: error: ') and shard.name in line


def test_shard_length_table_that_disagrees(recorded, tmp_path):
  copy = _copy(recorded, tmp_path)
  info = json.loads((copy / 'dataset_info.json').read_text())
  info['splits'][0]['shardLengths'][0] = '3'  # The shard holds 2 episodes.
  (copy / 'dataset_info.json').write_text(json.dumps(info))
  with pytest.raises(datasets.DatasetError, match='says it holds 3 episodes but the index'):
    datasets.load(copy)
  _, problems = datasets.verify(copy)
  assert len(problems) == 1 and _shards(copy)[0].name in problems[0]


def test_corrupt_sidecar_names_the_file(recorded, tmp_path):
  copy = _copy(recorded, tmp_path)
  (copy / writer_lib.SIDE_CAR).write_text('{"env_spec": ')
  with pytest.raises(datasets.DatasetError,
                     match=f'{writer_lib.SIDE_CAR} is not valid JSON'):
    datasets.load(copy)
  _one_line_error(_cli('data', 'info', str(copy)), 'data info',
                  writer_lib.SIDE_CAR, 'not valid JSON')


def test_clean_dataset_verifies(recorded):
  result = _cli('data', 'verify', str(recorded))
  assert result.returncode == 0, result.stderr
  assert 'all 8 episodes' in result.stdout
  assert np.all(datasets.load(recorded).lengths > 0)


# ------------------------------------------------------------------ NaN and inf


def _d4rl_with_nan(path):
  import h5py  # pylint: disable=g-import-not-at-top
  n = 8
  observations = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
  observations[5, 1] = np.nan  # In the second episode (transitions 4-7).
  terminals = np.zeros(n, bool)
  terminals[[3, 7]] = True
  with h5py.File(path, 'w') as f:
    f['observations'] = observations
    f['actions'] = np.arange(n) % 2
    f['rewards'] = np.ones(n, np.float32)
    f['terminals'] = terminals
    f['next_observations'] = observations + 1
  return path


def test_importer_refuses_nan_unless_asked(tmp_path):
  source = _d4rl_with_nan(tmp_path / 'nan.hdf5')
  with pytest.raises(datasets.DatasetError,
                     match=r'episode 1 .*NaN or inf in steps/observation.*--drop_nonfinite'):
    datasets.import_d4rl(source, tmp_path / 'refused')
  assert not (tmp_path / 'refused').exists()
  assert not writer_lib.incomplete_dir(tmp_path / 'refused').exists()
  result = _cli('data', 'convert', str(source), str(tmp_path / 'cli'), '--from=d4rl')
  _one_line_error(result, 'data convert', 'NaN or inf', '--drop_nonfinite')
  result = _cli('data', 'convert', str(source), str(tmp_path / 'cli'), '--from=d4rl',
                '--drop_nonfinite')
  assert result.returncode == 0, result.stderr
  assert 'wrote 1 episodes' in result.stdout and 'skipped 1 episodes' in result.stdout
  ds = datasets.load(tmp_path / 'cli')
  assert ds.recording['dropped_nonfinite_episodes'] == 1
  assert np.isfinite(ds.episode(0)['steps']['observation']['observation']).all()


def test_train_drop_nonfinite_flag(tmp_path):
  source = _d4rl_with_nan(tmp_path / 'nan.hdf5')
  ds = datasets.import_d4rl(source, tmp_path / 'ds', drop_nonfinite=True)
  # A dataset that still holds NaN (written by another tool) stops training ...
  from offline_rl.datasets import converters  # pylint: disable=g-import-not-at-top
  flat = ds.episode_flat(0)
  flat['steps/observation/observation'] = flat['steps/observation/observation'].copy()
  flat['steps/observation/observation'][1, 0] = np.inf
  episodes = [(ds.episode_flat(0), {k: v[0] for k, v in ds.metadata.items()}),
              (flat, {k: v[0] for k, v in ds.metadata.items()})]
  path = converters.write_episodes(tmp_path / 'inf', ds.spec, episodes,
                                   nonfinite='keep').path
  result = _train(path, tmp_path / 'run')
  _one_line_error(result, 'train', 'NaN or inf', '--drop_nonfinite')
  # ... unless asked, and the run's config records that it was.
  result = _train(path, tmp_path / 'run', '--drop_nonfinite')
  assert result.returncode == 0, result.stderr[-3000:]
  assert json.loads((tmp_path / 'run' / 'config.json').read_text())['drop_nonfinite']


# ------------------------------------------------------------------ evaluation


def test_zero_games_refused_before_writing(tmp_path):
  store = tmp_path / 'results.jsonl'
  for command in ('evaluate', 'tournament'):
    result = _cli(command, '--env=toy/corridor-v0', '--agent=random', '--games=0',
                  f'--store={store}')
    _one_line_error(result, command, '--games=0')
    assert not store.exists()


def test_evaluate_missing_agent_directory(tmp_path):
  result = _cli('evaluate', '--env=toy/corridor-v0', f'--agent={tmp_path}/nothing',
                '--games=1', f'--store={tmp_path}/results.jsonl')
  _one_line_error(result, 'evaluate', f'{tmp_path}/nothing: no such directory')
  assert not (tmp_path / 'results.jsonl').exists()


def test_report_says_how_many_lines_it_skipped(tmp_path):
  store = tmp_path / 'results.jsonl'
  result = _cli('evaluate', '--env=toy/corridor-v0', '--env_kwargs={"num_players": 1}',
                '--agent=random', '--games=2', f'--store={store}', '--progress=false')
  assert result.returncode == 0, result.stderr[-3000:]
  with open(store, 'a') as f:
    f.write('{"type": "games", "id": "torn by a crash"\n{"type": "agent", "na')
  result = _cli('report', f'--store={store}', f'--out={tmp_path / "report"}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'skipped 2 torn or unreadable line(s)' in result.stderr
  assert (tmp_path / 'report' / 'report.html').exists()


def test_filter_errors_print_plain_values(recorded):
  from offline_rl import data  # pylint: disable=g-import-not-at-top
  with pytest.raises(data.FilterError) as error:
    data.make_iterator(recorded, batch_size=2, unroll_length=1,
                       filters='policy_id in bot/nobody')
  assert 'policy_id takes corridor-bot-0.5, corridor-bot-1' in str(error.value)
  assert 'np.str_' not in str(error.value)
  with pytest.raises(data.FilterError, match=r'rating is unknown \(NaN\) in every '
                     'episode'):
    data.filters.select('rating>5', {'rating': np.full(3, np.nan, np.float32)})
