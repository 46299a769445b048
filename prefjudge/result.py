"""RankResult: per-pair outcomes plus the judgments table they came from.

A run with ``out=`` writes its tables as parquet files in a folder and returns a
:class:`FolderRankResult`, which reads each table the first time it is accessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefjudge.io import none_for_missing, str_labels, text_as_objects
from prefjudge.types import OUTCOME_COLUMNS, RESULT_COLUMNS

if TYPE_CHECKING:
    import datasets
    import pandas as pd


@dataclass
class RankResult:
    """What ``rank_pairs`` returns (and ``aggregate`` rebuilds from recorded judgments).

    ``pairs``: one row per input pair (id, prompt, response_a, response_b, system, model_a,
    model_b, human, identical, plus any extra input columns).
    ``judgments``: the judgments table, one row per judge call.
    ``outcomes``: per-pair aggregate indexed by pair id (see :mod:`prefjudge.aggregation.jury`).
    ``meta``: provenance (judges, template hashes, order mode, seed, aggregation rule...).
    ``not_judged``: the calls that were not made and why (a budget ran out): one row per call with
    pair_id, judge, order, kind ("judge" or "reask") and reason (``"budget: max_calls=100"``);
    empty when every call was made, None when the result did not come from a run.
    """

    pairs: pd.DataFrame
    judgments: pd.DataFrame
    outcomes: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    not_judged: pd.DataFrame | None = None

    @classmethod
    def from_folder(cls, path: str | Path) -> FolderRankResult:
        """The result a run with ``out=path`` wrote (tables read when first accessed)."""
        return FolderRankResult(path)

    def to_pandas(self) -> pd.DataFrame:
        """One row per pair with the columns of :data:`prefjudge.types.RESULT_COLUMNS`.

        Failures are None (never NaN): winner, chosen, rejected, p_a, consistent, reason and every
        text column have object dtype."""
        out = str_labels(self.pairs).copy()
        oc = self.outcomes.reindex(out["id"])
        for col in OUTCOME_COLUMNS:
            out[col] = oc[col].to_numpy() if col in oc else None
        for col in self.outcomes.columns:
            if col not in OUTCOME_COLUMNS:
                out[col] = oc[col].to_numpy()
        ident = out.get("identical")
        if ident is not None:
            out.loc[ident.astype(bool), "reason"] = "identical responses (not sent to a judge)"
        skipped = self.not_judged
        if skipped is not None and len(skipped):
            why = skipped.drop_duplicates("pair_id").set_index("pair_id")["reason"]
            unjudged = (out["n_verdicts"].fillna(0) == 0) & out["id"].isin(why.index)
            out.loc[unjudged, "reason"] = ["not judged: " + why[i] for i in out.loc[unjudged, "id"]]
        w = out["winner"]
        out["chosen"] = [ra if x == "a" else rb if x == "b" else None for x, ra, rb in zip(w, out["response_a"], out["response_b"])]
        out["rejected"] = [rb if x == "a" else ra if x == "b" else None for x, ra, rb in zip(w, out["response_a"], out["response_b"])]
        out["n_verdicts"] = out["n_verdicts"].fillna(0).astype(int)
        out["n_failed"] = out["n_failed"].fillna(0).astype(int)
        for col in ("winner", "p_a", "consistent", "reason", "chosen", "rejected"):
            out[col] = none_for_missing(out[col])
        text_as_objects(out)  # every text column: None for missing, whatever dtype pandas inferred
        rest = [c for c in out.columns if c not in RESULT_COLUMNS]
        return out[list(RESULT_COLUMNS) + rest].reset_index(drop=True)

    def to_dataset(self) -> datasets.Dataset:
        import datasets

        return datasets.Dataset.from_pandas(self.to_pandas(), preserve_index=False)

    def __len__(self) -> int:
        return len(self.pairs)

    def __repr__(self) -> str:
        n_calls = len(self.judgments)
        failed = int(self.judgments["winner"].isna().sum()) if n_calls else 0
        skipped = 0 if self.not_judged is None else len(self.not_judged)
        tail = f", {skipped} calls not made" if skipped else ""
        return f"RankResult({len(self.pairs)} pairs, {n_calls} judgments, {failed} failed{tail})"


# -- results in a folder ----------------------------------------------------------------------------------
TABLES = ("pairs", "judgments", "not_judged", "outcomes")
"""The tables a run with ``out=`` writes in parts (``judgments-00000.parquet``...): the first three as
they fill, the outcomes at the end."""
JSON_COLUMNS_KEY = b"prefjudge.json_columns"
"""Parquet schema metadata: the columns stored as JSON text (chat messages, mixed types)."""


def table_files(folder: str | Path, name: str) -> list[Path]:
    """The parts of table ``name`` in ``folder``, in order."""
    return sorted(Path(folder).glob(f"{name}-[0-9][0-9][0-9][0-9][0-9]*.parquet"))


def _arrow_ok(values: list) -> bool:
    import pyarrow as pa

    try:
        pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return False
    return True


def write_frame(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` (no index) as parquet; object columns holding lists, dicts or mixed types are
    stored as JSON text and listed in the file's metadata, so :func:`read_frame` gives them back."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = df.copy(deep=False)
    encoded = []
    for col in df.columns:
        if df[col].dtype != object:
            continue
        values = df[col].tolist()
        if any(isinstance(v, (list, tuple, dict)) for v in values) or not _arrow_ok(values):
            df[col] = [None if v is None else json.dumps(v, ensure_ascii=False, default=str) for v in values]
            encoded.append(str(col))
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), JSON_COLUMNS_KEY: json.dumps(encoded)})
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)
    return path


def read_frame(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A parquet file written by :func:`write_frame` (JSON columns decoded; ``columns``: only those present)."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    if columns is not None:
        columns = [c for c in columns if c in schema.names]
    df = pq.read_table(path, columns=columns).to_pandas()
    for col in json.loads((schema.metadata or {}).get(JSON_COLUMNS_KEY, b"[]")):
        if col in df.columns:
            df[col] = [None if v is None else json.loads(v) for v in df[col].tolist()]
    return df


def read_parts(folder: str | Path, name: str, columns: list[str] | None = None) -> pd.DataFrame | None:
    """Every part of table ``name`` concatenated (None when the run wrote no part)."""
    import pandas as pd

    frames = [read_frame(f, columns) for f in table_files(folder, name)]
    frames = [f for f in frames if len(f.columns)]
    if not frames:
        return None
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def read_judgments_arrow(folder: str | Path, columns: list[str] | None = None) -> Any:
    """The judgments parts of a folder as one Arrow table in the order of the calls (``call_index``
    dropped), or None when a requested column was stored as JSON text in some part (read those
    with :func:`read_judgments_parts`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for f in table_files(folder, "judgments"):
        schema = pq.read_schema(f)
        cols = None if columns is None else [c for c in [*columns, "call_index"] if c in schema.names]
        if set(json.loads((schema.metadata or {}).get(JSON_COLUMNS_KEY, b"[]"))) & set(cols or schema.names):
            return None
        tables.append(pq.read_table(f, columns=cols))
    if not tables:
        return None
    table = pa.concat_tables(tables, promote_options="default")
    del tables
    if "call_index" in table.column_names:
        table = table.sort_by("call_index").drop_columns(["call_index"])
    pa.default_memory_pool().release_unused()  # the parts as read and before sorting: back to the system
    return table


def read_judgments_parts(folder: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """The judgments table of a folder in the order of the calls (as an in-memory run returns it).

    The parts are joined and sorted as Arrow tables and converted to pandas once (repeated strings
    shared), so a few columns of a million judgments fit in a few hundred MB."""
    import pyarrow as pa

    from prefjudge.judgments import as_objects, empty_judgments

    if not table_files(folder, "judgments"):
        return empty_judgments()
    table = read_judgments_arrow(folder, columns)
    if table is None:  # chat-message prompts or mixed types: decoded part by part
        df = read_parts(folder, "judgments", None if columns is None else [*columns, "call_index"])
        if "call_index" in df.columns:
            df = df.sort_values("call_index", kind="stable").drop(columns="call_index").reset_index(drop=True)
        return as_objects(df)
    df = table.to_pandas()
    del table
    pa.default_memory_pool().release_unused()
    return as_objects(df)


class FolderRankResult(RankResult):
    """A :class:`RankResult` kept in a folder: ``pairs``, ``judgments``, ``not_judged`` and ``outcomes``
    are read from its parquet files when first accessed, then kept. ``meta`` comes from meta.json.

    For very large runs read the parts directly instead (``pandas.read_parquet(folder, columns=...)``
    on ``judgments-*.parquet``): the tables here are whole pandas frames.
    """

    def __init__(self, folder: str | Path, meta: dict[str, Any] | None = None):
        self.folder = Path(folder)
        if meta is None:
            meta_file = self.folder / "meta.json"
            if not meta_file.is_file():
                from prefjudge.errors import InputError

                raise InputError(f"{self.folder} holds no prefjudge result (no meta.json); it is written when a "
                                 "run with out= finishes")
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        self.meta = meta
        self._tables: dict[str, Any] = {}

    def _load(self, name: str) -> Any:
        if name not in self._tables:
            self._tables[name] = getattr(self, f"_read_{name}")()
        return self._tables[name]

    def _read_pairs(self) -> pd.DataFrame:
        import pandas as pd

        df = read_parts(self.folder, "pairs")
        if df is None:
            return pd.DataFrame()
        return pd.DataFrame(df.to_dict("records")) if len(df) else df  # the dtypes an in-memory run infers

    def _read_judgments(self) -> pd.DataFrame:
        return read_judgments_parts(self.folder)

    def _read_not_judged(self) -> pd.DataFrame:
        import pandas as pd

        df = read_parts(self.folder, "not_judged")
        cols = ["pair_id", "judge", "order", "kind", "reason"]
        return pd.DataFrame(columns=cols, dtype=object) if df is None else text_as_objects(df)

    def _read_outcomes(self) -> pd.DataFrame:
        return read_outcomes(self.folder, self.meta.get("outcomes", {}))

    pairs = property(lambda self: self._load("pairs"))  # type: ignore[assignment]
    judgments = property(lambda self: self._load("judgments"))  # type: ignore[assignment]
    outcomes = property(lambda self: self._load("outcomes"))  # type: ignore[assignment]
    not_judged = property(lambda self: self._load("not_judged"))  # type: ignore[assignment]

    def __len__(self) -> int:
        return int(self.meta.get("n_pairs", 0))

    def __repr__(self) -> str:
        m = self.meta
        skipped = (m.get("budget") or {}).get("n_calls_not_made", 0)
        tail = f", {skipped} calls not made" if skipped else ""
        return (f"FolderRankResult({str(self.folder)!r}: {m.get('n_pairs', 0)} pairs, {m.get('n_judgments', 0)} judgments, "
                f"{m.get('n_failed', 0)} failed{tail})")


def outcome_info(outcomes: pd.DataFrame, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """What :func:`read_outcomes` needs to give an outcome frame back exactly (object columns, index
    name, attrs), for meta.json; ``info`` of earlier parts is extended."""
    objects = [str(c) for c in outcomes.columns if outcomes[c].dtype == object]
    if info is not None:
        return {**info, "object_columns": list(dict.fromkeys([*info["object_columns"], *objects]))}
    return {"index": str(outcomes.index.name) if outcomes.index.name is not None else None,
            "index_column": str(outcomes.index.name) if outcomes.index.name is not None else "index",
            "object_columns": objects, "attrs": json.loads(json.dumps(outcomes.attrs, default=str))}


def write_outcomes(outcomes: pd.DataFrame, path: str | Path, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write an outcome frame (or one part of it: ``outcomes-00000.parquet``...); returns its
    :func:`outcome_info` (extending ``info`` of the earlier parts)."""
    info = outcome_info(outcomes, info)
    frame = outcomes.reset_index()
    frame.columns = [info["index_column"], *[str(c) for c in outcomes.columns]]
    write_frame(frame, path)
    return info


def read_outcomes(folder: str | Path, info: dict[str, Any]) -> pd.DataFrame:
    """The outcome parts of a folder as one frame indexed by pair_id, as the run computed it."""
    import pandas as pd

    df = read_parts(folder, "outcomes")
    if df is None:
        return pd.DataFrame()
    col = info.get("index_column", "pair_id")
    if col in df.columns:
        index = pd.Index(df[col].to_numpy(dtype=object), name=info.get("index"), dtype=object)
        df = df.drop(columns=col).set_axis(index)
    for c in info.get("object_columns", []):
        if c in df.columns:
            df[c] = none_for_missing(df[c])
    df.attrs.update(info.get("attrs") or {})
    return df
