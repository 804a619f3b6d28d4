"""A connection to a dyntag server and the helpers a notebook user wants."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence, Union

import adbc_driver_flightsql.dbapi as flight_sql
import pandas as pd
import pyarrow as pa
from adbc_driver_flightsql import DatabaseOptions

#: The kinds of `dt_` tables of a tag group.
MODALITIES = ("visual", "transcript", "shot", "video")

Items = Union[pd.DataFrame, pa.Table, Sequence[dict]]


class DyntagError(Exception):
    """A statement or call the server refused or failed, with the server's message."""


def connect(
    url: str,
    token: str,
    *,
    user: Optional[str] = None,
    http_url: Optional[str] = None,
    dataset: Optional[str] = None,
) -> "Connection":
    """Connects to the Flight SQL endpoint at `url` (`grpc://host:50051`, `grpc+tls://…`).

    `token` is the token `dyntag serve` printed or a user's API token; with `user`, it is sent
    as that user's password (a sign-in), else as a bearer token. `http_url` (the server's HTTP
    endpoint) is needed only for thumbnails (`show`, `thumbnail`). `dataset` is `USE`d at once.
    """
    return Connection(url, token, user=user, http_url=http_url, dataset=dataset)


def _quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def _ident(name: str) -> str:
    """A SQL identifier, quoted."""
    return '"' + str(name).replace('"', '""') + '"'


def _slug(group: str) -> str:
    """The table-name form of a group name (as the server makes it: lower case, `_`)."""
    return re.sub(r"\s+", "_", group.strip().lower())


def _server_message(e: BaseException) -> str:
    """The server's own words out of the driver's wrapping."""
    text = str(e)
    found = re.search(r"\[FlightSQL\] (.*?)(?: \(\w+; [^)]*\))?$", text, re.DOTALL)
    return found.group(1).strip() if found else text


@dataclass
class Evaluation:
    """The Tag Evaluator's answer for one tag: F1, F0.5, precision, recall and accuracy over
    thresholds 0.00–1.00 with their 95% intervals, the recommended threshold (best F1), and a
    figure of them (when matplotlib is installed)."""

    metrics: pd.DataFrame
    recommended: Optional[float]
    figure: Any = None

    def _repr_html_(self) -> str:
        head = f"<p>recommended threshold: <b>{self.recommended}</b></p>"
        return head + self.metrics.to_html(max_rows=12)


class Gallery:
    """Thumbnails with captions, shown as HTML in Jupyter (and as text elsewhere)."""

    def __init__(self, html_text: str, count: int):
        self.html = html_text
        self.count = count

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<Gallery of {self.count} item(s)>"


class Connection:
    """One Flight SQL connection (one server session: `USE` and `SET` last as long as it)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        user: Optional[str] = None,
        http_url: Optional[str] = None,
        dataset: Optional[str] = None,
    ):
        if user is not None:
            kwargs = {"username": user, "password": token}
        else:
            kwargs = {DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}"}
        try:
            self._conn = flight_sql.connect(url, db_kwargs=kwargs, autocommit=True)
        except Exception as e:  # noqa: BLE001 - the driver's error types vary
            raise DyntagError(f"cannot connect to {url}: {_server_message(e)}") from e
        self._token = token
        self._user = user
        self._http = http_url.rstrip("/") if http_url else None
        self._session_token: Optional[str] = None
        self.dataset: Optional[str] = None
        if dataset is not None:
            self.use(dataset)

    # --- SQL ---------------------------------------------------------------------------

    def sql(self, query: str, params: Optional[Sequence[Any]] = None) -> pa.Table:
        """Runs one statement (SQL or a tag statement); its answer as an Arrow table.
        `params` fill `$1`, `$2`, … (or `?`)."""
        cur = self._conn.cursor()
        try:
            cur.execute(query, parameters=params)
            return cur.fetch_arrow_table()
        except Exception as e:  # noqa: BLE001 - the driver's error types vary
            raise DyntagError(_server_message(e)) from e
        finally:
            cur.close()

    def df(self, query: str, params: Optional[Sequence[Any]] = None) -> pd.DataFrame:
        """Like `sql`, as a pandas DataFrame."""
        return self.sql(query, params).to_pandas()

    def pl(self, query: str, params: Optional[Sequence[Any]] = None) -> Any:
        """Like `sql`, as a Polars DataFrame (`pip install polars`)."""
        import polars  # noqa: PLC0415 - optional

        return polars.from_arrow(self.sql(query, params))

    def use(self, dataset: str) -> None:
        """Makes `dataset` the connection's current dataset."""
        self.sql(f"USE {_ident(dataset)}")
        self.dataset = dataset

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- the catalog --------------------------------------------------------------------

    def datasets(self) -> pd.DataFrame:
        """The datasets this login sees, with their size, models and the login's role."""
        return self.df("SELECT * FROM system.datasets ORDER BY dataset")

    def tags(self, dataset: Optional[str] = None) -> pd.DataFrame:
        """The tags of the groups trained on or applied to `dataset` (default: the current
        dataset), with status, threshold and prompt counts."""
        if dataset is None:
            dataset = self.dataset or self._current_dataset()
        d = _quote(dataset)
        return self.df(
            "SELECT t.* FROM system.tags t WHERE t.group_slug IN ("
            f"SELECT group_slug FROM system.tag_groups WHERE training_dataset = {d} "
            f"UNION SELECT group_slug FROM system.applications WHERE dataset = {d}) "
            "ORDER BY t.group_slug, t.tag_name"
        )

    def _current_dataset(self) -> str:
        rows = self.sql(
            "SELECT value FROM information_schema.df_settings "
            "WHERE name = 'datafusion.catalog.default_schema'"
        ).to_pylist()
        if not rows:
            raise DyntagError("the connection has no current dataset: call use(dataset)")
        return rows[0]["value"]

    # --- scores, search, previews ---------------------------------------------------------

    def scores(self, group: str, modality: str = "visual", version: Optional[int] = None) -> pd.DataFrame:
        """The `dt_<group>_<modality>` table (`visual`, `transcript`, `shot` or `video`) of the
        current dataset: one row per item and tag with `score` and `threshold_decision`; with
        `version`, that published version's scores (`dt_version`)."""
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {', '.join(MODALITIES)}, not {modality!r}")
        if version is None:
            return self.df(f"SELECT * FROM {_ident('dt_' + _slug(group) + '_' + modality)}")
        return self.df(f"SELECT * FROM dt_version({_quote(group)}, {_quote(modality)}, {int(version)})")

    def search(self, text: str, k: int = 20, modality: str = "visual", exact: bool = False) -> pd.DataFrame:
        """The `k` items nearest `text` (`visual` items or `transcript` segments), through
        the search index (`exact=True` scans every row)."""
        method = "exact" if exact else "index"
        return self.df(
            f"SELECT * FROM semantic_search({_quote(text)}, {int(k)}, {_quote(modality)}, {_quote(method)})"
        )

    def similar(self, item_id: str, k: int = 20, modality: str = "visual", exact: bool = False) -> pd.DataFrame:
        """Find similar: the `k` items nearest the item `item_id`, itself left out."""
        method = "exact" if exact else "index"
        return self.df(
            f"SELECT * FROM similar_items({_quote(item_id)}, {int(k)}, {_quote(modality)}, {_quote(method)})"
        )

    def preview(
        self,
        group: str,
        tag: str,
        *,
        modality: str = "visual",
        mode: Optional[str] = None,
        threshold: Optional[float] = None,
        limit: Optional[int] = None,
        published: bool = False,
    ) -> pd.DataFrame:
        """A preview of a tag on its training dataset, as `PREVIEW TAG` gives it: `mode` is
        `compare`, `positives`, `negatives`, `stratified` or `top`."""
        sql = f"PREVIEW TAG {_quote(tag)} IN GROUP {_ident(group)} FOR {modality.upper()}"
        if published:
            sql += " PUBLISHED"
        if mode:
            sql += f" MODE {mode.upper()}"
        if threshold is not None:
            sql += f" THRESHOLD {float(threshold)}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.df(sql)

    # --- the Tag Evaluator ----------------------------------------------------------------

    def sample(self, group: str, tag: str, n: int = 400) -> pd.DataFrame:
        """Draws the Tag Evaluator's sample of a published tag: about `n` items stratified
        over the score range, each weighted by the inverse of its chance of being drawn."""
        return self.df(f"EVALUATE TAG {_quote(tag)} IN GROUP {_ident(group)} SAMPLE {int(n)}")

    def label(self, group: str, tag: str, labels: Union[str, "os.PathLike[str]", pd.DataFrame]) -> str:
        """Ground truth for the sample from a labels file of this machine (CSV or Parquet of
        `coactive_image_id`/`asset_id`/`path`, `tag`, `label`) or a DataFrame of those
        columns, sent to the server with the request. The server's answer."""
        if isinstance(labels, pd.DataFrame):
            body, kind, name = labels.to_csv(index=False).encode(), "text/csv", "labels.csv"
        else:
            path = os.fspath(labels)
            with open(path, "rb") as f:
                body = f.read()
            name = os.path.basename(path)
            kind = "application/vnd.apache.parquet" if body[:4] == b"PAR1" else "text/csv"
        route = (
            f"/api/groups/{urllib.parse.quote(group, safe='')}/tags/{urllib.parse.quote(tag, safe='')}"
            f"/evaluation/labels?name={urllib.parse.quote(name)}"
        )
        return self._http_call("POST", route, body, kind)["message"]

    def evaluate(self, group: str, tag: str, *, plot: bool = True) -> Evaluation:
        """The metrics of a tag's evaluation (`dt_metrics`): a table over thresholds, the
        recommended threshold, and (with matplotlib) a figure of F1, precision and recall
        with their 95% intervals, the recommendation marked."""
        metrics = self.df(f"SELECT * FROM dt_metrics({_quote(group)}, {_quote(tag)}) ORDER BY threshold")
        best = metrics.loc[metrics["recommended"], "threshold"]
        recommended = float(best.iloc[0]) if len(best) else None
        figure = _figure(metrics, recommended, f"{group} / {tag}") if plot else None
        return Evaluation(metrics=metrics, recommended=recommended, figure=figure)

    # --- thumbnails -----------------------------------------------------------------------

    def thumbnail(self, image_id: str, dataset: Optional[str] = None) -> bytes:
        """The JPEG thumbnail of an image or keyframe (the server checks the login sees it)."""
        dataset = dataset or self.dataset or self._current_dataset()
        route = (
            f"/api/datasets/{urllib.parse.quote(dataset, safe='')}"
            f"/thumbnails/{urllib.parse.quote(str(image_id), safe='')}"
        )
        try:
            return self._http_call("GET", route, raw=True)
        except DyntagError as e:
            raise DyntagError(f"thumbnail of {image_id}: {e}") from e

    def _http_call(
        self,
        method: str,
        route: str,
        body: Optional[bytes] = None,
        content_type: Optional[str] = None,
        raw: bool = False,
    ) -> Any:
        """An HTTP API call: its JSON answer (or bytes), or the server's error as DyntagError."""
        if self._http is None:
            raise DyntagError("this needs the HTTP API: connect(..., http_url='http://host:8080')")
        headers = {"Authorization": f"Bearer {self._bearer()}"}
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(f"{self._http}{route}", data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=300) as r:
                data = r.read()
        except urllib.error.HTTPError as e:
            answer = e.read()
            try:
                message = json.loads(answer)["error"]
            except (ValueError, KeyError):
                message = answer[:200].decode(errors="replace")
            raise DyntagError(message) from e
        return data if raw else json.loads(data)

    def _bearer(self) -> str:
        if self._user is None:
            return self._token
        if self._session_token is None:
            body = json.dumps({"user": self._user, "password": self._token}).encode()
            req = urllib.request.Request(f"{self._http}/api/login", data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as r:
                self._session_token = json.loads(r.read())["token"]
        return self._session_token

    def show(
        self,
        items: Items,
        *,
        id_column: Optional[str] = None,
        caption: Iterable[str] = ("score",),
        size: int = 128,
        dataset: Optional[str] = None,
    ) -> Gallery:
        """Thumbnails of `items` (a DataFrame, Arrow table or list of dicts with an image id:
        `coactive_image_id` or `item_id`) with captions, inline in Jupyter. Items without a
        thumbnail (transcript segments) are shown by their text."""
        rows = _rows(items)
        if not rows:
            return Gallery("<p>(no items)</p>", 0)
        column = id_column or next((c for c in ("coactive_image_id", "item_id") if c in rows[0]), None)
        if column is None:
            raise ValueError("the items have no coactive_image_id or item_id column: pass id_column=")
        cells = []
        for row in rows:
            image_id = str(row[column])
            words = [html.escape(image_id)]
            for c in caption:
                if c in row and row[c] is not None:
                    v = row[c]
                    words.append(html.escape(f"{c} {v:.3f}" if isinstance(v, float) else f"{c} {v}"))
            try:
                data = base64.b64encode(self.thumbnail(image_id, dataset)).decode()
                picture = f'<img src="data:image/jpeg;base64,{data}" style="max-width:{size}px;max-height:{size}px">'
            except DyntagError:
                text = row.get("detail") or image_id
                picture = f'<div style="width:{size}px;font-size:11px">{html.escape(str(text))[:200]}</div>'
            cells.append(
                f'<figure style="display:inline-block;margin:4px;text-align:center;vertical-align:top">'
                f'{picture}<figcaption style="font-size:11px">{"<br>".join(words)}</figcaption></figure>'
            )
        return Gallery("<div>" + "".join(cells) + "</div>", len(rows))


def _rows(items: Items) -> list:
    if isinstance(items, pd.DataFrame):
        return items.to_dict("records")
    if isinstance(items, pa.Table):
        return items.to_pylist()
    return [dict(r) for r in items]


def _figure(metrics: pd.DataFrame, recommended: Optional[float], title: str) -> Any:
    try:
        import matplotlib.pyplot as plt  # noqa: PLC0415 - optional
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    t = metrics["threshold"]
    for name in ("f1", "precision", "recall"):
        if name not in metrics:
            continue
        ax.plot(t, metrics[name], label=name)
        low, high = f"{name}_low", f"{name}_high"
        if low in metrics and high in metrics:
            ax.fill_between(t, metrics[low], metrics[high], alpha=0.15)
    if recommended is not None:
        ax.axvline(recommended, color="black", linestyle="--", linewidth=1, label=f"recommended {recommended:.2f}")
    ax.set_xlabel("threshold")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(loc="lower left")
    plt.close(fig)
    return fig
