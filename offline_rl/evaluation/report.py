"""The report: a Markdown table, PNG plots and a self-contained HTML page.

`write(store, out_dir, ...)` writes into `out_dir`:

* `report.md`: per environment, the rating table (Elo with its interval, games,
  robustness, win rate against the strongest bot), the head-to-head comparisons
  (does FT-BC beat BC? win rate with its interval and the number of games, the Elo
  difference with its interval) and, for single-agent environments, returns with
  intervals, normalised scores and IQMs;
* `elo_<env>.png` (bar chart with intervals), `winrate_<env>.png` (heatmap),
  `returns_<env>.png`, and `learning_curves.png` from the players' training logs (CSV
  files in their run directories);
* `report.html`: the same tables with the images inlined as base64, one file to open.
"""
from __future__ import annotations

import base64
import csv
import glob
import html
import io
import math
import os
import re
from typing import Any, Sequence

import numpy as np

from offline_rl.evaluation import analysis
from offline_rl.evaluation import store as store_lib

KIND_COLOURS = {'bot': '#9e9e9e', 'agent': '#1f77b4', 'random': '#d62728'}


def _pct(x: float) -> str:
  return '–' if x is None or (isinstance(x, float) and math.isnan(x)) else f'{100 * x:.0f}%'


def _num(x: float, fmt: str = '.0f') -> str:
  return '–' if x is None or math.isnan(x) else format(x, fmt)


def _slug(text: str) -> str:
  return re.sub(r'[^A-Za-z0-9]+', '_', text).strip('_')


class Table:
  """Rows of strings rendered as Markdown or HTML."""

  def __init__(self, header: Sequence[str], rows: Sequence[Sequence[str]]):
    self.header, self.rows = list(header), [list(r) for r in rows]

  def markdown(self) -> str:
    lines = ['| ' + ' | '.join(self.header) + ' |',
             '|' + '|'.join('---' for _ in self.header) + '|']
    lines += ['| ' + ' | '.join(r) + ' |' for r in self.rows]
    return '\n'.join(lines)

  def html(self) -> str:
    head = ''.join(f'<th>{html.escape(h)}</th>' for h in self.header)
    body = ''.join('<tr>' + ''.join(f'<td>{html.escape(c)}</td>' for c in r) + '</tr>'
                   for r in self.rows)
    return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def rating_table(s: analysis.TwoPlayerSummary) -> Table:
  r = s.ratings
  level = f'{100 * s.confidence:.0f}%'
  order = np.argsort(-r.rating)
  rows = []
  for i in order:
    name = r.names[i]
    info = s.info.get(name, {})
    interval = ('anchor' if name == r.anchor
                else f'[{r.lower[i]:.0f}, {r.upper[i]:.0f}]')
    rows.append([name, info.get('kind', '?'), f'{r.rating[i]:.0f}', interval,
                 str(int(r.games[i])), _pct(s.robustness[i]), _pct(s.vs_reference[i])])
  ref = s.reference or 'reference'
  return Table(['player', 'kind', 'Elo', f'Elo {level} interval', 'games', 'robustness',
                f'win rate vs {ref}'], rows)


def _rate_cells(c) -> list[str]:
  """A comparison's first cells: the pair, its win rate, interval over games, games."""
  return [f'{c.a} vs {c.b}', _pct(c.win_rate), f'[{_pct(c.win_lower)}, {_pct(c.win_upper)}]',
          str(c.games)]


def comparison_table(s: analysis.TwoPlayerSummary) -> Table:
  level = f'{100 * s.confidence:.0f}%'
  rows = []
  for c in s.comparisons:
    rows.append(_rate_cells(c) + [
        f'{c.elo_diff:+.0f}', f'[{c.elo_lower:+.0f}, {c.elo_upper:+.0f}]',
        _pct(c.prob_better), c.verdict])
  return Table(['comparison', 'win rate', f'{level} interval', 'games', 'Elo difference',
                f'{level} interval', 'P(better) (bootstrap)', 'verdict'], rows)


def agents_table(s: analysis.TwoPlayerSummary) -> Table:
  """One row an agent, strongest first: its Elo with the seeds pooled (interval over
  games), each seed's Elo, their mean (interval over seeds and games), its win rate
  against the strongest bot, robustness and games."""
  level = f'{100 * s.confidence:.0f}%'
  rows = []
  for g in sorted(s.agents, key=lambda g: -g.elo):
    rows.append([g.name, str(len(g.players)), f'{g.elo:.0f}',
                 f'[{g.elo_lower:.0f}, {g.elo_upper:.0f}]',
                 ' '.join(f'{e:.0f}' for e in g.seed_elos),
                 f'{g.mean_elo:.0f} [{g.mean_lower:.0f}, {g.mean_upper:.0f}]',
                 f'{_pct(g.vs_reference)} [{_pct(g.vs_lower)}, {_pct(g.vs_upper)}]',
                 _pct(g.robustness), str(g.games)])
  ref = s.reference or 'reference'
  return Table(['agent', 'seeds', 'Elo', f'{level} interval (games)', 'Elo per seed',
                f'mean over seeds [{level}: seeds, games]', f'vs {ref} [{level}]',
                'robustness', 'games'], rows)


def seed_comparison_table(s: analysis.TwoPlayerSummary) -> Table:
  level = f'{100 * s.confidence:.0f}%'
  rows = []
  for c in s.seed_comparisons:
    rows.append(_rate_cells(c) + [
        ' '.join(_pct(r) for r in c.seed_rates),
        f'{_pct(c.mean_rate)} [{_pct(c.seed_lower)}, {_pct(c.seed_upper)}]',
        f'{c.elo_diff:+.0f} [{c.elo_lower:+.0f}, {c.elo_upper:+.0f}]', c.verdict])
  return Table(['comparison', 'win rate', f'{level} interval (games)', 'games',
                'per seed', f'mean over seeds [{level}: seeds, games]',
                f'Elo difference [{level}]', 'verdict'], rows)


def goals(s: analysis.TwoPlayerSummary, *, goal_vs_reference: float | None = None,
          paper_order: Sequence[str] = ()) -> list[str]:
  """Markdown bullets: each comparison's claim, the best agent against the strongest
  bot, and how much of the paper's Elo order the agents reproduce."""
  level = f'{100 * s.confidence:.0f}%'
  out = []
  for c in s.seed_comparisons:
    held = ('holds' if c.verdict == f'{c.a} beats {c.b}' else
            'reversed' if c.verdict == f'{c.b} beats {c.a}' else 'not shown')
    out.append(f'- {c.a} beats {c.b}: **{held}** (mean over seeds '
               f'{_pct(c.mean_rate)}, {level} interval [{_pct(c.seed_lower)}, '
               f'{_pct(c.seed_upper)}]; {c.games} games).')
  if s.agents and s.reference and goal_vs_reference is not None:
    best = max(s.agents, key=lambda g: g.elo)
    met = 'met' if best.vs_reference >= goal_vs_reference else 'missed'
    out.append(f'- The best agent ({best.name}, Elo {best.elo:.0f}) beats the strongest '
               f'bot ({s.reference}) in at least {_pct(goal_vs_reference)} of games: '
               f'**{met}** ({_pct(best.vs_reference)} [{_pct(best.vs_lower)}, '
               f'{_pct(best.vs_upper)}] over {best.vs_games} games).')
  elo = {g.name: g.elo for g in s.agents}
  order = [n for n in paper_order if n in elo]
  if len(order) > 1:
    pairs = [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]
    agree = sum(elo[a] > elo[b] for a, b in pairs)
    ours = ' > '.join(sorted(order, key=lambda n: -elo[n]))
    out.append(f'- The paper\'s Elo order {" > ".join(order)}: {agree} of {len(pairs)} '
               f'pairs agree here ({ours}, seeds pooled).')
  return out


def single_agent_table(s: analysis.SingleAgentSummary) -> Table:
  level = f'{100 * s.confidence:.0f}%'
  rows = []
  for name, e in sorted(s.returns.items(), key=lambda kv: -kv[1].value):
    norm = s.normalized[name] if s.normalized else float('nan')
    rows.append([name, s.info.get(name, {}).get('kind', '?'), f'{e.value:.3g}',
                 f'[{e.lower:.3g}, {e.upper:.3g}]', str(e.count), _num(norm, '.1f')])
  return Table(['player', 'kind', 'mean return', f'{level} interval', 'episodes',
                f'normalised (random 0, {s.reference or "reference"} 100)'], rows)


def group_table(s: analysis.SingleAgentSummary) -> Table:
  rows = [[g, f'{e.value:.3g}', f'[{e.lower:.3g}, {e.upper:.3g}]', str(e.count)]
          for g, e in s.groups.items()]
  return Table(['agent (runs)', 'IQM', 'stratified bootstrap interval', 'runs'], rows)


def win_matrix_table(s: analysis.TwoPlayerSummary) -> Table:
  """Strongest first; the columns are numbered by the `#` column, so the matrix stays
  a few characters wide per player however long the names (it fits a 1280 px page)."""
  from offline_rl import ratings  # pylint: disable=g-import-not-at-top
  rates = ratings.win_rate_matrix(s.counts)
  order = list(np.argsort(-s.ratings.rating))
  rows = [[s.counts.names[i], str(a + 1)] + ['' if i == j else _pct(rates[i, j])
                                             for j in order]
          for a, i in enumerate(order)]
  return Table(['row beats column', '#'] + [str(b + 1) for b in range(len(order))], rows)


# Plots ---------------------------------------------------------------------------------


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def plot_elo(s: analysis.TwoPlayerSummary, path: str) -> None:
  plt = _pyplot()
  r = s.ratings
  order = np.argsort(r.rating)
  names = [r.names[i] for i in order]
  fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.4))
  colours = [KIND_COLOURS.get(s.info.get(n, {}).get('kind'), '#2ca02c') for n in names]
  lo = r.rating[order] - r.lower[order]
  hi = r.upper[order] - r.rating[order]
  base = min(r.lower.min(), r.rating.min()) - 100
  ax.barh(names, r.rating[order] - base, left=base, color=colours,
          xerr=np.stack([lo, hi]), capsize=3, ecolor='black')
  for y, (v, top) in enumerate(zip(r.rating[order], r.upper[order])):
    ax.text(max(v, top), y, f'  {v:.0f}', va='center', ha='left', fontsize=8)
  ax.set_xlim(right=max(r.upper.max(), r.rating.max()) + 0.12 * (r.upper.max() - base))
  ax.axvline(r.anchor_rating, color='black', lw=0.8, ls='--')
  ax.set_xlabel(f'Elo ({r.anchor} = {r.anchor_rating:.0f}); bars: '
                f'{100 * r.confidence:.0f}% bootstrap intervals')
  ax.set_title(f'Elo ratings — {s.env_id} ({s.total_games} games)')
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def plot_win_matrix(s: analysis.TwoPlayerSummary, path: str) -> None:
  plt = _pyplot()
  from offline_rl import ratings  # pylint: disable=g-import-not-at-top
  order = list(np.argsort(-s.ratings.rating))
  names = [s.counts.names[i] for i in order]
  rates = ratings.win_rate_matrix(s.counts)[np.ix_(order, order)]
  games = s.counts.games[np.ix_(order, order)]
  size = 0.6 * len(names) + 2.5
  fig, ax = plt.subplots(figsize=(size + 1, size))
  image = ax.imshow(np.ma.masked_invalid(rates), cmap='RdBu', vmin=0, vmax=1)
  for a in range(len(names)):
    for b in range(len(names)):
      if a != b and not math.isnan(rates[a, b]):
        ax.text(b, a, f'{100 * rates[a, b]:.0f}\n({games[a, b]})', ha='center',
                va='center', fontsize=7,
                color='white' if abs(rates[a, b] - 0.5) > 0.3 else 'black')
  ax.set_xticks(range(len(names)), names, rotation=45, ha='right')
  ax.set_yticks(range(len(names)), names)
  ax.set_xlabel('column player')
  ax.set_ylabel('row player')
  ax.set_title(f'Row win rate vs column, % (games) — {s.env_id}')
  fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label='row win rate')
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def plot_returns(s: analysis.SingleAgentSummary, path: str) -> None:
  plt = _pyplot()
  items = sorted(s.returns.items(), key=lambda kv: kv[1].value)
  names = [n for n, _ in items]
  values = np.array([e.value for _, e in items])
  err = np.array([[e.value - e.lower for _, e in items], [e.upper - e.value for _, e in items]])
  fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.4))
  ax.barh(names, values, xerr=err, capsize=3,
          color=[KIND_COLOURS.get(s.info.get(n, {}).get('kind'), '#2ca02c') for n in names])
  ax.set_xlabel(f'mean return, {100 * s.confidence:.0f}% bootstrap intervals')
  ax.set_title(f'Returns — {s.env_id}')
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def read_training_logs(workdir: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """metric -> (steps, values) from the CSV logs under a run directory.

  A log is any `*.csv` with a header (the learner writes `train.csv`, `eval.csv`); its
  x axis is the `step` column (or the first); metrics are named '<file stem>/<column>'.
  """
  curves: dict[str, tuple[list[float], list[float]]] = {}
  for path in sorted(glob.glob(os.path.join(workdir, '**', '*.csv'), recursive=True)):
    with open(path, newline='') as f:
      rows = list(csv.DictReader(f))
    if not rows:
      continue
    columns = list(rows[0])
    x_col = 'step' if 'step' in columns else columns[0]
    stem = os.path.splitext(os.path.basename(path))[0]
    for col in columns:
      if col == x_col:
        continue
      xs, ys = curves.setdefault(f'{stem}/{col}', ([], []))
      for row in rows:
        try:
          x, y = float(row[x_col]), float(row[col])
        except (TypeError, ValueError):
          continue
        if math.isfinite(y):
          xs.append(x)
          ys.append(y)
  return {k: (np.asarray(x), np.asarray(y)) for k, (x, y) in curves.items() if x}


def _validation_of(metric: str) -> str:
  """'train/loss' -> 'train/validation_loss' (<log file>/<column>): the learner's
  held-out twin of a metric."""
  log, _, column = metric.partition('/')
  return f'{log}/validation_{column}'


def _curve_metrics(logs: dict[str, dict[str, Any]]) -> list[str]:
  """Up to 4 panels, losses first; a validation metric shares its training twin's."""
  metrics = sorted({m for curves in logs.values() for m in curves})
  validation = {_validation_of(m) for m in metrics}
  metrics = [m for m in metrics if m not in validation]
  preferred = [m for m in metrics if 'loss' in m or 'accuracy' in m or 'win' in m]
  return (preferred or metrics)[:4]


def plot_learning_curves(logs: dict[str, dict[str, Any]], path: str,
                         offsets: dict[str, float] | None = None) -> dict[str, list[str]]:
  """One panel per metric (losses first), one line per player, dashed in the same
  colour for the metric on the held-out validation episodes where the run logged it.
  Returns {panel: its lines' labels}, empty (and nothing drawn) without logs.

  `offsets` shifts a player's steps (a fine-tuning run continues its parent's).
  """
  metrics = _curve_metrics(logs)
  if not metrics:
    return {}
  offsets = offsets or {}
  plt = _pyplot()
  cols = min(2, len(metrics))
  rows = (len(metrics) + cols - 1) // cols
  fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.3 * rows), squeeze=False)
  panels = {}
  for ax, metric in zip(axes.flat, metrics):
    for name, curves in sorted(logs.items()):
      colour = None
      for key, label, style in ((metric, name, '-'),
                                (_validation_of(metric), f'{name} (validation)', '--')):
        if key in curves:
          x, y = curves[key]
          line, = ax.plot(x + offsets.get(name, 0.0), y, style, label=label, lw=1.2,
                          color=colour, marker='o' if len(x) < 30 else None, ms=3)
          colour = line.get_color()
    ax.set_title(metric)
    panels[metric] = [line.get_label() for line in ax.get_lines()]
    ax.set_xlabel('update step')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  for ax in list(axes.flat)[len(metrics):]:
    ax.axis('off')
  fig.suptitle('Training curves (from the run directories\' CSV logs; dashed: '
               'held-out validation episodes)')
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return panels


# The whole report ---------------------------------------------------------------------


def write(store: store_lib.ResultsStore | str, out_dir: str, *, title: str = 'Benchmark report',
          anchor: str | None = None, anchor_rating: float = 1000.0,
          comparisons: Sequence[tuple[str, str]] = (), confidence: float = 0.95,
          num_samples: int = 1000, seed: int = 0, reference: str | None = None,
          notes: Sequence[str] = (), goal_vs_reference: float | None = None,
          paper_order: Sequence[str] = ()) -> dict[str, str]:
  """Writes report.md, the PNGs and report.html into out_dir; returns their paths.

  With agents over training seeds (players recorded with a `group`), also `table.md`:
  the agents, the comparisons and the goals, for a README to paste.
  """
  if isinstance(store, str):
    store = store_lib.ResultsStore(store)
  summaries = analysis.summarize(store, anchor=anchor, anchor_rating=anchor_rating,
                                 comparisons=comparisons, confidence=confidence,
                                 num_samples=num_samples, seed=seed, reference=reference)
  os.makedirs(out_dir, exist_ok=True)
  md = [f'# {title}', '']
  md += [n for n in notes] + ([''] if notes else [])
  md.append(f'Results store: `{store.path}`.')
  md.append('')
  parts = [f'<h1>{html.escape(title)}</h1>']
  parts += [f'<p>{html.escape(n)}</p>' for n in notes]
  images: dict[str, str] = {}

  def image(name: str) -> str:
    path = os.path.join(out_dir, name)
    images[name] = path
    return path

  for s in summaries:
    md.append(f'## {s.env_id}')
    parts.append(f'<h2>{html.escape(s.env_id)}</h2>')
    if isinstance(s, analysis.TwoPlayerSummary):
      r = s.ratings
      head = (f'{s.total_games} games. Elo by maximum likelihood (Bradley–Terry, draws '
              f'as half wins), anchored at {r.anchor} = {r.anchor_rating:.0f}; '
              f'{100 * s.confidence:.0f}% intervals from {len(r.samples)} bootstrap '
              'resamples of the games of each pairing. Robustness = 1 − the best win '
              'rate any other player achieves against the player.')
      tables = [('Ratings', rating_table(s))]
      if s.comparisons:
        tables.insert(0, ('Head to head', comparison_table(s)))
      if s.agents:
        seeds = s.seeds_text
        tables[:0] = [('Agents across seeds', agents_table(s))] + (
            [('Comparisons across seeds', seed_comparison_table(s))]
            if s.seed_comparisons else [])
        bullets = goals(s, goal_vs_reference=goal_vs_reference, paper_order=paper_order)
        table_md = [f'{s.total_games} games of {s.env_id}, {seeds}; Elo anchored at '
                    f'{r.anchor} = {r.anchor_rating:.0f}.', '',
                    agents_table(s).markdown(), '']
        if s.seed_comparisons:
          table_md += [seed_comparison_table(s).markdown(), '']
        table_md += bullets
        images['table'] = os.path.join(out_dir, 'table.md')
        with open(images['table'], 'w') as f:
          f.write('\n'.join(table_md) + '\n')
        head += f' Agents: {seeds}.'
        tables.insert(0, ('Goals', bullets))
      tables.append(('Win-rate matrix (row beats column)', win_matrix_table(s)))
      elo_png, win_png = f'elo_{_slug(s.env_id)}.png', f'winrate_{_slug(s.env_id)}.png'
      plot_elo(s, image(elo_png))
      plot_win_matrix(s, image(win_png))
      pngs = [elo_png, win_png]
    else:
      head = (f'Mean return per player with {100 * s.confidence:.0f}% bootstrap '
              'intervals; normalised scores put random at 0 and '
              f'{s.reference or "the reference"} at 100.')
      tables = [('Returns', single_agent_table(s))]
      if s.groups:
        tables.append(('IQM across runs', group_table(s)))
      ret_png = f'returns_{_slug(s.env_id)}.png'
      plot_returns(s, image(ret_png))
      pngs = [ret_png]
    md += [head, '']
    parts.append(f'<p>{html.escape(head)}</p>')
    for caption, table in tables:
      if isinstance(table, Table):
        md += [f'### {caption}', '', table.markdown(), '']
        parts += [f'<h3>{html.escape(caption)}</h3>', table.html()]
      else:  # Bullets.
        md += [f'### {caption}', ''] + table + ['']
        parts += [f'<h3>{html.escape(caption)}</h3><ul>'] + [
            f'<li>{html.escape(b[2:].replace("**", ""))}</li>' for b in table] + ['</ul>']
    md += [f'![{p}]({p})' for p in pngs] + ['']
    parts += [_img_tag(os.path.join(out_dir, p)) for p in pngs]

  logs, offsets = {}, {}
  for name, record in _first_seeds(store.agents()).items():
    workdir = record.get('workdir')
    if workdir and os.path.isdir(workdir):
      curves = read_training_logs(workdir)
      if curves:
        logs[name] = curves
        offsets[name] = float(record.get('step_offset', 0.0))
  if logs and plot_learning_curves(logs, image('learning_curves.png'), offsets):
    md += ['## Training', '', '![learning curves](learning_curves.png)', '']
    parts += ['<h2>Training</h2>', _img_tag(os.path.join(out_dir, 'learning_curves.png'))]

  md_path = os.path.join(out_dir, 'report.md')
  with open(md_path, 'w') as f:
    f.write('\n'.join(md))
  html_path = os.path.join(out_dir, 'report.html')
  with open(html_path, 'w') as f:
    f.write(_page(title, '\n'.join(parts)))
  return {'markdown': md_path, 'html': html_path, **images}


TABLE_BEGIN = '<!-- unplugged table: begin (pasted by the recipe; do not edit) -->'
TABLE_END = '<!-- unplugged table: end -->'


def paste_table(table_path: str, document: str, header: str) -> None:
  """Replaces what lies between TABLE_BEGIN and TABLE_END in `document` (a README)
  with `header` and the recipe's table.md, so the document shows the run's own table.

  Raises:
    ValueError: the document lacks the two markers (the message names them).
  """
  with open(document) as f:
    text = f.read()
  if TABLE_BEGIN not in text or TABLE_END not in text:
    raise ValueError(f'{document} has no place for the table: put the lines\n'
                     f'{TABLE_BEGIN}\n{TABLE_END}\nwhere it goes.')
  with open(table_path) as f:
    table = f.read().strip()
  before, rest = text.split(TABLE_BEGIN, 1)
  after = rest.split(TABLE_END, 1)[1]
  with open(document, 'w') as f:
    f.write(f'{before}{TABLE_BEGIN}\n{header}\n\n{table}\n{TABLE_END}{after}')


def _first_seeds(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
  """The players' records with one training seed (the first) of each agent, by the
  agent's name, so the learning curves draw one line an agent."""
  out, seen = {}, set()
  for name, record in sorted(records.items(), key=lambda kv: kv[1].get('seed', 0)):
    group = record.get('group')
    if group is None:
      out[name] = record
    elif group not in seen:
      seen.add(group)
      out[group] = record
  return out


def _img_tag(path: str) -> str:
  with open(path, 'rb') as f:
    data = base64.b64encode(f.read()).decode()
  return f'<img alt="{html.escape(os.path.basename(path))}" src="data:image/png;base64,{data}">'


def _page(title: str, body: str) -> str:
  style = ('body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;'
           'padding:0 1em;color:#222}table{border-collapse:collapse;margin:0.5em 0 1.5em}'
           'th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}'
           'th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}'
           'img{max-width:100%;display:block;margin:1em 0}')
  return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}'
          f'</title><style>{style}</style></head><body>{body}</body></html>\n')


def console_tables(summaries) -> list[tuple[str, Table]]:
  """(title, table) pairs for printing a summary to a terminal."""
  out = []
  for s in summaries:
    if isinstance(s, analysis.TwoPlayerSummary):
      if s.comparisons:
        out.append((f'{s.env_id}: head to head', comparison_table(s)))
      out.append((f'{s.env_id}: ratings ({s.total_games} games)', rating_table(s)))
    else:
      out.append((f'{s.env_id}: returns', single_agent_table(s)))
      if s.groups:
        out.append((f'{s.env_id}: IQM across runs', group_table(s)))
  return out


def rich_table(title: str, table: Table):
  """`table` as a rich Table that never cuts a player's name: the first column keeps
  its full width and the others wrap (a long word folds) instead of ending in '…'."""
  from rich import table as rich_table_lib  # pylint: disable=g-import-not-at-top
  t = rich_table_lib.Table(title=title)
  names = max([len(table.header[0])] + [len(row[0]) for row in table.rows])
  t.add_column(table.header[0], no_wrap=True, min_width=names)
  for h in table.header[1:]:
    t.add_column(h, overflow='fold')
  for row in table.rows:
    t.add_row(*row)
  return t


def print_summaries(summaries, console=None) -> None:
  """Prints the summary tables with rich (to `console`, by default the terminal)."""
  from rich import console as rich_console  # pylint: disable=g-import-not-at-top
  console = console or rich_console.Console()
  for title, table in console_tables(summaries):
    console.print(rich_table(title, table))
