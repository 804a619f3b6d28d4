#!/usr/bin/env python3
"""Write sample-data/models/eval_sentences.txt: 1,000 varied English sentences.

Used to check that the int8 text model agrees with the float one. Half are real prose taken
from the docstrings of Python's standard library (varied technical English), half are
captions and spoken lines composed from a vocabulary of scenes, people, objects and actions
(the kind of text dyntag embeds as prompts and transcripts). Deterministic (seeded).
"""
import pkgutil
import importlib
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
rng = random.Random(7)

prose = set()
for mod in sorted(m.name for m in pkgutil.iter_modules() if not m.name.startswith("_")):
    try:
        m = importlib.import_module(mod)
    except Exception:
        continue
    for obj in [m] + [getattr(m, a, None) for a in dir(m)]:
        doc = getattr(obj, "__doc__", None)
        if not isinstance(doc, str):
            continue
        for s in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
            words = s.split()
            if 6 <= len(words) <= 30 and s[0].isupper() and s.endswith(".") and ">>>" not in s:
                prose.add(s)
prose = sorted(prose)
rng.shuffle(prose)

subjects = ["a goalkeeper", "two children", "an old fisherman", "the chef", "a black cat",
            "a crowd of fans", "the news anchor", "a red sports car", "a flock of birds",
            "the orchestra", "a young woman", "an astronaut", "the farmer", "a golden retriever",
            "the president", "a street musician", "a surfer", "the referee", "a baby", "a robot"]
actions = ["is running across", "is standing next to", "is cooking dinner in", "waves from",
           "is sleeping on", "jumps over", "is singing in", "is painting", "walks through",
           "is repairing a bicycle in", "is reading a book in", "dives into", "celebrates in"]
places = ["a busy market", "the stadium", "a snowy forest", "the kitchen", "a sunny beach",
          "the city square", "an empty classroom", "the mountains", "a crowded train station",
          "a small garden", "the harbour at night", "a desert road", "the concert hall"]
spoken = ["I can't believe what just happened out there.", "Welcome back to the show, everyone.",
          "Let's take a closer look at the weather for tomorrow.", "Add a pinch of salt and stir.",
          "The score is still tied with ten minutes to go.", "Thank you all for coming tonight.",
          "This is the scariest thing I have ever seen.", "We will be right back after the break.",
          "Scientists say the comet will be visible next week.", "Please keep your seatbelts fastened."]
styles = ["A photo of {s} who {a} {p}.", "{S} {a} {p}.", "Close-up shot: {s} {a} {p}.",
          "In this scene, {s} {a} {p} while the camera pans.", "Cartoon drawing of {s} {a} {p}."]

composed = set()
while len(composed) < 430:
    s, a, p = rng.choice(subjects), rng.choice(actions), rng.choice(places)
    composed.add(rng.choice(styles).format(s=s, S=s[0].upper() + s[1:], a=a, p=p))
composed = sorted(composed) + spoken * 7
sentences = prose[:500] + composed[:500]
rng.shuffle(sentences)
out = ROOT / "sample-data/models/eval_sentences.txt"
out.write_text("\n".join(sentences[:1000]) + "\n")
print(f"wrote {out} ({len(sentences[:1000])} sentences)")
