"""`offline-rl report`: tables, plots and an HTML page from a results store.

  offline-rl report --store=runs/demo/results.jsonl --out=runs/demo/report --compare=ftbc:bc

Writes report.md, PNG plots (Elo with intervals, win-rate heatmap, returns, learning
curves from the players' training logs) and a self-contained report.html into --out.
"""
from __future__ import annotations

import os
import sys

from absl import flags

from offline_rl.commands import flags as common

OUT = flags.DEFINE_string('out', None, 'Report directory (default: report/ beside the store).')
TITLE = flags.DEFINE_string('title', 'Benchmark report', 'The report\'s title.')
REFERENCE = flags.DEFINE_string('reference', None, 'Single-agent environments: the player '
                                'that scores 100 in normalised scores (default: best bot).')


def main(argv):
  del argv
  if not common.STORE.value:
    raise SystemExit('offline-rl report: --store is required: the results file to '
                     'report on.')
  from offline_rl.evaluation import report  # pylint: disable=g-import-not-at-top
  out = OUT.value or os.path.join(os.path.dirname(os.path.abspath(common.STORE.value)),
                                  'report')
  from offline_rl.evaluation import store as store_lib  # pylint: disable=g-import-not-at-top
  store = store_lib.ResultsStore(common.STORE.value)
  try:
    paths = report.write(store, out, title=TITLE.value,
                         anchor=common.ANCHOR.value, anchor_rating=common.ANCHOR_RATING.value,
                         comparisons=common.comparisons(),
                         confidence=common.CONFIDENCE.value,
                         num_samples=common.BOOTSTRAP.value, reference=REFERENCE.value)
  except (FileNotFoundError, ValueError, KeyError) as error:
    message = error.args[0] if error.args else error
    raise SystemExit(f'offline-rl report: {message}') from error
  for kind, path in paths.items():
    print(f'{kind:>28}: {path}')
  if store.torn_lines:
    print(f'offline-rl report: skipped {store.torn_lines} torn or unreadable line(s) of '
          f'{store.path} (a writer stopped mid-line); the report leaves them out.',
          file=sys.stderr)
