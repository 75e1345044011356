"""Skirmish records, replays and the HTML viewer (screenshot in headless Chromium)."""
import os
import shutil
import subprocess
import tempfile

import jax
import numpy as np
import pytest

from offline_rl.environments import make
from offline_rl.environments.skirmish import bots
from offline_rl.environments.skirmish import render


@pytest.fixture(scope='module')
def game_record():
  env = make('skirmish/8x8')
  policies = [bots.bot('rush-7', env), bots.bot('harass-2', env)]
  actions, states = render.record(env, policies, seed=5)
  return env, actions, states


def test_replay_from_seed_and_actions_is_identical(game_record, tmp_path):
  env, actions, states = game_record
  path = str(tmp_path / 'game.npz')
  render.save_record(path, 5, actions, {'size': 8})
  seed, loaded, meta = render.load_record(path)
  again = render.replay(env, seed, loaded)
  for x, y in zip(jax.tree.leaves(again), jax.tree.leaves(states)):
    np.testing.assert_array_equal(x, y)
  assert meta == {'size': 8}
  assert bool(states.done[-1])  # the game was played to its end


def test_rgb_frames_show_fog(game_record):
  env, _, states = game_record
  state = jax.tree.map(lambda x: x[len(x) // 2], states)
  full = render.frame(env, state)
  fogged = render.frame(env, state, seat=0)
  assert full.shape == (64, 64, 3) and full.dtype == np.uint8
  assert fogged.mean() < full.mean()  # unseen cells are dimmed
  with pytest.raises(ValueError, match='seat must be'):
    render.frame(env, state, seat=2)


def _chromium():
  return shutil.which('chromium') or shutil.which('chromium-browser')


@pytest.mark.skipif(_chromium() is None,
                    reason='needs Debian chromium: apt-get install -y chromium')
def test_html_viewer_screenshot(game_record, tmp_path):
  env, _, states = game_record
  html = render.write_html(str(tmp_path / 'replay.html'), env, states, title='Test game')
  text = open(html).read()
  assert 'timeline' in text and 'http' not in text.split('<script>')[1]  # self-contained
  shots = {}
  for view in ('full', '0'):
    png = str(tmp_path / f'shot_{view}.png')
    with tempfile.TemporaryDirectory() as profile:
      subprocess.run(
          [_chromium(), '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
           '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', f'--user-data-dir={profile}',
           '--window-size=800,800', f'--screenshot={png}',
           f'file://{html}#tick={len(states.tick) // 2}&view={view}'],
          check=True, timeout=120, capture_output=True)
    assert os.path.getsize(png) > 5000
    import matplotlib.image  # pylint: disable=g-import-not-at-top
    shots[view] = matplotlib.image.imread(png)[..., :3]
  for image in shots.values():
    pixels = (image * 255).astype(int)
    blue = np.sum((pixels[..., 2] > 180) & (pixels[..., 0] < 80))
    red = np.sum((pixels[..., 0] > 180) & (pixels[..., 2] < 80) & (pixels[..., 1] < 80))
    assert blue > 50, 'the blue player is drawn'
    assert red > 0 or image is shots['0'], 'the red player is drawn on the full map'
  # The fogged view is darker than the full map.
  assert shots['0'].mean() < shots['full'].mean()
