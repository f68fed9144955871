"""Shared fixtures: where the real benchmark data lives (../shared/data, never copied here)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FIREASSAY_TEST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"benchmark data not found at {SHARED_DATA}; set FIREASSAY_TEST_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def view_stores(tmp_path_factory, shared_data):
    """Real run stores (model runs, MBPP+ and SWE verifies) shared by the `fireassay view` tests."""
    try:
        from tests.view_stores import make_view_stores
    except ImportError:
        from view_stores import make_view_stores
    return make_view_stores(tmp_path_factory.mktemp("view-stores"), shared_data)
