import pytest


@pytest.fixture
def cmdb(make_connector):
    """A trusted source (rank 80)."""
    return make_connector("CMDB", trust_rank=80)


@pytest.fixture
def mdm(make_connector):
    """A less trusted source (rank 40)."""
    return make_connector("MDM", trust_rank=40)
