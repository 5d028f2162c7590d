"""Counts read as English: one face, two faces."""

from refldm_desktop.words import agree, counted


def test_singular_for_one_only():
    assert [counted(n, "face") for n in (0, 1, 2)] == ["0 faces", "1 face", "2 faces"]
    assert counted(1, "person", "people") == "1 person" and counted(3, "person", "people") == "3 people"
    assert (agree(1, "needs", "need"), agree(2, "needs", "need")) == ("needs", "need")
