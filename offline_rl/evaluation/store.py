"""The results store: an append-only JSON Lines file, safe for several processes.

Each line is one JSON object with a `type`:

* `"games"`: one shard of a match, the unit of work and of resumption:
  `{"type": "games", "id": ..., "env": ..., "players": [a, b], "seed": s,
    "first_game": i, "returns": [[ra, rb], ...], "lengths": [...], "terminal": [...],
    "swapped": [...]}` (lists in game order, returns in player order);
* `"agent"`: what is known of a player (kind, rating, training workdir), keyed by name;
* anything else a caller writes (its `type` names it); readers skip types they do not know.

Appends take an exclusive `flock` on the file and write whole lines, so processes that
share the store never interleave bytes. A line cut short by a crash is ignored when
reading (with a count in `ResultsStore.torn_lines`) and the next append starts on a fresh
line. A shard is done when a `"games"` line with its id exists; the first such line wins.
"""
from __future__ import annotations

import fcntl
import json
import os
from typing import Any, Iterator

from offline_rl.evaluation import matches


class ResultsStore:
  """An append-only JSON Lines results file (see the module docstring)."""

  def __init__(self, path: str | os.PathLike):
    self.path = os.fspath(path)
    self.torn_lines = 0

  def exists(self) -> bool:
    return os.path.exists(self.path)

  def append(self, *records: dict[str, Any]) -> None:
    """Appends records as lines under an exclusive lock, then fsyncs."""
    for record in records:
      if 'type' not in record:
        raise ValueError(f'A results record needs a "type" field; got keys {sorted(record)}.')
    text = ''.join(json.dumps(r, sort_keys=True, separators=(',', ':')) + '\n'
                   for r in records)
    os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
    with open(self.path, 'a+b') as f:
      fcntl.flock(f, fcntl.LOCK_EX)
      try:
        f.seek(0, os.SEEK_END)
        if f.tell() > 0:
          f.seek(-1, os.SEEK_END)
          if f.read(1) != b'\n':  # A previous writer died mid-line.
            f.write(b'\n')
        f.write(text.encode())
        f.flush()
        os.fsync(f.fileno())
      finally:
        fcntl.flock(f, fcntl.LOCK_UN)

  def records(self, type_: str | None = None) -> Iterator[dict[str, Any]]:
    """All complete records in file order (optionally of one type)."""
    self.torn_lines = 0
    if not self.exists():
      return
    with open(self.path, 'rb') as f:
      for line in f:
        if not line.endswith(b'\n'):
          self.torn_lines += 1
          continue
        try:
          record = json.loads(line)
        except json.JSONDecodeError:
          self.torn_lines += 1
          continue
        if type_ is None or record.get('type') == type_:
          yield record

  def games(self) -> list[dict[str, Any]]:
    """The `games` shards, first line per shard id, in file order."""
    seen, out = set(), []
    for record in self.records('games'):
      if record['id'] not in seen:
        seen.add(record['id'])
        out.append(record)
    return out

  def done_ids(self) -> set[str]:
    return {r['id'] for r in self.records('games')}

  def agents(self) -> dict[str, dict[str, Any]]:
    """name -> the latest `agent` record of that name."""
    return {r['name']: r for r in self.records('agent')}


def games_record(shard_id: str, env_id: str, players: list[str], seed: int,
                 results: matches.GameResults, **extra) -> dict[str, Any]:
  """The store line for one played shard."""
  return {
      'type': 'games', 'id': shard_id, 'env': env_id, 'players': list(players),
      'seed': int(seed), 'first_game': int(results.game[0]),
      'returns': [[round(float(x), 6) for x in row] for row in results.returns],
      'lengths': [int(x) for x in results.length],
      'terminal': [bool(x) for x in results.terminal],
      'swapped': [bool(x) for x in results.swapped],
      **extra,
  }
