"""dyntag from Python: a connection to a dyntag server (Arrow Flight SQL through ADBC, plus the
HTTP API for thumbnails) with the helpers a notebook wants.

    import dyntag
    db = dyntag.connect("grpc://127.0.0.1:50051", token=TOKEN, http_url="http://127.0.0.1:8080")
    db.show(db.preview("subjects", "birds"))
"""

from .client import Connection, DyntagError, Evaluation, connect

__all__ = ["Connection", "DyntagError", "Evaluation", "connect"]
__version__ = "0.1.0"
