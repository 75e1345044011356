"""Episode filters over dataset metadata, in a CLI-friendly string form.

Grammar: comma-separated conditions, all of which must hold:

    rating>=1200                      numeric comparison: == != >= <= > <
    outcome==1
    policy_id==bot/rush-3             text equality (or !=)
    policy_id in bot/rush-3,bot/econ-4        membership: the values after "in"
    policy_id not in corridor-bot-0           run until the next condition

e.g. "rating>=1200,outcome==1,policy_id in bot/rush-3,bot/econ-4". A value containing
a comma cannot be given in this form; pass a list of conditions instead.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Callable, Mapping, Sequence

import numpy as np

from offline_rl import errors

_COMPARE = re.compile(r'^\s*([A-Za-z_][\w/.-]*)\s*(==|!=|>=|<=|>|<)\s*(.*?)\s*$')
_MEMBER = re.compile(r'^\s*([A-Za-z_][\w/.-]*)\s+(not\s+in|in)\s+(.*?)\s*$')


class FilterError(errors.UserError, ValueError):
  """A filter cannot be parsed, names an unknown field, or selects nothing."""


@dataclasses.dataclass(frozen=True)
class Condition:
  field: str
  op: str  # one of == != >= <= > < in notin
  values: tuple[str, ...]

  def __str__(self):
    if self.op in ('in', 'notin'):
      return f'{self.field} {"in" if self.op == "in" else "not in"} {",".join(self.values)}'
    return f'{self.field}{self.op}{self.values[0]}'


def parse(text: str | Sequence[str] | None) -> list[Condition]:
  """Parses the string form (or a list of condition strings) into conditions."""
  if text is None:
    return []
  parts = [text] if isinstance(text, str) else list(text)
  tokens = []
  for part in parts:
    tokens += [t for t in part.split(',')] if isinstance(text, str) else [part]
  conditions: list[Condition] = []
  for token in tokens:
    if not token.strip():
      continue
    member = _MEMBER.match(token)
    compare = _COMPARE.match(token)
    if member:
      op = 'in' if member.group(2) == 'in' else 'notin'
      values = tuple(v.strip() for v in member.group(3).split(',') if v.strip())
      conditions.append(Condition(member.group(1), op, values))
    elif compare:
      conditions.append(Condition(compare.group(1), compare.group(2),
                                  (compare.group(3),)))
    elif conditions and conditions[-1].op in ('in', 'notin'):
      last = conditions[-1]
      conditions[-1] = Condition(last.field, last.op, last.values + (token.strip(),))
    else:
      raise FilterError(
          f'cannot parse filter condition {token.strip()!r}. Use FIELD OP VALUE with OP '
          'one of == != >= <= > <, or FIELD in V1,V2; e.g. "rating>=1200,outcome==1".')
  return conditions


def _compare(column: np.ndarray, op: str, value: str, field: str) -> np.ndarray:
  numeric = column.dtype.kind in 'biuf'
  if numeric:
    try:
      number = float(value)
    except ValueError:
      raise FilterError(f'{field} is numeric; {value!r} is not a number.') from None
    column = column.astype(np.float64)
    rhs = number
  else:
    column = column.astype(str)
    rhs = value
    if op not in ('==', '!='):
      raise FilterError(f'{field} holds text; only == != in and not in apply to it.')
  return {'==': np.equal, '!=': np.not_equal, '>=': np.greater_equal,
          '<=': np.less_equal, '>': np.greater, '<': np.less}[op](column, rhs)


def evaluate(conditions, metadata: Mapping[str, np.ndarray]) -> np.ndarray:
  """[E] bool: episodes satisfying every condition (callables get the metadata)."""
  num = len(next(iter(metadata.values()))) if metadata else 0
  keep = np.ones(num, bool)
  for condition in conditions:
    if callable(condition):
      keep &= np.asarray(condition(metadata), bool)
      continue
    if condition.field not in metadata:
      known = ', '.join(sorted(k for k, v in metadata.items() if np.ndim(v) == 1))
      raise FilterError(f'filter {condition}: the dataset has no metadata field '
                        f'{condition.field!r}. Fields: {known}.')
    column = np.asarray(metadata[condition.field])
    if condition.op in ('in', 'notin'):
      if column.dtype.kind in 'biuf':
        try:
          values = [float(v) for v in condition.values]
        except ValueError:
          raise FilterError(f'{condition.field} is numeric; {condition.values} are '
                            'not all numbers.') from None
        hit = np.isin(column.astype(np.float64), values)
      else:
        hit = np.isin(column.astype(str), list(condition.values))
      keep &= hit if condition.op == 'in' else ~hit
    else:
      keep &= _compare(column, condition.op, condition.values[0], condition.field)
  return keep


def _describe_values(field: str, column: np.ndarray) -> str:
  """What a metadata column holds, for the message of a filter that selects nothing."""
  if column.dtype.kind in 'biuf':
    known = column[~np.isnan(column.astype(np.float64))]
    if not known.size:
      return f'{field} is unknown (NaN) in every episode'
    return f'{field} ranges over [{known.min():g}, {known.max():g}]'
  values = sorted(set(column.astype(str).tolist()))  # Python str: no np.str_ in text.
  return f'{field} takes {", ".join(values[:8])}{" ..." if len(values) > 8 else ""}'


def select(filters: str | Sequence | Callable | None,
           metadata: Mapping[str, np.ndarray]) -> np.ndarray:
  """[E] bool mask of the episodes a filter keeps; raises FilterError if none."""
  if filters is None or (isinstance(filters, (str, list, tuple)) and not filters):
    conditions = []
  elif callable(filters):
    conditions = [filters]
  elif isinstance(filters, str):
    conditions = parse(filters)
  else:
    conditions = []
    for f in filters:
      conditions += [f] if callable(f) or isinstance(f, Condition) else parse([f])
  keep = evaluate(conditions, metadata)
  if conditions and not keep.any():
    text = ', '.join(str(c) for c in conditions)
    ranges = []
    for c in conditions:
      if isinstance(c, Condition) and c.field in metadata:
        col = np.asarray(metadata[c.field])
        ranges.append(_describe_values(c.field, col))
    raise FilterError(f'the filter "{text}" selects no episode of {len(keep)}. '
                      + ('; '.join(ranges) + '.' if ranges else '')
                      + ' Loosen the filter.')
  return keep
