"""Executes a notebook top to bottom (nbclient) against a running server; fails on the first
cell that raises. Usage: run_notebook.py NOTEBOOK [OUT]"""

import sys

import nbformat
from nbclient import NotebookClient

path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if "image/png" in o.get("data", {}) or "data:image/jpeg" in str(o.get("data", {}).get("text/html", "")))
if len(sys.argv) > 2:
    nbformat.write(nb, sys.argv[2])
print(f"notebook ran: {len(nb.cells)} cells, {images} with pictures")
