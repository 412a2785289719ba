"""Running per-partition tasks: :class:`LazyFrame`, schedulers and progress.

Every lazy result of the catalog engine (a filtered catalog, a crossmatch, a join, light
curves) is a :class:`LazyFrame`: a picklable function and one argument per HATS partition.
``compute`` runs the tasks with dask -- on the active ``dask.distributed.Client`` if there is
one, else on the threaded scheduler -- and concatenates; ``to_dask`` gives a lazy dask
DataFrame with one partition per task.  Progress is a tqdm bar (``progress=True``) or
dask's own ``ProgressBar`` (``progress="dask"``, local scheduler).
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from dask.callbacks import Callback

__all__ = ["LazyFrame", "Progress", "active_client", "concat_frames"]

Progress = bool | str


def active_client() -> Any | None:
    """The active ``dask.distributed`` client, or ``None`` (never imports distributed itself)."""
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


class _TqdmCallback(Callback):
    """A dask local-scheduler callback driving a tqdm bar over the graph's tasks."""

    def __init__(self, desc: str) -> None:
        super().__init__()
        self.desc = desc
        self.bar: Any = None

    def _start_state(self, dsk: Any, state: Any) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=len(state["ready"]) + len(state["waiting"]), desc=self.desc, unit="task")

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def _finish(self, dsk: Any, state: Any, errored: bool) -> None:
        if self.bar is not None:
            self.bar.close()


def concat_frames(frames: Sequence[pd.DataFrame], meta: pd.DataFrame) -> pd.DataFrame:
    """Concatenate partition results (empty ones skipped) with a fresh index; ``meta`` if none."""
    parts = [f for f in frames if len(f)]
    if not parts:
        return meta.copy()
    keep_index = meta.index.name is not None  # e.g. nested light curves, indexed by the key
    if len(parts) == 1:
        return parts[0] if keep_index else parts[0].reset_index(drop=True)
    return pd.concat(parts, ignore_index=not keep_index)


@dataclass
class LazyFrame:
    """A lazy table: ``func(part)`` gives the rows of each partition as a pandas DataFrame.

    Parameters
    ----------
    func
        A picklable function (module level or ``functools.partial`` of one).
    parts
        One argument per partition.
    meta
        An empty frame with the result's columns and dtypes.
    name
        A label for dask keys and progress bars.
    """

    func: Callable[[Any], Any]
    parts: list[Any]
    meta: pd.DataFrame
    name: str = "lsstbox-catalog"
    #: ``func`` returns ``pyarrow.Table`` s: ``compute`` concatenates them (no copy) and converts
    #: to pandas once, with pyarrow's threads, instead of converting each and copying again
    arrow: bool = False

    @property
    def npartitions(self) -> int:
        return len(self.parts)

    def _delayed(self) -> list[Any]:
        import dask

        return [
            dask.delayed(self.func, pure=True)(p, dask_key_name=f"{self.name}-{i}")
            for i, p in enumerate(self.parts)
        ]

    def frame(self, part: Any) -> pd.DataFrame:
        """One partition's rows as pandas."""
        out = self.func(part)
        return _to_pandas(out, self.meta) if self.arrow else out

    def compute_partitions(self, progress: Progress = False) -> list[pd.DataFrame]:
        """Run every partition's task and return their frames, in partition order."""
        out = self._compute_raw(progress)
        return [_to_pandas(t, self.meta) for t in out] if self.arrow else out

    def _compute_raw(self, progress: Progress = False) -> list[Any]:
        import dask

        if not self.parts:
            return []
        tasks = self._delayed()
        client = active_client()
        if client is not None:
            futures = client.compute(tasks)
            if progress:
                from distributed import as_completed
                from tqdm.auto import tqdm

                for _ in tqdm(as_completed(futures), total=len(futures), desc=self.name, unit="part"):
                    pass
            return list(client.gather(futures))
        with contextlib.ExitStack() as stack:
            if progress == "dask":
                from dask.diagnostics import ProgressBar

                stack.enter_context(ProgressBar())
            elif progress:
                stack.enter_context(_TqdmCallback(self.name))
            return list(dask.compute(*tasks, scheduler="threads"))

    def compute(self, progress: Progress = False) -> pd.DataFrame:
        """Run all partitions and concatenate them into one frame."""
        if self.arrow:
            import pyarrow as pa

            tables = [t for t in self._compute_raw(progress) if t.num_rows]
            if not tables:
                return self.meta.copy()
            return _to_pandas(pa.concat_tables(tables, promote_options="permissive"), self.meta)
        return concat_frames(self.compute_partitions(progress), self.meta)

    def head(self, n: int = 5) -> pd.DataFrame:
        """The first ``n`` rows, reading partitions one at a time until there are enough."""
        got: list[pd.DataFrame] = []
        total = 0
        for p in self.parts:
            if total >= n:
                break
            frame = self.frame(p)
            got.append(frame)
            total += len(frame)
        return concat_frames(got, self.meta).iloc[:n]

    def to_dask(self) -> Any:
        """A lazy dask DataFrame, one partition per task (nothing is read until computed)."""
        import dask.dataframe as dd

        if not self.parts:
            return dd.from_pandas(self.meta, npartitions=1)
        func = functools.partial(_as_pandas, self.func, self.meta) if self.arrow else self.func
        return dd.from_map(func, self.parts, meta=self.meta, label=self.name, enforce_metadata=False)


def _to_pandas(table: Any, meta: pd.DataFrame) -> pd.DataFrame:
    if table.num_rows == 0:
        return meta.copy()
    return table.replace_schema_metadata(None).to_pandas()


def _as_pandas(func: Callable[[Any], Any], meta: pd.DataFrame, part: Any) -> pd.DataFrame:
    return _to_pandas(func(part), meta)
