"""The server the tests talk to: `dyntag serve` over the demo dataset, started by the Rust
test `python_client_and_notebook` (tests/it/clients.rs), which passes its addresses."""

import os

import pytest

import dyntag


@pytest.fixture(scope="session")
def server():
    try:
        return os.environ["DYNTAG_FLIGHT_URL"], os.environ["DYNTAG_HTTP_URL"], os.environ["DYNTAG_TOKEN"]
    except KeyError:
        pytest.exit("set DYNTAG_FLIGHT_URL, DYNTAG_HTTP_URL and DYNTAG_TOKEN (a running dyntag serve)", 2)


@pytest.fixture()
def db(server):
    flight, http, token = server
    with dyntag.connect(flight, token, http_url=http) as conn:
        yield conn
