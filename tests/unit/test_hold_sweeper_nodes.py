"""Several Asterisk nodes (issue 17): a controller's hold sweeper judges only the holds of calls on
its own node, by the node's name in the channel's uniqueid (`<systemname>-<epoch>.<n>`), whole:
its AMI lists no other node's channels, so another node's hold would look gone and be released
while its call goes on."""

from __future__ import annotations

from dataclasses import replace

from controller.services.holds import HoldSweeper
from controller.settings import Settings
from db.billing import OpenHold

HOLDS = [
    OpenHold(1, "ast-1796511228.7", None),
    OpenHold(2, "ast-b-1796511229.2", "ast-b-1796511229.2"),
    OpenHold(3, "ast-a-1796511230.3", None),
    OpenHold(4, "1796511231.4", None),  # a node without a name (one node, or before it had one)
]


def sweeper(name: str) -> HoldSweeper:
    return HoldSweeper(None, None, settings=replace(Settings(), asterisk_system_name=name))  # type: ignore[arg-type]


def test_a_named_node_judges_its_own_holds_only():
    assert [h.id for h in sweeper("ast-b").own(HOLDS)] == [2]
    assert [h.id for h in sweeper("ast-a").own(HOLDS)] == [3]


def test_a_name_that_begins_another_nodes_name_takes_none_of_its_holds():
    # node `ast` is not node `ast-b` or `ast-a`
    assert [h.id for h in sweeper("ast").own(HOLDS)] == [1]


def test_one_node_without_a_name_judges_every_hold():
    assert [h.id for h in sweeper("").own(HOLDS)] == [1, 2, 3, 4]
