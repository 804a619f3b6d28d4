"""The lifecycle HTTP API end to end, as five users would drive it: roles, reviews, labels,
publishing secret then shareable, applying to another dataset, updating, versions, background
scoring, conflicts — and every refused transition. The server holds two datasets, `news` and
`archive` (the Rust harness sets them up).
"""

import json
import re
import time

from common import args, check, http

_, HTTP, ADMIN = args()


def call(method, path, token, body=None):
    status, _, raw = http(method, f"{HTTP}{path}", token, body)
    try:
        data = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        data = raw.decode(errors="replace")
    return status, data


def ok(method, path, token, body=None, expect=(200, 201, 202)):
    status, data = call(method, path, token, body)
    if status not in expect:
        raise AssertionError(f"{method} {path}: {status} {data}")
    return data


def refused(method, path, token, body, status, code, needle, what):
    got, data = call(method, path, token, body)
    text = json.dumps(data)
    if got != status or data.get("code") != code or needle.lower() not in text.lower():
        raise AssertionError(f"{what}: expected {status} {code} '{needle}', got {got} {text}")
    print(f"ok  {what} -> {got} {data['error'][:140]}", flush=True)
    return data


def rows(data):
    return data["rows"]


def wait_scored(token, dataset, group, version, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        for g in rows(ok("GET", f"/api/datasets/{dataset}/groups", token)):
            if g["table_prefix"] == f"dt_{group}" and g.get("scoring_status") == "scored" \
                    and g.get("applied_version") == version:
                return g
        time.sleep(0.2)
    raise AssertionError(f"{group} v{version} was not scored on {dataset} in {seconds}s")


# --- users and roles -------------------------------------------------------------------
tokens = {}
for name in ["ann", "bob", "cat", "dan", "eve"]:
    r = ok("POST", "/api/users", ADMIN, {"name": name}, expect=(201,))
    tokens[name] = rows(r)[0]["token"]
check(len(set(tokens.values())) == 5, "each user gets their own token")
refused("POST", "/api/users", ADMIN, {"name": "ann"}, 409, "already_exists", "user 'ann' already exists",
        "a user name is taken once")
ok("PUT", "/api/datasets/news/roles/ann", ADMIN, {"role": "editor"})
ok("PUT", "/api/datasets/news/roles/bob", ADMIN, {"role": "viewer"})
ok("PUT", "/api/datasets/archive/roles/eve", ADMIN, {"role": "admin"})
ok("PUT", "/api/datasets/archive/roles/cat", tokens["eve"], {"role": "editor"})
ann, bob, cat, dan, eve = (tokens[n] for n in ["ann", "bob", "cat", "dan", "eve"])
me = ok("GET", "/api/me", ann)
check(me["user"] == "ann" and me["roles"] == {"news": "editor"} and not me["org_admin"], "ann is an editor of news only")
refused("PUT", "/api/datasets/news/roles/dan", ann, {"role": "viewer"}, 403, "permission_denied",
        "GRANT (an admin statement) needs the admin role on dataset 'news'", "an editor cannot change roles")
refused("POST", "/api/users", eve, {"name": "fay"}, 403, "permission_denied", "organisation admin",
        "only organisation admins create users")
refused("GET", "/api/me", "not-a-token", None, 401, "unauthenticated", "invalid", "a bad token is refused")

# Basic login with the user's token as the password gives a session token acting as them
status, _, raw = http("POST", f"{HTTP}/api/login", None, {"user": "ann", "password": ann})
check(status == 200 and json.loads(raw)["user"] == "ann", "a user signs in with name and token")
session = json.loads(raw)["token"]
check(ok("GET", "/api/me", session)["user"] == "ann", "the session token acts as the user")

# --- create, review, label, publish ----------------------------------------------------
r = ok("POST", "/api/datasets/news/groups", ann, {"name": "Topics", "tags": "football\ncooking"}, expect=(201,))
check("needing review" in r["message"], "a group is created from a bulk list, one tag per line")
check(r["group"] == "topics" and r["dataset"] == "news" and r["tags"] == 2,
      f"the answer carries typed fields: {r}")
group = ok("GET", "/api/groups/topics", ann)
check([t["status"] for t in group["tags"]] == ["needs_review", "needs_review"], "new tags need review")
refused("POST", "/api/groups/topics/publish", ann, {}, 409, "failed_precondition",
        "still need review (open their preview first): football, cooking", "publishing waits for every review")
refused("POST", "/api/datasets/news/groups", ann, {"name": "Bad", "tags": ["test_v1"]}, 400,
        "invalid_argument", "letters, digits and spaces", "tag names follow the product's rules")
refused("POST", "/api/datasets/news/groups", bob, {"name": "Mine", "tags": ["x"]}, 403,
        "permission_denied", "needs the editor role on dataset 'news' (you are a viewer there)",
        "a viewer cannot create groups")

preview = rows(ok("GET", "/api/groups/topics/tags/football/preview?mode=compare&limit=6", bob))
check(len(preview) == 6 and {p["threshold_decision"] for p in preview} == {True, False},
      "a viewer previews: positives and negatives at the threshold")
check(ok("GET", "/api/groups/topics", ann)["tags"][0]["status"] == "needs_review",
      "a viewer's preview does not review the tag")
for tag in ["football", "cooking"]:
    ok("GET", f"/api/groups/topics/tags/{tag}/preview", ann)
group = ok("GET", "/api/groups/topics", ann)
check([t["status"] for t in group["tags"]] == ["draft", "draft"], "opening the preview moves a tag to draft")
refused("GET", "/api/groups/topics/tags/football/preview?mode=sideways", ann, None, 400, "invalid_argument",
        "unknown preview mode 'sideways'", "a bad preview mode is named")

refused("PATCH", "/api/groups/topics/tags/cooking", bob, {"threshold": 0.6}, 403, "permission_denied",
        "on tag group 'Topics' needs the editor role", "a viewer cannot edit a tag")
ok("POST", "/api/groups/topics/tags/football/labels", ann, {"asset_ids": ["kf_foot_1", "kf_foot_2"], "positive": True})
ok("POST", "/api/groups/topics/tags/football/labels", ann, {"asset_ids": ["kf_cook_1"], "positive": False})
refused("POST", "/api/groups/topics/tags/football/labels", ann, {"asset_ids": ["kf_nope"]}, 404, "not_found",
        "image or keyframe 'kf_nope' not found in dataset 'news'", "labels name images of the training dataset")
labels = rows(ok("GET", "/api/groups/topics/tags/football/labels", ann))
check(sorted((l["coactive_image_id"], l["label"]) for l in labels)
      == [("kf_cook_1", "negative"), ("kf_foot_1", "positive"), ("kf_foot_2", "positive")], "labels are listed")
ok("DELETE", "/api/groups/topics/tags/football/labels", ann, {"asset_ids": ["kf_foot_2"]})

status, data = call("POST", "/api/groups/topics/publish", ann, {"visibility": "secret"})
check(status == 202 and "queued" in data["message"], "publishing answers at once and queues scoring")
check(data["version"] == 1 and data["new_version"] is True
      and data["job"] == {"group": "topics", "dataset": "news", "status": "queued"},
      f"publishing answers the version and the job as fields: {data}")
wait_scored(ann, "news", "topics", 1)
check(all(t["status"] == "published" for t in ok("GET", "/api/groups/topics", ann)["tags"]), "tags are published")
q = ok("POST", "/api/sql", bob, {"sql": "SELECT count(*) AS n FROM dt_topics_visual", "dataset": "news"})
check(q["rows"][0]["n"] == 27 * 2, "a viewer queries the scored table")

# Labels from a semantic search and from uncertain assets
hits = rows(ok("GET", "/api/datasets/news/search?q=a+chef+making+pasta&k=3", bob))
check(len(hits) == 3 and hits[0]["item_id"].startswith("kf_cook") and hits[0]["score"] >= hits[1]["score"],
      f"semantic search finds cooking keyframes first ({[h['item_id'] for h in hits]})")
picked = [h["item_id"] for h in hits if h["item_id"].startswith("kf_cook")]
ok("POST", "/api/groups/topics/tags/cooking/labels", ann, {"asset_ids": picked, "positive": True})
unc = rows(ok("GET", "/api/groups/topics/tags/cooking/uncertain?k=4", ann))
check(len(unc) == 4 and not set(u["item_id"] for u in unc) & set(picked),
      "uncertain assets: 4 items, none already labelled")
refused("GET", "/api/datasets/news/search?q=x", bob, None, 400, "invalid_argument", "at least 2 characters",
        "a one-letter search is refused")

# --- secret groups are invisible elsewhere -----------------------------------------------
nothing = refused("POST", "/api/datasets/archive/applications", cat, {"group": "nothing"}, 404, "not_found",
                  "tag group 'nothing' not found", "an unknown group is not found")
secret = refused("POST", "/api/datasets/archive/applications", cat, {"group": "topics"}, 404, "not_found",
                 "tag group 'topics' not found", "a secret group of another dataset is not found either")
check(secret["error"].replace("topics", "X") == nothing["error"].replace("nothing", "X"),
      "the two answers are the same words")
refused("POST", "/api/datasets/archive/applications", ADMIN, {"group": "topics"}, 409, "failed_precondition",
        "is secret: only its training dataset may use it", "a secret group cannot be applied elsewhere")

# --- shareable: applied to archive, which cannot edit it ---------------------------------
ok("POST", "/api/groups/topics/publish", ann, {"visibility": "shareable"})
wait_scored(ann, "news", "topics", 2)
found = rows(ok("GET", "/api/groups?shareable=true&like=top%25", cat))
check([g["group_name"] for g in found] == ["Topics"], "archive's editor finds the shareable group by name")
status, data = call("POST", "/api/datasets/archive/applications", cat, {"group": "topics"})
check(status == 202 and data["version"] == 2 and data["job"]["dataset"] == "archive",
      f"archive applies it ({status} {data})")
g = wait_scored(cat, "archive", "topics", 2)
check(g["is_training_dataset"] is False and g["update_available"] is False, "manage groups on archive")
refused("PATCH", "/api/groups/topics/tags/football", cat, {"threshold": 0.9}, 403, "permission_denied",
        "edited only on its training dataset", "a dataset that applies a group cannot edit it")
refused("POST", "/api/groups/topics/publish", cat, {}, 403, "permission_denied",
        "edited only on its training dataset", "nor publish it")

# --- version 3; archive sees the update, updates, older versions stay readable -----------
ok("POST", "/api/groups/topics/tags/football/prompts", ann,
   {"text": "a goalkeeper in front of the net", "modality": "visual"})
check(ok("GET", "/api/groups/topics", ann)["status"] == "unpublished_changes", "a prompt change is an unpublished change")
ok("POST", "/api/groups/topics/publish", ann, {})
wait_scored(ann, "news", "topics", 3)
g = [x for x in rows(ok("GET", "/api/datasets/archive/groups", cat)) if x["table_prefix"] == "dt_topics"][0]
check(g["latest_version"] == 3 and g["applied_version"] == 2 and g["update_available"], "archive sees an update")
ok("POST", "/api/datasets/archive/applications/topics/update", cat)
wait_scored(cat, "archive", "topics", 3)
q = ok("POST", "/api/sql", cat, {"sql": "SELECT DISTINCT group_version AS v FROM dt_version('topics', 'visual', 2)",
                                 "dataset": "archive"})
check(q["rows"] == [{"v": 2}], "version 2 stays readable on archive")
check([v["version"] for v in rows(ok("GET", "/api/groups/topics/versions", ann))] == [1, 2, 3], "three versions")
access = rows(ok("GET", "/api/groups/topics/access", ADMIN))
check(sorted(a["dataset"] for a in access) == ["archive", "news"], "dataset access lists both datasets")
check([a["dataset"] for a in rows(ok("GET", "/api/groups/topics/access", ann))] == ["news"],
      "ann sees only the datasets she has access to")
refused("POST", "/api/groups/topics/publish", ann, {"visibility": "secret"}, 409, "failed_precondition",
        "1 other dataset(s) apply it", "a group applied elsewhere cannot turn secret")

# --- optimistic concurrency: a pinned revision that moved is a conflict naming the current one
rev = ok("GET", "/api/groups/topics", ann)["revision"]
r = ok("PATCH", "/api/groups/topics/tags/cooking", ann, {"threshold": 0.6, "expected_revision": rev})
check(r["revision"] == rev + 1 and r["group"] == "topics", f"an edit answers its revision: {r}")
refused("PATCH", "/api/groups/topics/tags/cooking", ann, {"threshold": 0.7, "expected_revision": rev}, 409,
        "conflict", f"now at revision {rev + 1}", "a stale revision is a conflict naming the current one")
check(ok("GET", "/api/groups/topics", ann)["status"] == "published", "a threshold change keeps the group published")

sugg = rows(ok("GET", "/api/groups/topics/tags/football/suggestions?modality=visual", bob))
check(any(x["prompt"] == "a photo of football" and x["source"] == "template" for x in sugg),
      "offline visual prompt suggestions")

# --- the Tag Evaluator over the API ------------------------------------------------------
refused("POST", "/api/groups/topics/tags/football/evaluation", bob, {}, 403, "permission_denied",
        "EVALUATE TAG (a tag edit statement) on tag group 'Topics' needs the editor role",
        "a viewer cannot start an evaluation")
sample = rows(ok("POST", "/api/groups/topics/tags/football/evaluation", ann, {"sample": 400}))
check(len(sample) == 27 and all(s["weight"] == 1.0 for s in sample), "the sample holds all 27 keyframes, each weighing 1")
truth = [{"asset_id": s["coactive_image_id"], "label": s["coactive_image_id"].startswith("kf_foot")} for s in sample]
r = ok("POST", "/api/groups/topics/tags/football/evaluation/labels", ann, {"labels": truth})
check("27 sampled items have labels" in r["message"], "a user's labels are the ground truth")
refused("POST", "/api/groups/topics/tags/football/evaluation/labels", ann,
        {"labels": [{"asset_id": "nope", "label": True}]}, 404, "not_found", "evaluation item 'nope' not found",
        "labels name sampled items")
ok("DELETE", "/api/groups/topics/tags/football/evaluation/items", ann, {"asset_ids": ["kf_wild_4"]})
m = rows(ok("GET", "/api/groups/topics/tags/football/metrics", bob))
best = [x for x in m if x["recommended"]]
check(len(m) == 101 and len(best) == 1 and best[0]["f1_low"] <= best[0]["f1"] <= best[0]["f1_high"],
      f"metrics over 101 thresholds with intervals; recommended {best[0]['threshold']} (F1 {best[0]['f1']:.3f})")
r = ok("POST", "/api/groups/topics/tags/football/threshold", ann, {"metric": "f1"})
check(f"saved threshold {best[0]['threshold']}" in r["message"], "the recommended threshold is saved")
r = ok("POST", "/api/groups/topics/tags/football/target", ann, {"metric": "recall", "at_least": 0.5, "confidence": 0.9})
check("recall >= 0.5 with confidence 0.9" in r["message"], "a recall target with a confidence sets the threshold")
refused("POST", "/api/groups/topics/tags/football/target", ann, {"metric": "auc", "at_least": 0.5}, 400,
        "invalid_argument", "unknown target metric 'auc'", "an unknown target metric is named")

# --- a user with no access learns nothing of a secret group ------------------------------
ok("POST", "/api/datasets/news/groups", ann, {"name": "Private", "tags": ["wildlife"]})
ok("GET", "/api/groups/private/tags/wildlife/preview", ann)
ok("POST", "/api/groups/private/publish", ann, {})
wait_scored(ann, "news", "private", 1)
check(ok("GET", "/api/datasets", dan)["rows"] == [], "dan sees no dataset")
check([g["group_name"] for g in rows(ok("GET", "/api/groups", dan))] == ["Topics"],
      "dan sees only the shareable group")
for path in ["/api/groups/{}", "/api/groups/{}/tags", "/api/groups/{}/versions", "/api/groups/{}/access",
             "/api/groups/{}/tags/wildlife/labels", "/api/groups/{}/tags/wildlife/preview"]:
    a = call("GET", path.format("private"), dan)
    b = call("GET", path.format("nosuchgroup"), dan)
    same = a[0] == b[0] == 404 and a[1]["error"].replace("private", "X") == b[1]["error"].replace("nosuchgroup", "X")
    check(same, f"GET {path}: a secret group answers as one that does not exist ({a[0]})")
for sql in ["SELECT group_slug FROM system.tag_groups", "SELECT group_slug FROM system.versions",
            "SELECT group_slug FROM system.applications", "SELECT group_slug FROM system.tags",
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%private%'",
            "SHOW TAG GROUPS", "SHOW SCORING JOBS"]:
    status, data = call("POST", "/api/sql", dan, {"sql": sql})
    check(status == 200 and "private" not in json.dumps(data).lower(),
          f"dan's '{sql}' answers without mentioning it ({status})")
status, data = call("POST", "/api/sql", dan, {"sql": "SELECT dt_score(embed_text('x'), 'private', 'wildlife')"})
check(status in (400, 404) and "private" in data["error"] and "not found" in data["error"],
      f"dt_score: not found ({status} {data['error']})")
check("private" not in json.dumps(ok("GET", "/api/scoring-jobs", dan)).lower(), "scoring jobs do not mention it")

# --- removing, dropping ----------------------------------------------------------------
ok("DELETE", "/api/datasets/archive/applications/topics", cat)
check(all(g["table_prefix"] != "dt_topics" for g in rows(ok("GET", "/api/datasets/archive/groups", cat))),
      "archive no longer applies the group")
ok("DELETE", "/api/users/dan", ADMIN)
refused("GET", "/api/me", dan, None, 401, "unauthenticated", "invalid", "a dropped user's token no longer works")

# --- the OpenAPI document lists every lifecycle route ----------------------------------
spec = ok("GET", "/api/openapi.json", ADMIN)
for p in ["/api/datasets/{dataset}/groups", "/api/groups/{group}/publish", "/api/groups/{group}/tags/{tag}/labels",
          "/api/datasets/{dataset}/applications", "/api/scoring-jobs", "/api/users"]:
    check(p in spec["paths"], f"OpenAPI has {p}")
check(re.search(r"SQL equivalent", json.dumps(spec)) is not None, "each route names its SQL equivalent")
print("lifecycle: all checks passed")
