"""The Python client against a real dyntag server over the demo dataset."""

import os

import pandas as pd
import pyarrow as pa
import pytest

import dyntag


def test_sql_answers_arrow_pandas_and_parameters(db):
    t = db.sql("SELECT tag_name, count(*) AS n FROM dt_subjects_visual GROUP BY 1 ORDER BY 1")
    assert isinstance(t, pa.Table) and t.num_rows == 15
    assert t.schema.field("tag_name").type == pa.string()
    df = db.df("SELECT count(*) AS n FROM dt_subjects_visual WHERE tag_name = $1", ["birds"])
    assert isinstance(df, pd.DataFrame) and df["n"][0] > 0
    polars = db.pl("SELECT tag_name, score FROM dt_subjects_video ORDER BY score DESC LIMIT 5")
    assert type(polars).__module__.startswith("polars") and polars.height == 5


def test_errors_carry_the_servers_words(db):
    with pytest.raises(dyntag.DyntagError, match="dt_nothing_visual"):
        db.sql("SELECT * FROM dt_nothing_visual")
    with pytest.raises(dyntag.DyntagError, match="permission denied: COPY"):
        db.sql("COPY (SELECT 1) TO '/tmp/x.csv' STORED AS CSV")


def test_catalog_helpers(db):
    datasets = db.datasets()
    assert "demo" in set(datasets["dataset"])
    tags = db.tags("demo")
    assert {"birds", "clocks"} <= set(tags["tag_name"]) and set(tags["group_slug"]) == {"subjects"}
    db.use("demo")
    assert db.dataset == "demo" and len(db.tags()) == len(tags)


def test_scores_by_modality_and_version(db):
    video = db.scores("subjects", "video")
    assert {"coactive_video_id", "tag_name", "score", "threshold_decision"} <= set(video.columns)
    v1 = db.scores("Subjects", "visual", version=1)
    assert len(v1) == len(db.scores("subjects")) and set(v1["group_version"]) == {1}
    with pytest.raises(ValueError, match="modality"):
        db.scores("subjects", "audio")


def test_search_preview_and_thumbnails(db):
    found = db.search("a bird on a branch", k=5)
    assert len(found) == 5 and found["score"].is_monotonic_decreasing
    exact = db.search("a bird on a branch", k=5, exact=True)
    assert list(exact["item_id"][:3]) == list(found["item_id"][:3]), "the index finds the exact top 3"
    first = found["item_id"][0]
    similar = db.similar(first, k=4)
    assert len(similar) == 4 and first not in set(similar["item_id"])
    assert similar["score"].is_monotonic_decreasing
    preview = db.preview("subjects", "birds", mode="positives", limit=4)
    assert 0 < len(preview) <= 4 and preview["threshold_decision"].all()
    jpeg = db.thumbnail(preview["item_id"][0], "demo")
    assert jpeg[:2] == b"\xff\xd8", "a JPEG"
    gallery = db.show(preview, dataset="demo")
    html = gallery._repr_html_()
    assert gallery.count == len(preview) and html.count("data:image/jpeg;base64,") == len(preview)
    with pytest.raises(dyntag.DyntagError, match="no thumbnail of image 'no_such_image'"):
        db.thumbnail("no_such_image", "demo")


def test_evaluate_gives_metrics_a_recommendation_and_a_figure(db):
    sample = db.sample("subjects", "birds", 120)
    assert 0 < len(sample) <= 120 and {"coactive_image_id", "score", "weight"} <= set(sample.columns)
    labels = os.path.join(os.environ["DYNTAG_REPO"], "sample-data/truth/labels.csv")
    assert "labelled" in db.label("subjects", "birds", labels)
    with pytest.raises(dyntag.DyntagError, match="label 'perhaps'"):
        db.label("subjects", "birds", pd.DataFrame({"path": ["x.jpg"], "tag": ["birds"], "label": ["perhaps"]}))
    ev = db.evaluate("subjects", "birds")
    assert {"threshold", "f1", "precision", "recall", "recommended"} <= set(ev.metrics.columns)
    assert ev.recommended is not None and 0.0 <= ev.recommended <= 1.0
    assert ev.figure is not None and ev.figure.axes[0].get_xlabel() == "threshold"
    assert "recommended threshold" in ev._repr_html_()


def test_a_user_signs_in_with_name_and_token(server):
    flight, http, token = server
    with dyntag.connect(flight, token, user="admin", http_url=http, dataset="demo") as conn:
        assert conn.sql("SELECT 1 AS one").to_pylist() == [{"one": 1}]
        assert conn.thumbnail(conn.search("clock", k=1)["item_id"][0])[:2] == b"\xff\xd8"
    with pytest.raises(dyntag.DyntagError, match="cannot connect|unauthenticated|wrong user"):
        dyntag.connect(flight, "wrong-token-0123456789", user="admin").sql("SELECT 1")
