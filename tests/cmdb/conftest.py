"""A small plant CMDB: line-3 ← mes-screen-packing ← mes-core ← db-mes-prod, and friends."""

from __future__ import annotations

import pytest

from plant_cmdb import ITEMS, RELATIONS  # tests/cmdb/plant_cmdb.py


@pytest.fixture
def plant(runtime):
    """The runtime with the plant CMDB imported."""
    from changegate.services import cmdb_files

    with runtime.uow() as uow:
        cmdb_files.import_files(uow, runtime.context("chris.change"),
                                [("items.csv", ITEMS.encode()), ("relations.csv", RELATIONS.encode())])
    return runtime
